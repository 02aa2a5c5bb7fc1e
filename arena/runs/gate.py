"""The gate run: candidate vs champion in seat-swapped pairs until the SPRT decides.

Pairs are played in batches on the workers, but the test itself is sequential in pair order:
after each batch the GSPRT of ``ratings.gate_decide`` is evaluated on the prefix of pairs
``0..k`` for each new ``k``, and the run stops at the first prefix that decides (or at
``max_pairs``, where the champion stays). Batching therefore never changes the decision, only
how many surplus pairs of the last batch were played (they stay in the match log and are
reported, but the test stops where it stopped: data after a sequential test's stopping time
would change its error rates).

Perfect-information games are gated with argmax play: ``llm:`` specs get ``temperature=0``
unless they set their own (imperfect-information games play the policy itself). When both
players are then deterministic, a pair is a function of its opening, so repeated openings are
not independent evidence: the gate plays each distinct opening once, and the number of
distinct openings caps the test (``games.schedule.distinct_opening_pairs``).

Output in ``runs/<run>/``: ``gate.json`` (decision, reason, every statistic, the LLR trace)
and ``gate.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from agents import is_deterministic, parse_spec, with_temperature
from arena.execution.driver import Progress, RunStats
from arena.execution.session import ExecOptions, RunSession, check_run_id, default_run_id
from games import InputError, load_game
from games.configs import nested, option
from games.files import atomic_write, write_json
from games.limits import check_games, check_int
from games.match import MatchJob
from games.schedule import GAME_HELP, MatchOptions, distinct_opening_pairs
from games.workspace import Workspace
from ratings import GateConfig


@dataclass(frozen=True)
class GateRunConfig:
    """Everything that decides a gate run: the players, the SPRT's parameters
    (``ratings.GateConfig``) and the games' options, both flattened into one table."""

    game: str = option(help=GAME_HELP, metavar="GAME")
    candidate: str = option(help="the challenger's agent spec (e.g. llm:tiny@v4)", metavar="SPEC")
    champion: str = option(help="the incumbent's spec (e.g. llm:tiny@champion)", metavar="SPEC")
    gate: GateConfig = nested(GateConfig, "the SPRT: margin, alpha, beta, pairs", flatten=True)
    batch_pairs: int = option(20, "pairs handed to the workers between two looks at the test")
    matches: MatchOptions = nested(MatchOptions, "seed, openings, move cap", flatten=True)
    argmax: bool = option(
        True, "perfect-information games: LLM specs without a temperature play at 0"
    )

    def __post_init__(self) -> None:
        handle = load_game(self.game)
        object.__setattr__(self, "game", handle.spec)
        for name in ("candidate", "champion"):
            spec = parse_spec(getattr(self, name)).raw
            if self.argmax and handle.perfect_information:
                spec = with_temperature(spec, 0.0)
            object.__setattr__(self, name, spec)
        check_int("batch_pairs", self.batch_pairs, 1)
        pairs = self.gate.max_pairs
        check_games("gate", pairs * 2, f"games at most ({pairs} max pairs)")

    @property
    def deterministic(self) -> bool:
        """Both players always pick the same move in the same position."""
        return is_deterministic(self.candidate) and is_deterministic(self.champion)

    def pair_indices(self) -> list[int]:
        """The pairs to play in order: every index, or one per distinct opening."""
        gate, m = self.gate, self.matches
        if not self.deterministic:
            return list(range(gate.max_pairs))
        indices = distinct_opening_pairs(
            self.game, gate.max_pairs, m.seed, m.opening_plies, tag="gate"
        )
        if len(indices) < gate.min_pairs:
            raise InputError(
                f"gate: both players are deterministic and {self.game} has only "
                f"{len(indices)} distinct openings with --opening-plies {m.opening_plies}, "
                f"fewer than --min-pairs {gate.min_pairs}; raise --opening-plies"
            )
        return indices

    def gate_config(self, max_pairs: int | None = None) -> GateConfig:
        """The SPRT's parameters, capped at ``max_pairs`` (the distinct openings available)."""
        return dataclasses.replace(self.gate, max_pairs=max_pairs or self.gate.max_pairs)

    def jobs(self, run_id: str, pairs) -> list[MatchJob]:
        """Jobs of ``pairs``; the candidate sits first in the unswapped game of each pair."""
        return self.matches.pair_jobs(
            self.game, self.candidate, self.champion, pairs, run_id, "gate"
        )

    def batches(self, total: int | None = None) -> list[range]:
        """Ranges of positions in the pair order played between looks: the first reaches
        ``min_pairs``. ``total``: how many pairs there are (``max_pairs`` by default)."""
        total = self.gate.max_pairs if total is None else total
        out, start = [], 0
        while start < total:
            stop = min(total, max(start + self.batch_pairs, self.gate.min_pairs))
            out.append(range(start, stop))
            start = stop
        return out


@dataclass
class SequentialGate:
    """Pentanomial counts in pair order and the first prefix at which the gate decides."""

    config: object  # ratings.GateConfig
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    result: object | None = None  # ratings.GateResult of the last prefix looked at
    trace: list[dict] = field(default_factory=list)

    def add(self, pair_points: list[float]) -> bool:
        """Feed pairs in order (candidate's points per pair, 0..2); True once decided."""
        from ratings import gate_decide

        for points in pair_points:
            if self.decided:
                break
            self.counts[int(round(2 * points))] += 1
            self.result = gate_decide(self.counts, self.config)
        if self.result is not None:
            self.trace.append(
                {"pairs": self.result.pairs, "llr": self.result.llr, "decision": self.decided}
            )
        return self.decided

    @property
    def decided(self) -> bool:
        return self.result is not None and self.result.decision != "continue"


@dataclass
class GateRunResult:
    run_id: str
    config: GateRunConfig
    gate: SequentialGate
    pairs_played: int
    stats: RunStats
    paths: dict[str, str] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return self.gate.result.decision

    def to_dict(self) -> dict:
        res = self.gate.result
        return {
            "kind": "gate",
            "run_id": self.run_id,
            "game": self.config.game,
            "candidate": self.config.candidate,
            "champion": self.config.champion,
            **res.to_dict(),
            "gate_config": self.gate.config.to_dict(),
            "deterministic_players": self.config.deterministic,
            "pairs_played": self.pairs_played,
            "surplus_pairs": self.pairs_played - res.pairs,
            "games_played": 2 * self.pairs_played,
            "llr_trace": self.gate.trace,
            "seed": self.config.matches.seed,
        }

    def markdown(self) -> str:
        """``gate.md`` (template ``arena/reporting/templates/gate.md``)."""
        from arena.reporting.markdown import render

        r = self.gate.result
        elo = f"{r.elo:+.1f}" if abs(r.elo) != float("inf") else ("+inf" if r.elo > 0 else "-inf")
        return render(
            "gate.md", run_id=self.run_id, r=r, cfg=self.config, elo=elo,
            pairs_played=self.pairs_played, max_pairs=self.gate.config.max_pairs,
        )  # fmt: skip


def pair_points(records, config: GateRunConfig) -> dict[int, float]:
    """Candidate's points per complete pair index (the candidate is seat 0 when unswapped)."""
    games: dict[int, list[float]] = {}
    for record in records:
        seat = 1 if record.swapped else 0
        games.setdefault(record.pair_index, []).append(record.score(seat))
    return {pair: sum(points) for pair, points in games.items() if len(points) == 2}


def _offset(progress: Callable[[Progress], None] | None, batch: range):
    """Progress over the whole gate (up to ``max_pairs``), not just the current batch."""
    if progress is None:
        return None

    def report(p: Progress) -> None:
        before = 2 * batch.start
        progress(dataclasses.replace(p, done=before + p.done, total=before + p.total))

    return report


def run_gate(
    config: GateRunConfig,
    workspace: Workspace,
    options: ExecOptions | None = None,
    run_id: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> GateRunResult:
    """Play batches of pairs until the sequential gate decides; write gate.json and gate.md."""
    options = options or ExecOptions()
    run_id = check_run_id(run_id) or default_run_id("gate")
    indices = config.pair_indices()
    gate = SequentialGate(config.gate_config(len(indices)))
    everything = config.jobs(run_id, indices)
    with RunSession("gate", run_id, dataclasses.asdict(config), workspace, options) as session:
        session.open(everything)
        played = 0
        for batch in config.batches(len(indices)):
            session.play(everything[2 * batch.start : 2 * batch.stop], _offset(progress, batch))
            points = pair_points(session.store.records(), config)
            gate.add([points[indices[p]] for p in batch])
            played = batch.stop
            if gate.decided:
                break
        result = GateRunResult(run_id, config, gate, played, session.stats)
        json_path = session.run_dir / "gate.json"
        md_path = session.run_dir / "gate.md"
        write_json(json_path, result.to_dict())
        atomic_write(md_path, result.markdown())
        result.paths = {
            "matches": str(session.store.folder),
            "gate": str(json_path),
            "report": str(md_path),
            "manifest": str(session.manifest_path),
        }
        session.finish({**result.paths, "decision": result.decision})
    return result
