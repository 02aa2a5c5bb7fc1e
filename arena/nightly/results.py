"""What each stage of a game's night returns: one frozen dataclass per stage.

A stage's result is stored as JSON in the registry's ``stages`` table (and copied into
``nights/<id>/report.json`` and the night's manifest) and read back typed when a night resumes,
when the report is written, and by the learning curves. ``to_dict()`` writes the JSON the night
has always written (a field marked ``omitted`` is left out while it is None, as the stages
left those keys out); ``from_dict(data, where)`` reads it through ``games.configs.build``
(``arena.nightly.stored``), so a stored result of the wrong shape (an unknown or missing key,
a wrong type) fails in one line naming the stage, never later as a ``KeyError`` in the report.

Stage order and the type of each stage's result: ``STAGE_TYPES``; ``NightResults`` holds one
game's results so far (what the stages of ``arena.nightly.stages`` read).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from arena.nightly.stored import Result, omitted
from games import InputError
from games.configs import build
from ratings.gate import GateResult as GateDecision

# -------------------------------------------------------------------------------- plan, play


@dataclass(frozen=True)
class PlanResult(Result):
    """Tonight's champion, its predecessor, the league and which datasets to build."""

    champion: str
    previous: str | None
    sft: bool
    prefs: bool
    league: tuple[tuple[str, float], ...]  # (spec, weight); the previous champion resolved
    seed: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SelfplayOpponent(Result):
    """The teacher's results against one league opponent."""

    opponent: str
    games: int
    wins: int
    draws: int
    losses: int
    score: float | None


@dataclass(frozen=True)
class SelfplayResult(Result):
    run_id: str
    matches: str  # the match-log folder the dataset builders read
    games: int  # scheduled (played now or in an earlier session)
    played: int  # played by this session
    games_per_s: float
    opponents: tuple[SelfplayOpponent, ...] = ()


# ---------------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class ReplayResult(Result):
    """The SFT training file with earlier nights' rows mixed in (``training.replay``)."""

    file: str
    rows: int
    new: int
    replayed: dict[str, int]  # night -> rows taken from it
    duplicates: int
    capped: int

    @staticmethod
    def of(mix) -> ReplayResult:
        """From a ``training.replay.ReplayMix``."""
        return ReplayResult.from_dict(mix.to_dict())


@dataclass(frozen=True)
class BuiltDataset(Result):
    """One dataset built tonight: its folder and rows per split."""

    dir: str
    train: int
    heldout: int
    considered: int
    replay: ReplayResult | None = omitted()


@dataclass(frozen=True)
class DatasetsResult(Result):
    """The SFT rows and preference pairs built tonight (either may be absent), and why a
    planned dataset has no usable rows (``no_data``: the night then trains without it)."""

    sft: BuiltDataset | None = omitted()
    prefs: BuiltDataset | None = omitted()
    no_data: tuple[str, ...] | None = omitted()


# --------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainRun(Result):
    """One SFT or DPO run (from its manifest)."""

    kind: Literal["sft", "dpo"]
    out: str
    steps: int | None
    seconds: float
    rows: int | None
    tokens: int | None
    first_loss: float | None
    final_loss: float | None
    eval_loss: float | None
    # where a shipped task ran (``--artifacts ship``: arena.execution.tasks): its Ray node id
    # and what its node cache did (hits, fetches, bytes); absent in shared mode
    node: str | None = omitted()
    cache: dict | None = omitted()


@dataclass(frozen=True)
class TrainResult(Result):
    """The runs and the candidate they made (``version`` None: none, ``rejected`` says why)."""

    runs: tuple[TrainRun, ...]
    version: str | None
    path: str | None = omitted()
    rejected: str | None = omitted()


# ------------------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class OpponentScore(Result):
    """A version against one eval opponent: the score (win = 1, draw = 1/2) and, for poker,
    the mean chips per game, each with its 95% interval over seat-swapped pairs."""

    opponent: str
    games: int | None = omitted()
    score: float | None = omitted()
    score_ci95: tuple[float, float] | None = omitted()
    mean_return: float | None = omitted()
    mean_return_ci95: tuple[float, float] | None = omitted()


@dataclass(frozen=True)
class DevScore(Result):
    """A version's dev-set metric (argmax accuracy, or exploitability for poker: lower is
    better) with its interval, and its eval games."""

    version: str
    metric: str
    value: float
    higher_is_better: bool
    ci95: tuple[float, float] | None = omitted()
    opponents: tuple[OpponentScore, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)  # devset, matches


@dataclass(frozen=True)
class EvalResult(Result):
    candidate: DevScore | None = omitted()
    champion: DevScore | None = omitted()
    skipped: str | None = omitted()

    def scores(self) -> list[tuple[str, DevScore]]:
        """``(role, score)`` of the versions evaluated."""
        return [(r, s) for r in ("candidate", "champion") if (s := getattr(self, r)) is not None]


# ------------------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class SprtGate(Result, GateDecision):
    """The gate run's report (``gate.json``, ``arena.runs.gate``): the SPRT's decision on
    seat-swapped pairs and every statistic behind it (the decision's fields are
    ``ratings.gate.GateResult``'s, declared there once), then the run's own."""

    kind: str
    run_id: str
    game: str
    candidate: str
    champion: str
    gate_config: dict
    deterministic_players: bool
    pairs_played: int
    surplus_pairs: int
    games_played: int
    llr_trace: tuple[dict, ...]
    seed: int


@dataclass(frozen=True)
class ExploitabilityGate(Result):
    """``[gate] by = "exploitability"``: exact exploitability (chips per game) of the
    candidate and the champion, and the margin (``decisions.exploitability_gate``)."""

    by: Literal["exploitability"]
    decision: Literal["accept", "reject"]
    reason: str
    candidate: float
    champion: float
    margin: float
    pairs: int = 0


@dataclass(frozen=True)
class GateResult(Result):
    """The gate: skipped (no candidate), games (SPRT) or exploitability. Stored flat, as the
    gate's own report."""

    skipped: str | None = None
    sprt: SprtGate | None = None
    exploitability: ExploitabilityGate | None = None

    @property
    def report(self) -> SprtGate | ExploitabilityGate | None:
        return self.sprt or self.exploitability

    @property
    def by(self) -> str | None:
        return "games" if self.sprt else "exploitability" if self.exploitability else None

    @property
    def decision(self) -> str | None:
        return self.report.decision if self.report else None

    @property
    def reason(self) -> str | None:
        return self.report.reason if self.report else None

    def to_dict(self) -> dict:
        return self.report.to_dict() if self.report else {"skipped": self.skipped}

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> GateResult:
        where = where or cls.__name__
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a table, got {type(data).__name__}")
        if "skipped" in data:
            return build(cls, data, where)
        if data.get("by") == "exploitability":
            return cls(exploitability=ExploitabilityGate.from_dict(data, where))
        return cls(sprt=SprtGate.from_dict(data, where))


# -------------------------------------------------------------------------- verdict, checks


@dataclass(frozen=True)
class DecideResult(Result):
    """The registry's verdict on the candidate and the champion after it."""

    decision: Literal["promoted", "rejected"]
    reason: str | None
    champion: str
    gate_id: int | None = omitted()
    event_id: int | None = omitted()


@dataclass(frozen=True)
class RegressionDevset(Result):
    champion: DevScore
    previous: DevScore


@dataclass(frozen=True)
class RegressionResult(Result):
    """The champion against the previous champion (dev set, optionally games) and whether it
    was rolled back. Skipped when there is no previous champion; a rerun after the rollback
    was committed reports the rollback only."""

    champion: str | None = omitted()
    previous: str | None = omitted()
    devset: RegressionDevset | None = omitted()
    match: dict | None = None  # the pairing entry of the games, when any were played
    rolled_back: bool | None = omitted()
    reason: str | None = omitted()
    to: str | None = omitted()
    skipped: str | None = omitted()

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.devset is None:  # "match" belongs to a completed check only
            out.pop("match")
        return out


@dataclass(frozen=True)
class RatingEntry(Result):
    """One row of the night's Bradley-Terry snapshot (Elo scale, 95% bootstrap interval)."""

    player: str
    version: str | None
    rank: int
    rating: float
    ci_low: float
    ci_high: float
    games: int
    score: float


@dataclass(frozen=True)
class TournamentResult(Result):
    run_id: str
    players: tuple[str, ...]
    leaderboard: tuple[RatingEntry, ...]


# --------------------------------------------------------------------------------- the night

STAGE_TYPES: dict[str, type] = {
    "plan": PlanResult,
    "selfplay": SelfplayResult,
    "datasets": DatasetsResult,
    "train": TrainResult,
    "eval": EvalResult,
    "gate": GateResult,
    "decide": DecideResult,
    "regression": RegressionResult,
    "tournament": TournamentResult,
}
STAGES = tuple(STAGE_TYPES)


def read_result(stage: str, data: Any, where: str = "") -> Result:
    """The typed result of ``stage`` from its stored JSON (InputError naming ``where``)."""
    if stage not in STAGE_TYPES:
        raise InputError(f"{where}: unknown stage '{stage}'")
    return STAGE_TYPES[stage].from_dict(data, where or f"stage {stage}")


@dataclass
class NightResults:
    """One game's stage results so far, in stage order (None: not run yet)."""

    plan: PlanResult | None = None
    selfplay: SelfplayResult | None = None
    datasets: DatasetsResult | None = None
    train: TrainResult | None = None
    eval: EvalResult | None = None
    gate: GateResult | None = None
    decide: DecideResult | None = None
    regression: RegressionResult | None = None
    tournament: TournamentResult | None = None

    def set(self, stage: str, result: Result) -> None:
        if not isinstance(result, STAGE_TYPES[stage]):
            raise TypeError(f"stage {stage} returned {type(result).__name__}")
        setattr(self, stage, result)

    def items(self) -> list[tuple[str, Result]]:
        """``(stage, result)`` of the stages that have a result, in stage order."""
        return [(s, r) for s in STAGES if (r := getattr(self, s)) is not None]

    def to_dict(self) -> dict:
        return {stage: r.to_dict() for stage, r in self.items()}

    @classmethod
    def from_dict(cls, data: Any, where: str = "night") -> NightResults:
        """From ``{stage: stored result}`` (a game of ``report.json``)."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a table of stages, got {type(data).__name__}")
        out = cls()
        for stage, value in data.items():
            out.set(stage, read_result(stage, value, f"{where} {stage}"))
        return out

    @property
    def outcome(self) -> str:
        """``promoted`` when the candidate was promoted and not rolled back, else ``rejected``."""
        promoted = self.decide is not None and self.decide.decision == "promoted"
        rolled_back = self.regression is not None and bool(self.regression.rolled_back)
        return "promoted" if promoted and not rolled_back else "rejected"


assert tuple(f.name for f in dataclasses.fields(NightResults)) == STAGES
