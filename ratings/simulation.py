"""Seeded simulation of the gate and of the fixed-sample test it replaces (tests, benchmark).

Pair model: each game follows the BayesElo trinomial (R. Coulom, BayesElo; fishtest
``stat_util.bayeselo_to_proba``) with a draw parameter and a first-move (seat) advantage::

    P(win)  = 1 / (1 + 10**((draw_elo - elo - seat) / 400))
    P(loss) = 1 / (1 + 10**((draw_elo + elo + seat) / 400))
    P(draw) = 1 - P(win) - P(loss)

where ``seat = +seat_elo`` in the game in which the candidate has the first move and
``-seat_elo`` in the other. A pair is those two games, independent given the seats, so its
pentanomial distribution is the convolution of the two trinomials. The seat advantage is what
makes the games of a pair negatively correlated (a pair tends to split 1-1), and what the
pentanomial variance captures. ``elo`` is solved so that the expected score per game equals the
requested true score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from .counts import PENTANOMIAL_SCORES
from .gate import GateConfig
from .sprt import _llr_rows

__all__ = [
    "GateSimulation",
    "PairModel",
    "bayeselo_trinomial",
    "fixed_sample_pairs",
    "pair_model",
    "simulate_fixed_sample",
    "simulate_gate",
]


def bayeselo_trinomial(elo: float, draw_elo: float) -> np.ndarray:
    """``[P(loss), P(draw), P(win)]`` of one game under the BayesElo model (see module doc)."""
    win = 1.0 / (1.0 + 10.0 ** ((draw_elo - elo) / 400.0))
    loss = 1.0 / (1.0 + 10.0 ** ((draw_elo + elo) / 400.0))
    return np.array([loss, 1.0 - win - loss, win])


@dataclass(frozen=True)
class PairModel:
    """Outcome distribution of a seat-swapped pair with a given true score per game.

    Attributes:
        score: True expected score per game of the candidate.
        draw_elo: BayesElo draw parameter (larger means more draws).
        seat_elo: First-move advantage in Elo.
        elo: BayesElo strength difference that yields ``score``.
        pentanomial: Probabilities of pair points 0, 1/2, 1, 3/2, 2.
    """

    score: float
    draw_elo: float
    seat_elo: float
    elo: float
    pentanomial: tuple[float, float, float, float, float]

    @property
    def probs(self) -> np.ndarray:
        return np.array(self.pentanomial)

    @property
    def variance(self) -> float:
        """Variance of the normalised pair score (points / 2): ``sum p_i (a_i - score)**2``."""
        return float(self.probs @ (PENTANOMIAL_SCORES - self.score) ** 2)

    @property
    def draw_rate(self) -> float:
        """Fraction of single games that are draws."""
        first = bayeselo_trinomial(self.elo + self.seat_elo, self.draw_elo)
        second = bayeselo_trinomial(self.elo - self.seat_elo, self.draw_elo)
        return float((first[1] + second[1]) / 2.0)


def pair_model(score: float, draw_elo: float = 100.0, seat_elo: float = 100.0) -> PairModel:
    """Build the `PairModel` whose expected score per game is ``score`` (0 < score < 1)."""
    if not 0.0 < score < 1.0:
        raise ValueError(f"score must lie strictly between 0 and 1; got {score}")

    def games(elo: float) -> tuple[np.ndarray, np.ndarray]:
        return (
            bayeselo_trinomial(elo + seat_elo, draw_elo),
            bayeselo_trinomial(elo - seat_elo, draw_elo),
        )

    def excess(elo: float) -> float:
        first, second = games(elo)
        return float((first[2] + first[1] / 2 + second[2] + second[1] / 2) / 2 - score)

    elo = float(brentq(excess, -4000.0, 4000.0, xtol=1e-12))
    first, second = games(elo)
    pent = np.convolve(first, second)
    return PairModel(score, draw_elo, seat_elo, elo, tuple(float(p) for p in pent))  # type: ignore[arg-type]


@dataclass(frozen=True)
class GateSimulation:
    """Results of `simulate_gate`, one entry per simulated run.

    Attributes:
        accepted: True where the gate promoted the candidate.
        inconclusive: True where the gate rejected at ``max_pairs`` without an SPRT decision.
        pairs: Pairs played until the decision.
    """

    accepted: np.ndarray
    inconclusive: np.ndarray
    pairs: np.ndarray

    @property
    def accept_rate(self) -> float:
        return float(self.accepted.mean())


def _sample_pairs(
    rng: np.random.Generator, probs: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(shape), side="right"), probs.size - 1)


def simulate_gate(
    probs: np.ndarray | tuple[float, ...],
    config: GateConfig,
    runs: int,
    seed: int = 0,
    *,
    block: int = 64,
    chunk_runs: int = 500,
) -> GateSimulation:
    """Play ``runs`` independent gates to completion on i.i.d. pairs drawn from ``probs``.

    Exactly the rules of `ratings.gate.gate_decide`, evaluated after every pair (vectorised over
    runs and over blocks of pair counts, dropping runs once they have decided).

    Args:
        probs: Pentanomial pair-outcome probabilities (e.g. ``pair_model(0.5).probs``).
        config: The gate.
        runs: Number of simulated gates.
        seed: Seed of ``numpy.random.default_rng``.
        block: Pair counts evaluated per vectorised step.
        chunk_runs: Runs simulated at once (bounds memory: ``chunk_runs * max_pairs * 5`` ints).
    """
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (5,) or np.any(probs < 0) or not math.isclose(probs.sum(), 1.0):
        raise ValueError(f"probs must be 5 pentanomial probabilities summing to 1; got {probs}")
    rng = np.random.default_rng(seed)
    sprt = config.sprt
    s0, s1 = 0.5, 0.5 + config.margin
    lower, upper = sprt.bounds
    accepted = np.zeros(runs, dtype=bool)
    inconclusive = np.zeros(runs, dtype=bool)
    pairs = np.full(runs, config.max_pairs, dtype=np.int64)
    for start in range(0, runs, chunk_runs):
        n = min(chunk_runs, runs - start)
        outcome = _sample_pairs(rng, probs, (n, config.max_pairs))
        counts = np.zeros((n, config.max_pairs, 5), dtype=np.int32)
        np.put_along_axis(counts, outcome[:, :, None], 1, axis=2)
        np.cumsum(counts, axis=1, out=counts)
        active = np.arange(n)
        for t0 in range(config.min_pairs - 1, config.max_pairs, block):
            t1 = min(t0 + block, config.max_pairs)
            rows = counts[active, t0:t1].reshape(-1, 5)
            llr = _llr_rows(rows.astype(np.int64), s0, s1).reshape(active.size, t1 - t0)
            hit = (llr >= upper) | (llr <= lower)
            done = hit.any(axis=1)
            first = hit.argmax(axis=1)
            idx = start + active[done]
            pairs[idx] = t0 + first[done] + 1
            accepted[idx] = llr[done, first[done]] >= upper
            active = active[~done]
            if active.size == 0:
                break
        inconclusive[start + active] = True  # reached max_pairs: rejected, champion stays
    return GateSimulation(accepted=accepted, inconclusive=inconclusive, pairs=pairs)


def fixed_sample_pairs(variance: float, margin: float, alpha: float, beta: float) -> int:
    """Pairs a one-sided fixed-sample z-test needs for the same hypotheses and error rates.

    Test ``s = 1/2`` against ``s = 1/2 + margin`` with known per-pair variance ``v`` (normalised
    pair score): accept when the mean exceeds ``1/2 + z_{1-alpha} sqrt(v / n)``. Power
    ``1 - beta`` at ``1/2 + margin`` needs ``n = ((z_{1-alpha} + z_{1-beta}) sqrt(v) / margin)**2``
    (rounded up).
    """
    z = norm.ppf(1.0 - alpha) + norm.ppf(1.0 - beta)
    return math.ceil((z * math.sqrt(variance) / margin) ** 2)


def simulate_fixed_sample(
    probs: np.ndarray | tuple[float, ...],
    n_pairs: int,
    variance: float,
    alpha: float,
    runs: int,
    seed: int = 0,
) -> float:
    """Accept rate of the fixed-sample z-test of `fixed_sample_pairs` over ``runs`` samples."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_pairs, np.asarray(probs, dtype=float), size=runs)
    mean = counts @ PENTANOMIAL_SCORES / n_pairs
    threshold = 0.5 + norm.ppf(1.0 - alpha) * math.sqrt(variance / n_pairs)
    return float((mean > threshold).mean())
