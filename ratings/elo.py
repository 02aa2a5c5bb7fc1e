"""Logistic Elo, Wilson intervals and Elo estimates from trinomial or pentanomial counts.

Everything here is the classical normal-theory toolkit of engine testing, written as results in,
numbers out (after fishtest ``server/fishtest/stats/stat_util.py``):

* logistic Elo on the 400 scale, ``score = 1 / (1 + 10**(-elo / 400))``;
* the Wilson (1927) score interval for a proportion;
* ``pairing_estimate``: the one score interval of a pairing (pentanomial over complete pairs,
  Wilson over games that are not paired);
* ``elo_estimate``: sample mean score, its standard error from the empirical distribution of the
  sampled units (games or game pairs), a normal confidence interval mapped to Elo, and the
  likelihood of superiority.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from .counts import CountsKind, counts_kind, outcome_scores, validate_counts

__all__ = [
    "EloEstimate",
    "elo_estimate",
    "elo_from_score",
    "pairing_estimate",
    "score_from_elo",
    "wilson_interval",
    "z_value",
]

ArrayLike = float | np.ndarray


def _check_confidence(confidence: float) -> float:
    if not (isinstance(confidence, int | float | np.floating) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be a number strictly between 0 and 1; got {confidence}")
    return float(confidence)


def z_value(confidence: float) -> float:
    """Two-sided normal quantile ``z = Phi^-1(1 - (1 - confidence) / 2)`` (1.96 at 95%)."""
    confidence = _check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def score_from_elo(elo: ArrayLike) -> ArrayLike:
    """Expected score of a player ``elo`` points stronger, logistic model on the 400 scale.

    ``score = 1 / (1 + 10**(-elo / 400))`` (Elo 1978; fishtest ``stat_util.L``). ``+inf`` maps to
    1 and ``-inf`` to 0. Works element-wise on arrays.

    Raises:
        ValueError: ``elo`` is NaN.
    """
    arr = np.asarray(elo, dtype=float)
    if np.any(np.isnan(arr)):
        raise ValueError("elo must not be NaN")
    with np.errstate(over="ignore"):
        out = 1.0 / (1.0 + np.power(10.0, -arr / 400.0))
    return float(out) if out.ndim == 0 else out


def elo_from_score(score: ArrayLike) -> ArrayLike:
    """Elo difference whose logistic expected score is ``score``: the inverse of `score_from_elo`.

    ``elo = 400 * log10(score / (1 - score))`` (fishtest ``stat_util.elo``, which however clips
    the score to ``[1e-3, 1 - 1e-3]``). A score of exactly 1 (0) is ``+inf`` (``-inf``): that is
    the honest limit, and it is returned as such rather than clipped. Works element-wise.

    Raises:
        ValueError: ``score`` is NaN or outside ``[0, 1]``.
    """
    arr = np.asarray(score, dtype=float)
    if np.any(np.isnan(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError(f"score must lie in [0, 1]; got {score}")
    with np.errstate(divide="ignore"):
        out = 400.0 * (np.log10(arr) - np.log10(1.0 - arr))
    return float(out) if out.ndim == 0 else out


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (E. B. Wilson, JASA 22, 1927).

    With ``p = successes / n`` and ``z = Phi^-1(1 - (1 - confidence) / 2)``::

        centre = (p + z**2 / (2 n)) / (1 + z**2 / n)
        half   = z / (1 + z**2 / n) * sqrt(p (1 - p) / n + z**2 / (4 n**2))

    It inverts the score test ``|p - pi| <= z sqrt(pi (1 - pi) / n)``, so unlike the Wald interval
    it has a non-zero width at ``p = 0`` or ``p = 1`` and never leaves ``[0, 1]``.

    Args:
        successes: Number of successes; may be fractional, e.g. ``wins + draws / 2``.
        n: Number of trials, ``> 0`` (may be fractional too).
        confidence: Two-sided coverage in ``(0, 1)``.

    Returns:
        ``(low, high)`` with ``0 <= low <= p <= high <= 1``.

    Raises:
        ValueError: ``n <= 0``, ``successes`` outside ``[0, n]``, NaNs, or a bad confidence.
    """
    z = z_value(confidence)
    if not (math.isfinite(n) and n > 0):
        raise ValueError(f"n must be a positive finite number; got {n}")
    if not (math.isfinite(successes) and 0.0 <= successes <= n):
        raise ValueError(f"successes must lie in [0, n] = [0, {n}]; got {successes}")
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # Exact arithmetic gives low = 0 at p = 0 and high = 1 at p = 1; rounding can miss by 1e-17,
    # so clamp to keep low <= p <= high.
    return min(max(0.0, centre - half), p), max(min(1.0, centre + half), p)


@dataclass(frozen=True)
class EloEstimate:
    """Elo estimate from one count vector (see `elo_estimate`).

    Attributes:
        elo: Elo difference of the mean score, ``400 log10(s / (1 - s))``; ``+-inf`` when every
            unit is a sweep (score exactly 1 or 0).
        ci: ``(low, high)`` confidence interval on the Elo scale.
        los: Likelihood of superiority, ``P(true score > 1/2)`` under the normal approximation.
        score: Mean score per game in ``[0, 1]``.
        score_ci: ``(low, high)`` confidence interval of the score.
        score_se: Standard error of ``score``.
        n: Number of sampled units: games (trinomial) or pairs (pentanomial).
        kind: ``"trinomial"`` or ``"pentanomial"``.
        confidence: The two-sided coverage of the intervals.
    """

    elo: float
    ci: tuple[float, float]
    los: float
    score: float
    score_ci: tuple[float, float]
    score_se: float
    n: int
    kind: CountsKind
    confidence: float

    def to_dict(self) -> dict[str, object]:
        """Plain-Python dict (tuples become lists) for JSON; infinities stay ``float('inf')``."""
        out = asdict(self)
        out["ci"] = list(self.ci)
        out["score_ci"] = list(self.score_ci)
        return out


def elo_estimate(counts: Iterable[int] | np.ndarray, confidence: float = 0.95) -> EloEstimate:
    """Mean score, Elo, confidence interval and LOS from trinomial or pentanomial counts.

    With cell scores ``a_i`` (``0, 1/2, 1`` per game, or ``0, 1/4, 1/2, 3/4, 1`` per pair),
    counts ``n_i``, ``N = sum n_i`` units and frequencies ``p_i = n_i / N``::

        s   = sum p_i a_i                     (mean score per game)
        v   = sum p_i (a_i - s)**2            (variance of one unit's score)
        se  = sqrt(v / N)
        CI  = [s - z se, s + z se] clipped to [0, 1], mapped to Elo by ``elo_from_score``
        LOS = Phi((s - 1/2) / se)

    This is fishtest's ``stat_util.get_elo``. With pentanomial counts ``v`` is the variance of
    the pair score, so the correlation between the two games of a pair (common opening, swapped
    seats) is part of the error bar instead of being assumed away.

    Zero cells, deliberately: empty cells simply have ``p_i = 0``, which is the maximum-likelihood
    estimate, so ``score`` and ``elo`` are exact (60 wins, 40 losses is ``400 log10(1.5)`` Elo, not
    a regularised approximation). The one case that needs care is a sample in which *every* unit
    fell in the same cell: its empirical variance is 0 and the normal interval would have zero
    width. There the variance is replaced by the Bernoulli bound ``s (1 - s)`` (the largest
    variance of any distribution on ``[0, 1]`` with mean ``s``), which turns the interval into
    the Wilson interval of ``s N`` successes in ``N`` trials: conservative and never zero-width,
    even for a sweep. (fishtest instead adds ``1e-3`` to every empty cell, which moves every
    estimate slightly and still leaves a near-zero width for a sweep.)

    Args:
        counts: ``[losses, draws, wins]`` or ``[n0, n1, n2, n3, n4]``.
        confidence: Two-sided coverage of the intervals, in ``(0, 1)``.

    Returns:
        An `EloEstimate`.

    Raises:
        ValueError: bad counts (see `ratings.counts.validate_counts`) or a bad confidence.
    """
    c = validate_counts(counts)
    z = z_value(confidence)
    a = outcome_scores(c.size)
    n_units = int(c.sum())
    p = c / n_units
    s = float(p @ a)
    if np.count_nonzero(c) == 1:
        # Degenerate sample: Bernoulli variance bound and the Wilson interval (see docstring).
        se = math.sqrt(s * (1.0 - s) / n_units)
        score_ci = wilson_interval(s * n_units, n_units, confidence)
    else:
        se = math.sqrt(float(p @ (a - s) ** 2) / n_units)
        score_ci = (max(0.0, s - z * se), min(1.0, s + z * se))
    if se > 0.0:
        los = NormalDist().cdf((s - 0.5) / se)
    else:  # only for a sweep: s is exactly 0 or 1
        los = 1.0 if s > 0.5 else 0.0
    return EloEstimate(
        elo=float(elo_from_score(s)),
        ci=(float(elo_from_score(score_ci[0])), float(elo_from_score(score_ci[1]))),
        los=los,
        score=s,
        score_ci=(float(score_ci[0]), float(score_ci[1])),
        score_se=se,
        n=n_units,
        kind=counts_kind(c.size),
        confidence=float(confidence),
    )


def pairing_estimate(
    pentanomial: Iterable[int],
    wins: int,
    draws: int,
    losses: int,
    confidence: float = 0.95,
) -> EloEstimate | None:
    """The one score interval of a pairing, used by evaluation, tournaments and gates alike.

    Complete seat-swapped pairs: ``elo_estimate`` on the pentanomial counts (pair variance,
    so the correlation within a pair is in the error bar). Games that are not paired (no
    complete pair among them): ``elo_estimate`` on the trinomial ``[L, D, W]`` with the
    score interval replaced by the Wilson (1927) interval of ``W + D/2`` points in ``W + D +
    L`` games, mapped to Elo. None when there are no games at all.
    """
    penta = [int(n) for n in pentanomial]
    if sum(penta):
        return elo_estimate(penta, confidence)
    games = wins + draws + losses
    if games == 0:
        return None
    est = elo_estimate([losses, draws, wins], confidence)
    low, high = wilson_interval(wins + 0.5 * draws, games, confidence)
    return EloEstimate(
        elo=est.elo,
        ci=(float(elo_from_score(low)), float(elo_from_score(high))),
        los=est.los,
        score=est.score,
        score_ci=(float(low), float(high)),
        score_se=est.score_se,
        n=est.n,
        kind=est.kind,
        confidence=est.confidence,
    )
