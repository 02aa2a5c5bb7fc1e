"""Seat-swapped pairs: the unit of scheduling and of statistics.

Pair ``i`` of a run plays one opening twice, seats swapped, so the first-player advantage
cancels within the pair (the pentanomial statistics in ``ratings`` rely on this). Openings and
match seeds derive from (run seed, index) only, so a run's records are the same whichever
worker plays which game.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from games import load_game, sample_opening
from games.configs import option
from games.defaults import DEFAULT_OPENING_PLIES
from games.limits import check_match_options
from games.match import DEFAULT_MOVE_CAP, MatchJob, derive_seed
from games.records import MatchRecord

GAME_HELP = "OpenSpiel game, e.g. tic_tac_toe, connect_four(rows=5,columns=6), kuhn_poker"


@dataclass(frozen=True)
class MatchOptions:
    """What decides a run's games besides the players: the run seed, the openings and the
    move cap. Self-play, tournaments and gates hold one (flattened: their tables and flags say
    ``seed``, ``opening_plies``, ``move_cap``)."""

    seed: int = option(0, "run seed; every opening and match seed derives from it")
    opening_plies: int = option(
        DEFAULT_OPENING_PLIES,
        "random plies before play in board games, shared by both games of a pair",
    )
    move_cap: int = option(DEFAULT_MOVE_CAP, "a game longer than this is scored as a draw")

    def __post_init__(self) -> None:
        check_match_options(self.seed, self.opening_plies, self.move_cap)

    def pair_jobs(
        self, game: str, first: str, second: str, pairs, run_id: str, tag: str
    ) -> list[MatchJob]:
        """``pair_jobs`` with these options."""
        return pair_jobs(
            game, first, second, pairs, self.seed, run_id, self.opening_plies, self.move_cap, tag
        )


def pair_jobs(
    game: str,
    first: str,
    second: str,
    pairs: range | Iterable[int],
    run_seed: int,
    run_id: str = "run",
    opening_plies: int = DEFAULT_OPENING_PLIES,
    move_cap: int = DEFAULT_MOVE_CAP,
    tag: str = "",
) -> list[MatchJob]:
    """Jobs for the given pair indices of ``first`` vs ``second``; two jobs per pair.

    ``tag`` distinguishes pairings that share a run (e.g. ``"a-vs-b"`` in a round robin), and
    enters both the match id and the seed stream.
    """
    handle = load_game(game)
    salt = zlib.crc32(tag.encode())
    jobs = []
    for pair in pairs:
        opening = _pair_opening(handle, run_seed, salt, pair, opening_plies)
        for swapped in (False, True):
            seats = (second, first) if swapped else (first, second)
            index = 2 * pair + int(swapped)
            jobs.append(
                MatchJob(
                    match_id=f"{run_id}{'-' + tag if tag else ''}-{pair:06d}-{int(swapped)}",
                    game=game,
                    seats=seats,
                    opening=opening,
                    seed=derive_seed(run_seed, index, salt),
                    pair_index=pair,
                    swapped=swapped,
                    run_id=run_id,
                    move_cap=move_cap,
                )
            )
    return jobs


def _pair_opening(handle, run_seed: int, salt: int, pair: int, opening_plies: int):
    rng = np.random.default_rng([run_seed, salt, pair, 0x0BE])
    return sample_opening(handle, rng, max_plies=opening_plies)


def distinct_opening_pairs(
    game: str,
    wanted: int,
    run_seed: int,
    opening_plies: int = 2,
    tag: str = "",
    patience: int = 2000,
) -> list[int]:
    """Pair indices (in order) whose openings differ from every earlier one, at most ``wanted``.

    Two deterministic players (argmax LLMs) replay the same pair from the same opening, so a
    repeated opening adds no evidence: the distinct openings bound it. Indices are scanned in
    order (the same openings ``pair_jobs`` would use) until ``wanted`` are found or
    ``patience`` indices in a row bring nothing new (tic_tac_toe with 2 opening plies has 82).
    """
    handle = load_game(game)
    salt = zlib.crc32(tag.encode())
    seen: set[tuple[int, ...]] = set()
    out: list[int] = []
    pair = since_new = 0
    while len(out) < wanted and since_new < patience:
        opening = _pair_opening(handle, run_seed, salt, pair, opening_plies)
        if opening.actions in seen:
            since_new += 1
        else:
            seen.add(opening.actions)
            out.append(pair)
            since_new = 0
        pair += 1
    return out


@dataclass
class PairingSummary:
    """Results of ``player`` against ``opponent`` (from ``player``'s side).

    ``pentanomial[k]`` counts complete pairs in which ``player`` scored k/2 points.
    """

    player: str
    opponent: str
    wins: int = 0
    draws: int = 0
    losses: int = 0
    illegal: int = 0
    pentanomial: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    incomplete_pairs: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else float("nan")

    def to_dict(self) -> dict:
        return {
            "player": self.player,
            "opponent": self.opponent,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "games": self.games,
            "illegal_moves": self.illegal,
            "pentanomial": self.pentanomial,
            "incomplete_pairs": self.incomplete_pairs,
        }


def summarize(records: Iterable[MatchRecord], player: str, opponent: str) -> PairingSummary:
    """W/D/L and pentanomial counts of ``player`` vs ``opponent`` from match records.

    Records of other pairings are ignored; a pair is counted in the pentanomial only when
    both of its games are present (identified by ``(run_id, pair tag, pair_index)``).
    """
    summary = PairingSummary(player, opponent)
    pair_points: dict[tuple, list[float]] = {}
    for record in records:
        specs = [seat.spec for seat in record.seats]
        if sorted(specs) != sorted([player, opponent]):
            continue
        seat = specs.index(player) if player != opponent else int(record.swapped)
        points = record.score(seat)
        summary.wins += points == 1.0
        summary.draws += points == 0.5
        summary.losses += points == 0.0
        summary.illegal += sum(1 for m in record.moves if m.player == seat and m.action is None)
        if record.pair_index is not None:
            key = (record.run_id, record.match_id.rsplit("-", 2)[0], record.pair_index)
            pair_points.setdefault(key, []).append(points)
    for points in pair_points.values():
        if len(points) == 2:
            summary.pentanomial[int(round(2 * sum(points)))] += 1
        else:
            summary.incomplete_pairs += 1
    return summary
