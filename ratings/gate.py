"""The promotion gate: does a candidate beat the champion by the margin? (the "5% rule").

The gate is a GSPRT (`ratings.sprt`) on pentanomial counts of seat-swapped candidate-vs-champion
game pairs, truncated on both sides:

* H0: the candidate's expected score is 1/2, ``elo0 = 0``;
* H1: it is ``1/2 + margin``, ``elo1 = elo_from_score(1/2 + margin)`` (``+34.9`` Elo for the
  default 5-point margin);
* no decision before ``min_pairs`` pairs (guards against a lucky start and against the
  normal-theory reporting being meaningless on a handful of pairs);
* at ``max_pairs`` pairs without a decision the candidate is rejected as *inconclusive*: the
  champion stays. Truncation only ever turns a late "accept" into "reject", so it cannot raise
  the false-promotion rate above that of the untruncated SPRT (about ``alpha``).

The test itself is the one fishtest runs (pentanomial GSPRT with Wald's bounds); the two pair
limits are this gate's additions. Simulated error rates and pairs to a decision are in
``scripts/bench_ratings.py`` and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from .counts import validate_counts
from .elo import elo_estimate, elo_from_score
from .sprt import Decision, Sprt

__all__ = ["GateConfig", "GateResult", "gate_decide"]


@dataclass(frozen=True)
class GateConfig:
    """Parameters of the promotion gate (each field's help in its metadata: the ``arena gate``
    flags and the nightly ``[gate]`` table are derived from them)."""

    margin: float = field(
        default=0.05,
        metadata={"help": "required edge in win rate (draws count 1/2): H1 is 1/2 + margin"},
    )
    alpha: float = field(
        default=0.05,
        metadata={"help": "most probability of promoting a candidate that is not better"},
    )
    beta: float = field(
        default=0.05,
        metadata={"help": "most probability of not promoting a candidate margin better"},
    )
    min_pairs: int = field(default=20, metadata={"help": "no accept/reject before this many pairs"})
    max_pairs: int = field(
        default=1000,
        metadata={"help": "cap: without an SPRT decision by then the champion stays"},
    )
    confidence: float = field(
        default=0.95, metadata={"help": "coverage of the reported score and Elo intervals"}
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.margin, int | float) and 0.0 < self.margin < 0.5):
            raise ValueError(f"margin must lie strictly between 0 and 0.5; got {self.margin!r}")
        for name in ("min_pairs", "max_pairs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if self.max_pairs < self.min_pairs:
            raise ValueError(
                f"max_pairs ({self.max_pairs}) must be at least min_pairs ({self.min_pairs})"
            )
        if not (isinstance(self.confidence, int | float) and 0.0 < self.confidence < 1.0):
            raise ValueError(f"confidence must lie strictly between 0 and 1; got {self.confidence}")
        Sprt(self.elo0, self.elo1, self.alpha, self.beta)  # validates alpha and beta

    @property
    def elo0(self) -> float:
        """Elo under H0: 0 (the candidate is exactly as strong as the champion)."""
        return 0.0

    @property
    def elo1(self) -> float:
        """Elo under H1: ``400 log10((1/2 + margin) / (1/2 - margin))``."""
        return float(elo_from_score(0.5 + self.margin))

    @property
    def sprt(self) -> Sprt:
        """The underlying `Sprt` (``elo0``, ``elo1``, ``alpha``, ``beta``)."""
        return Sprt(self.elo0, self.elo1, self.alpha, self.beta)

    @property
    def bounds(self) -> tuple[float, float]:
        """Wald's ``(lower, upper)`` LLR bounds."""
        return self.sprt.bounds

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict of the parameters plus the derived ``elo0``/``elo1``."""
        return {**asdict(self), "elo0": self.elo0, "elo1": self.elo1}


@dataclass(frozen=True)
class GateResult:
    """Outcome of `gate_decide`.

    Attributes:
        decision: ``"accept"`` (promote the candidate), ``"reject"`` (the champion stays) or
            ``"continue"`` (play more pairs).
        reason: Why, in one sentence with the numbers.
        inconclusive: True when the reject comes from reaching ``max_pairs``, not from the SPRT.
        score: Candidate's mean score per game.
        ci: Confidence interval of ``score``.
        elo: Candidate-minus-champion Elo estimate (``+-inf`` for a clean sweep).
        elo_ci: Confidence interval of ``elo``.
        los: Likelihood of superiority.
        llr: The GSPRT log-likelihood ratio.
        bounds: Wald's ``(lower, upper)`` LLR bounds.
        pairs: Game pairs played.
        counts: The pentanomial counts ``(n0, n1, n2, n3, n4)`` the decision was made on.
        elo0: Elo under H0.
        elo1: Elo under H1.
    """

    decision: Decision
    reason: str
    inconclusive: bool
    score: float
    ci: tuple[float, float]
    elo: float
    elo_ci: tuple[float, float]
    los: float
    llr: float
    bounds: tuple[float, float]
    pairs: int
    counts: tuple[int, int, int, int, int]
    elo0: float
    elo1: float

    @property
    def promote(self) -> bool:
        """True when the candidate replaces the champion."""
        return self.decision == "accept"

    def to_dict(self) -> dict[str, object]:
        """Plain-Python dict (tuples become lists) for JSON; infinities stay ``float('inf')``."""
        out = asdict(self)
        for key in ("ci", "elo_ci", "bounds", "counts"):
            out[key] = list(getattr(self, key))
        return out


def gate_decide(counts: Iterable[int] | np.ndarray, config: GateConfig | None = None) -> GateResult:
    """Decide whether a candidate beats the champion by ``config.margin``.

    Rules, in order (``LLR = sprt_llr(counts, elo0, elo1)``, Wald bounds ``(lower, upper)``):

    1. ``pairs < min_pairs``: ``"continue"``.
    2. ``LLR >= upper``: ``"accept"``; ``LLR <= lower``: ``"reject"``.
    3. ``pairs >= max_pairs``: ``"reject"``, inconclusive (the champion stays).
    4. otherwise ``"continue"``.

    Args:
        counts: Pentanomial ``[n0, n1, n2, n3, n4]`` of candidate-vs-champion seat-swapped pairs,
            from the candidate's side (``n4`` = the candidate won both games).
        config: Gate parameters; defaults to ``GateConfig()`` (5% margin, alpha = beta = 0.05).

    Returns:
        A `GateResult` with the decision, reason and the statistics behind it.

    Raises:
        ValueError: counts that are not five non-negative integers with a positive total.
    """
    config = GateConfig() if config is None else config
    c = validate_counts(counts)
    if c.size != 5:
        raise ValueError(
            f"the gate decides on pentanomial pair counts [n0, n1, n2, n3, n4]; got {c.size} counts"
        )
    sprt = config.sprt
    llr = sprt.llr(c)
    lower, upper = sprt.bounds
    est = elo_estimate(c, config.confidence)
    pairs = int(c.sum())
    margin = f"{100 * config.margin:g}-point margin"
    inconclusive = False
    decision: Decision
    if pairs < config.min_pairs:
        decision = "continue"
        reason = f"{pairs} pairs played; no decision before min_pairs={config.min_pairs}"
    elif llr >= upper:
        decision = "accept"
        reason = (
            f"LLR {llr:.3f} >= upper bound {upper:.3f} after {pairs} pairs: "
            f"the candidate beats the champion by the {margin}"
        )
    elif llr <= lower:
        decision = "reject"
        reason = (
            f"LLR {llr:.3f} <= lower bound {lower:.3f} after {pairs} pairs: "
            f"the candidate is not better than the champion; the champion stays"
        )
    elif pairs >= config.max_pairs:
        decision = "reject"
        inconclusive = True
        reason = (
            f"inconclusive: LLR {llr:.3f} still inside ({lower:.3f}, {upper:.3f}) at "
            f"max_pairs={config.max_pairs}; the champion stays"
        )
    else:
        decision = "continue"
        reason = f"LLR {llr:.3f} inside ({lower:.3f}, {upper:.3f}) after {pairs} pairs"
    return GateResult(
        decision=decision,
        reason=reason,
        inconclusive=inconclusive,
        score=est.score,
        ci=est.score_ci,
        elo=est.elo,
        elo_ci=est.ci,
        los=est.los,
        llr=llr,
        bounds=(lower, upper),
        pairs=pairs,
        counts=tuple(int(x) for x in c),  # type: ignore[arg-type]
        elo0=config.elo0,
        elo1=config.elo1,
    )
