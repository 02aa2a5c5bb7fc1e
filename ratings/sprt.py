"""Generalized sequential probability ratio test (GSPRT) on the expected score.

The test of fishtest, OpenBench and cutechess-style engine testing: H0 says the expected score
per game is ``s0 = score_from_elo(elo0)``, H1 says ``s1 = score_from_elo(elo1)``, and neither
specifies the rest of the outcome distribution (draw rate, pair correlation). Each hypothesis is
therefore represented by the maximum-likelihood multinomial *whose expected score equals its
value*, and the log-likelihood ratio of those two fits is compared with Wald's bounds.

Reference: M. Van den Bergh, "Maximum likelihood estimation of a multinomial distribution with
a given expectation value" (support_MLE_multinomial.pdf, Proposition 1.1) and "A Generalized
Sequential Probability Ratio Test" (GSPRT_approximation.pdf), notes for fishtest; implemented
there as ``server/fishtest/stats/LLRcalc.py`` (``MLE_expected``, ``LLR_logistic``). Bounds:
A. Wald, "Sequential tests of statistical hypotheses", Ann. Math. Statist. 16 (1945).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .counts import outcome_scores, validate_counts, validate_counts_batch
from .elo import score_from_elo

__all__ = ["Decision", "Sprt", "mle_expected", "sprt_llr", "sprt_llr_batch", "wald_bounds"]

Decision = Literal["accept", "reject", "continue"]

_BISECTION_STEPS = 80  # the bracket has width < 1/s + 1/(1-s); 2**-80 of it is below 1 ulp


def _score_of(elo: float, name: str) -> float:
    if not (isinstance(elo, int | float | np.integer | np.floating) and math.isfinite(elo)):
        raise ValueError(f"{name} must be a finite number; got {elo!r}")
    s = float(score_from_elo(float(elo)))
    if not 0.0 < s < 1.0:
        raise ValueError(f"{name} = {elo} is too extreme: its expected score rounds to {s}")
    return s


def _constrained_mle(phat: np.ndarray, a: np.ndarray, s: float) -> np.ndarray:
    """Row-wise MLE of a multinomial on the cell scores ``a`` with expected score ``s``.

    Maximises ``sum_i phat_i log p_i`` over the *whole* simplex subject to ``sum_i p_i a_i = s``.
    ``a`` is ascending from ``a[0] = 0`` to ``a[-1] = 1``. By Lagrange/KKT (Van den Bergh,
    Proposition 1.1) the solution is::

        p_i = phat_i / (1 + x (a_i - s))

    where ``x`` is the root of the strictly decreasing secular function
    ``g(x) = sum_i phat_i (a_i - s) / (1 + x (a_i - s))`` on ``-1/(1-s) <= x <= 1/s`` (the range
    in which every cell's denominator is non-negative). Empty cells get probability 0, with one
    exception: when ``g`` has no root in that range (``s`` is at or below what the observed
    cells can reach, e.g. only wins were seen and ``s < 1``), the optimum is at the end of the
    range, and the mass the observed cells cannot carry goes to the empty extreme cell (score 0
    at ``x = 1/s``, score 1 at ``x = -1/(1-s)``), whose KKT multiplier is then 0. This is the
    exact MLE; fishtest instead adds ``1e-3`` to every empty cell, which guarantees a root.
    """
    t = a - s
    lo, hi = -1.0 / (1.0 - s), 1.0 / s
    obs = phat > 0.0
    rows = phat.shape[0]
    p = np.empty_like(phat)
    # g at the ends of the range, in closed form (1 + x t is exactly a / s, resp. (1-a)/(1-s)).
    with np.errstate(divide="ignore", invalid="ignore"):
        g_hi = s * np.where(obs & (a > 0.0), phat * t / a, 0.0).sum(axis=1)
        g_lo = (1.0 - s) * np.where(obs & (a < 1.0), phat * t / (1.0 - a), 0.0).sum(axis=1)
        at_hi = ~obs[:, 0] & (g_hi >= 0.0)
        at_lo = ~obs[:, -1] & (g_lo <= 0.0) & ~at_hi
        if at_hi.any():
            q = np.where(obs[at_hi], phat[at_hi] * s / a, 0.0)
            q[:, 0] = 1.0 - q[:, 1:].sum(axis=1)
            p[at_hi] = q
        if at_lo.any():
            q = np.where(obs[at_lo], phat[at_lo] * (1.0 - s) / (1.0 - a), 0.0)
            q[:, -1] = 1.0 - q[:, :-1].sum(axis=1)
            p[at_lo] = q
    inner = ~(at_hi | at_lo)
    if inner.any():
        ph = phat[inner]
        xl = np.full(ph.shape[0], lo)
        xh = np.full(ph.shape[0], hi)
        for _ in range(_BISECTION_STEPS):  # vectorised bisection: robust next to the poles
            mid = 0.5 * (xl + xh)
            positive = (ph * t / (1.0 + mid[:, None] * t)).sum(axis=1) > 0.0
            xl = np.where(positive, mid, xl)
            xh = np.where(positive, xh, mid)
        q = ph / (1.0 + (0.5 * (xl + xh))[:, None] * t)
        p[inner] = q / q.sum(axis=1, keepdims=True)
    assert p.shape == (rows, a.size)
    return p


def mle_expected(counts: Iterable[int] | np.ndarray, score: float) -> np.ndarray:
    """Maximum-likelihood outcome distribution with expected score ``score`` given ``counts``.

    See `_constrained_mle` for the formula ``p_i = phat_i / (1 + x (a_i - s))`` and how empty
    cells are treated. Cell scores are ``0, 1/2, 1`` (trinomial) or ``0, 1/4, ..., 1``
    (pentanomial, pair points / 2).

    Args:
        counts: Trinomial or pentanomial counts.
        score: The constrained expected score per game, strictly between 0 and 1.

    Returns:
        Cell probabilities (sum 1, mean ``score``), same length as ``counts``.
    """
    c = validate_counts(counts)
    if not (isinstance(score, int | float | np.floating) and 0.0 < score < 1.0):
        raise ValueError(f"score must lie strictly between 0 and 1; got {score!r}")
    phat = (c / c.sum())[None, :]
    return _constrained_mle(phat, outcome_scores(c.size), float(score))[0]


def _llr_rows(c: np.ndarray, s0: float, s1: float) -> np.ndarray:
    a = outcome_scores(c.shape[1])
    phat = c / c.sum(axis=1, keepdims=True)
    p0 = _constrained_mle(phat, a, s0)
    p1 = _constrained_mle(phat, a, s1)
    observed = c > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(observed, c * (np.log(p1) - np.log(p0)), 0.0)
    return terms.sum(axis=1)


def sprt_llr(counts: Iterable[int] | np.ndarray, elo0: float, elo1: float) -> float:
    """Exact generalized log-likelihood ratio of H1 (``elo1``) against H0 (``elo0``).

    With counts ``n_i``, ``s_k = score_from_elo(elo_k)`` and ``p^(k)`` the maximum-likelihood
    multinomial with expected score ``s_k`` (`mle_expected`)::

        LLR = sum_i n_i log(p^(1)_i / p^(0)_i)

    Cells with ``n_i = 0`` contribute nothing (``0 log`` anything is 0); they still shape the
    fits through the constraint (see `_constrained_mle`). This is fishtest's
    ``LLRcalc.LLR_logistic`` with the ``statistic="expectation"`` MLE (Van den Bergh), without its
    ``1e-3`` regularisation of empty cells, and *not* the normal approximation
    ``N (s1 - s0)(2 s - s0 - s1) / (2 var)`` (``LLR_alt2``), which it approaches for large N.

    For trinomial counts without draws it reduces to the binomial SPRT,
    ``W log(s1 / s0) + L log((1 - s1) / (1 - s0))``.

    Args:
        counts: ``[losses, draws, wins]`` or pentanomial ``[n0, ..., n4]``.
        elo0: Elo of H0 (logistic, 400 scale).
        elo1: Elo of H1.

    Returns:
        The LLR (natural log), positive when the data favour H1.

    Raises:
        ValueError: bad counts or non-finite/extreme Elo values.
    """
    c = validate_counts(counts)
    return float(_llr_rows(c[None, :], _score_of(elo0, "elo0"), _score_of(elo1, "elo1"))[0])


def sprt_llr_batch(counts: np.ndarray, elo0: float, elo1: float) -> np.ndarray:
    """`sprt_llr` for every row of a ``(rows, 3 | 5)`` count array, vectorised (for simulation)."""
    c = validate_counts_batch(counts)
    s0, s1 = _score_of(elo0, "elo0"), _score_of(elo1, "elo1")
    if c.shape[0] == 0:
        return np.zeros(0)
    return _llr_rows(c, s0, s1)


def wald_bounds(alpha: float, beta: float) -> tuple[float, float]:
    """Wald's SPRT stopping bounds ``(log(beta / (1 - alpha)), log((1 - beta) / alpha))``.

    Stopping at the lower bound accepts H0, at the upper bound H1; the resulting error rates are
    at most about ``alpha`` (false H1) and ``beta`` (false H0) (Wald 1945, section 3.2).
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not (isinstance(value, int | float | np.floating) and 0.0 < value < 1.0):
            raise ValueError(f"{name} must lie strictly between 0 and 1; got {value!r}")
    if alpha + beta >= 1.0:
        raise ValueError(f"alpha + beta must be below 1; got {alpha} + {beta}")
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


@dataclass(frozen=True)
class Sprt:
    """A GSPRT of ``elo0`` (H0) against ``elo1`` (H1) with error rates ``alpha`` and ``beta``.

    ``decide`` returns ``"accept"`` (H1: at least ``elo1``) when the LLR reaches the upper Wald
    bound, ``"reject"`` (H0: at most ``elo0``) at the lower bound, and ``"continue"`` otherwise.

    Attributes:
        elo0: Elo under H0.
        elo1: Elo under H1; must exceed ``elo0``.
        alpha: Maximum probability of accepting H1 when H0 holds.
        beta: Maximum probability of rejecting H1 when H1 holds.
    """

    elo0: float
    elo1: float
    alpha: float = 0.05
    beta: float = 0.05

    def __post_init__(self) -> None:
        _score_of(self.elo0, "elo0")
        _score_of(self.elo1, "elo1")
        if not self.elo1 > self.elo0:
            raise ValueError(f"elo1 must exceed elo0; got elo0={self.elo0}, elo1={self.elo1}")
        wald_bounds(self.alpha, self.beta)

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lower, upper)`` = ``(log(beta / (1 - alpha)), log((1 - beta) / alpha))``."""
        return wald_bounds(self.alpha, self.beta)

    def llr(self, counts: Iterable[int] | np.ndarray) -> float:
        """`sprt_llr` of ``counts`` for this test's hypotheses."""
        return sprt_llr(counts, self.elo0, self.elo1)

    def decide_llr(self, llr: float) -> Decision:
        """Map an LLR to a decision with this test's bounds (bounds are inclusive)."""
        lower, upper = self.bounds
        if llr >= upper:
            return "accept"
        if llr <= lower:
            return "reject"
        return "continue"

    def decide(self, counts: Iterable[int] | np.ndarray) -> Decision:
        """``"accept"``, ``"reject"`` or ``"continue"`` for trinomial or pentanomial ``counts``."""
        return self.decide_llr(self.llr(counts))
