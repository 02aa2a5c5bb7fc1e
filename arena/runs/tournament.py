"""Tournaments: round robin or gauntlet of N players, K seat-swapped pairs per pairing.

Output: the match logs (``matches/<run>/``), and in ``runs/<run>/`` a ``summary.json`` with one
entry per pairing (wins, draws, losses, pentanomial pair counts: what ``ratings`` consumes, plus
the score, Elo and their confidence intervals from ``ratings.elo_estimate``), a Bradley-Terry
leaderboard when there are three players or more, and ``report.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agents import parse_spec
from arena.execution.driver import Progress, RunStats
from arena.execution.session import ExecOptions, RunSession, check_run_id, default_run_id
from arena.reporting.markdown import render
from arena.reporting.tables import pairing_entry, pairing_table, ratings_table
from games import InputError, load_game
from games.configs import nested, option
from games.files import atomic_write, write_json
from games.limits import check_games, check_int
from games.match import MatchJob
from games.records import MatchRecord
from games.schedule import GAME_HELP, MatchOptions, summarize
from games.workspace import Workspace

FORMATS = ("round-robin", "gauntlet")


@dataclass(frozen=True)
class TournamentConfig:
    """Everything that decides a tournament's records."""

    game: str = option(help=GAME_HELP, metavar="GAME")
    players: tuple[str, ...] = option(
        help="agent specs: random, mcts[:N], solver, llm:BASE[@ADAPTER]; a gauntlet plays the "
        "first against each of the others",
        metavar="SPEC",
    )
    pairs: int = option(10, "seat-swapped pairs per pairing (2 games each)")
    format: Literal["round-robin", "gauntlet"] = option(
        "round-robin", "round-robin: every pairing; gauntlet: the first player against the others"
    )
    matches: MatchOptions = nested(MatchOptions, "seed, openings, move cap", flatten=True)

    def __post_init__(self) -> None:
        players = tuple(parse_spec(p).raw for p in self.players)
        object.__setattr__(self, "players", players)
        object.__setattr__(self, "game", load_game(self.game).spec)
        if len(players) < 2:
            raise InputError("a tournament needs at least 2 players")
        if len(set(players)) != len(players):
            raise InputError(f"players must be distinct, got {list(players)}")
        check_int("pairs", self.pairs, 1)
        if self.format not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}")
        games = self.pairs * 2 * len(self.pairings())
        check_games(
            "tournament", games, f"games ({self.pairs} pairs x {len(self.pairings())} pairings)"
        )

    def pairings(self) -> list[tuple[int, int]]:
        n = len(self.players)
        if self.format == "gauntlet":
            return [(0, j) for j in range(1, n)]
        return [(i, j) for i in range(n) for j in range(i + 1, n)]

    def jobs(self, run_id: str) -> list[MatchJob]:
        jobs = []
        for i, j in self.pairings():
            # indices in the tag: any spec (a path, "@v3") gives a safe match id
            tag = f"{i:02d}v{j:02d}"
            jobs += self.matches.pair_jobs(
                self.game, self.players[i], self.players[j], range(self.pairs), run_id, tag
            )
        return jobs


@dataclass
class TournamentResult:
    run_id: str
    config: TournamentConfig
    pairings: list[dict]
    leaderboard: dict | None
    stats: RunStats
    paths: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        return pairing_table(self.pairings)

    def leaderboard_table(self) -> str | None:
        return ratings_table(self.leaderboard["ratings"]) if self.leaderboard else None


def light(record: MatchRecord) -> MatchRecord:
    """The record without the moves ``summarize`` does not need (keeps memory flat)."""
    return dataclasses.replace(record, moves=[m for m in record.moves if m.action is None])


def run_tournament(
    config: TournamentConfig,
    workspace: Workspace,
    options: ExecOptions | None = None,
    run_id: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> TournamentResult:
    """Play (or resume) a tournament on Ray and write its summary and report."""
    from ratings import bradley_terry

    options = options or ExecOptions()
    run_id = check_run_id(run_id) or default_run_id("tournament")
    jobs = config.jobs(run_id)
    with RunSession(
        "tournament", run_id, dataclasses.asdict(config), workspace, options
    ) as session:
        session.open(jobs)
        stats = session.play(jobs, progress)
        by_pairing: dict[tuple[str, str], list[MatchRecord]] = {}
        for record in session.store.records():
            key = tuple(sorted(seat.spec for seat in record.seats))
            by_pairing.setdefault(key, []).append(light(record))
        summaries = []
        for i, j in config.pairings():
            a, b = config.players[i], config.players[j]
            summaries.append(summarize(by_pairing.get(tuple(sorted((a, b))), []), a, b))
        entries = [pairing_entry(s) for s in summaries]
        leaderboard = None
        if len(config.players) >= 3:
            rows = [(s.player, s.opponent, s.wins, s.draws, s.losses) for s in summaries]
            leaderboard = bradley_terry(rows, seed=config.matches.seed).to_dict()
        result = TournamentResult(run_id, config, entries, leaderboard, stats)
        summary_path = session.run_dir / "summary.json"
        report_path = session.run_dir / "report.md"
        write_json(
            summary_path,
            {
                "kind": "tournament",
                "run_id": run_id,
                "config": dataclasses.asdict(config),
                "pairings": entries,
                "leaderboard": leaderboard,
            },
        )
        atomic_write(report_path, _report(result))
        result.paths = {
            "matches": str(session.store.folder),
            "summary": str(summary_path),
            "report": str(report_path),
            "manifest": str(session.manifest_path),
        }
        session.finish(result.paths)
    return result


def _report(result: TournamentResult) -> str:
    """``report.md`` (template ``arena/reporting/templates/tournament.md``)."""
    return render(
        "tournament.md", run_id=result.run_id, cfg=result.config, stats=result.stats,
        pairings=result.table(), ratings=result.leaderboard_table(),
    )  # fmt: skip
