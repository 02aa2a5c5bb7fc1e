"""Self-play: one player against a league (itself, past versions, scripted agents).

The league is a list of opponents with weights; ``pairs`` seat-swapped pairs are split between
them in proportion to the weights (largest remainder, so the split is exact and deterministic).
LLM players sample with ``temperature`` so that self-play explores; the temperature is written
into their spec (``llm:tiny@v3,temperature=1``) unless the spec sets its own, so every match
record says how its players played. Output: the match logs in
``matches/<run>/`` that the dataset builders read (``training.build_sft``/``build_prefs``), and
a ``summary.json`` with the player's results per opponent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from agents import with_temperature
from arena.execution.driver import Progress, RunStats
from arena.execution.session import ExecOptions, RunSession, check_run_id, default_run_id
from arena.reporting.tables import pairing_entry, pairing_table
from arena.runs.tournament import light
from games import InputError, load_game
from games.configs import nested, option
from games.files import write_json
from games.limits import check_float, check_games, check_int
from games.match import MatchJob
from games.records import MatchRecord
from games.schedule import GAME_HELP, MatchOptions, summarize
from games.workspace import Workspace

SELF = "self"


def parse_league(entries: list[str] | str) -> tuple[tuple[str, float], ...]:
    """``["self=2", "mcts:50", "llm:tiny@v1=0.5"]`` -> ``(("self", 2.0), ("mcts:50", 1.0), ...)``.

    The weight follows the last ``=``; ``self`` stands for the player itself.
    """
    entries = [entries] if isinstance(entries, str) else entries
    league = []
    for entry in entries:
        spec, sep, weight = entry.rpartition("=")
        if not sep:
            spec, weight = entry, "1"
        try:
            value = float(weight)
        except ValueError:
            raise InputError(f"league entry '{entry}': weight '{weight}' is not a number") from None
        league.append((spec.strip(), value))
    return tuple(league)


def league_text(league) -> list[str]:
    """The league as the entries ``parse_league`` reads: ``["self=2", "mcts:50=1"]``."""
    return [f"{spec}={weight:g}" for spec, weight in league]


def allocate(weights: list[float], total: int) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (Hamilton's largest-remainder method)."""
    scale = total / sum(weights)
    quotas = [w * scale for w in weights]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class SelfplayConfig:
    """Everything that decides a self-play run's records."""

    game: str = option(help=GAME_HELP, metavar="GAME")
    player: str = option(help="the learning player (usually llm:BASE@champion)", metavar="SPEC")
    league: tuple[tuple[str, float], ...] = option(
        ((SELF, 1.0),),
        "opponents with optional weights, e.g. self=3 llm:tiny@v2=1 mcts:50=1 ('self' is the "
        "player itself); the pairs are split between them by weight",
        metavar="SPEC[=WEIGHT]",
        convert=parse_league,
        text=league_text,
    )
    pairs: int = option(50, "seat-swapped pairs in total, split between the league by weight")
    temperature: float = option(
        1.0, "sampling temperature of LLM players, added to their specs (scripted agents: none)"
    )
    matches: MatchOptions = nested(MatchOptions, "seed, openings, move cap", flatten=True)

    def __post_init__(self) -> None:
        check_float("temperature", self.temperature, 0, 100)
        check_int("pairs", self.pairs, 1)
        check_games("selfplay", self.pairs * 2, f"games ({self.pairs} pairs)")
        object.__setattr__(self, "game", load_game(self.game).spec)
        object.__setattr__(self, "player", with_temperature(self.player, self.temperature))
        league = []
        for spec, weight in self.league:
            if spec.lower() == SELF:
                spec = SELF
            else:
                spec = with_temperature(spec, self.temperature)
            if not (math.isfinite(weight) and weight > 0):
                raise InputError(f"league weight of '{spec}' must be positive, got {weight}")
            league.append((spec, float(weight)))
        if not league:
            raise InputError("the league needs at least one opponent")
        specs = [self.resolve(s) for s, _ in league]
        if len(set(specs)) != len(specs):
            raise InputError(f"league opponents must be distinct, got {specs}")
        object.__setattr__(self, "league", tuple(league))
        if self.pairs < len(league):
            raise InputError(f"--pairs ({self.pairs}) must be at least the league size")

    def resolve(self, spec: str) -> str:
        return self.player if spec == SELF else spec

    def opponents(self) -> list[tuple[str, int]]:
        """``(opponent spec, pairs)`` per league entry."""
        counts = allocate([w for _, w in self.league], self.pairs)
        return [(self.resolve(s), n) for (s, _), n in zip(self.league, counts, strict=True)]

    def jobs(self, run_id: str) -> list[MatchJob]:
        jobs = []
        for k, (opponent, n) in enumerate(self.opponents()):
            jobs += self.matches.pair_jobs(
                self.game, self.player, opponent, range(n), run_id, f"sp{k:02d}"
            )
        return jobs


@dataclass
class SelfplayResult:
    run_id: str
    config: SelfplayConfig
    opponents: list[dict]
    stats: RunStats
    paths: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        return pairing_table(self.opponents)


def run_selfplay(
    config: SelfplayConfig,
    workspace: Workspace,
    options: ExecOptions | None = None,
    run_id: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> SelfplayResult:
    """Play (or resume) a self-play run on Ray; the match logs are the product."""
    options = options or ExecOptions()
    run_id = check_run_id(run_id) or default_run_id("selfplay")
    jobs = config.jobs(run_id)
    tags = {f"{run_id}-sp{k:02d}": spec for k, (spec, _) in enumerate(config.opponents())}
    with RunSession("selfplay", run_id, dataclasses.asdict(config), workspace, options) as session:
        session.open(jobs)
        stats = session.play(jobs, progress)
        groups: dict[str, list[MatchRecord]] = {tag: [] for tag in tags}
        for record in session.store.records():
            groups[record.match_id.rsplit("-", 2)[0]].append(light(record))
        entries = [
            pairing_entry(summarize(groups[tag], config.player, opponent))
            for tag, opponent in tags.items()
        ]
        result = SelfplayResult(run_id, config, entries, stats)
        summary_path = session.run_dir / "summary.json"
        write_json(
            summary_path,
            {
                "kind": "selfplay",
                "run_id": run_id,
                "config": dataclasses.asdict(config),
                "opponents": entries,
                "games": stats.scheduled,
            },
        )
        result.paths = {
            "matches": str(session.store.folder),
            "summary": str(summary_path),
            "manifest": str(session.manifest_path),
        }
        session.finish(result.paths)
    return result
