"""The GSPRT log-likelihood ratio, the constrained MLE behind it, and Wald's bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from ratings import Sprt, mle_expected, score_from_elo, sprt_llr, sprt_llr_batch, wald_bounds

BOUND = math.log(0.95 / 0.05)  # 2.9444389791664403


# Reference values from fishtest's algorithm (LLRcalc.LLR_logistic: regularize, MLE_expected by
# brentq on the secular equation, N * sum p log(p1/p0)); no zero cells, so its 1e-3
# regularisation does not apply. The first two are the pentanomial and trinomial of the example
# run at the bottom of fishtest's stat_util.py.
FISHTEST_REFERENCE = [
    ([10789, 19328, 33806, 19402, 10543], -3, 1, 2.131067811794),
    ([65804, 56553, 65388], -3, 1, 2.049042617982),
    ([1187, 7410, 13475, 7378, 1164], -3, 1, 2.861527180592),
    ([39, 2226, 31451, 2412, 40], 0.2, 0.9, 2.162542580050),
    ([5, 12, 30, 25, 9], 0, 35, 2.246032380247),
    ([20, 35, 41], 0, 35, 2.585340374853),
]


@pytest.mark.parametrize(("counts", "elo0", "elo1", "llr"), FISHTEST_REFERENCE)
def test_llr_matches_fishtest_reference(counts, elo0, elo1, llr):
    assert sprt_llr(counts, elo0, elo1) == pytest.approx(llr, abs=1e-8)


def test_no_draws_reduces_to_the_binomial_sprt():
    s0, s1 = 0.5, score_from_elo(35.0)
    expected = 60 * math.log(s1 / s0) + 40 * math.log((1 - s1) / (1 - s0))
    assert sprt_llr([40, 0, 60], 0, 35) == pytest.approx(expected, abs=1e-10)


def test_symmetric_pentanomial_has_negative_llr():
    """At score 1/2 the H0 fit is the data itself, so LLR = -N * KL(phat || p1) < 0."""
    counts = np.array([5, 10, 20, 10, 5])
    llr = sprt_llr(counts, 0, 35)
    phat = counts / counts.sum()
    p1 = mle_expected(counts, score_from_elo(35))
    assert llr == pytest.approx(-counts.sum() * np.sum(phat * np.log(phat / p1)), abs=1e-10)
    assert llr < 0


def test_llr_zero_when_hypotheses_coincide():
    assert sprt_llr([3, 4, 5], 10, 10) == 0.0


def test_llr_increases_with_wins():
    rng = np.random.default_rng(7)
    for _ in range(200):
        size = rng.choice([3, 5])
        counts = rng.integers(0, 40, size)
        counts[rng.integers(size)] += 1
        base = sprt_llr(counts, 0, 35)
        more_wins = counts.copy()
        more_wins[-1] += 1
        more_losses = counts.copy()
        more_losses[0] += 1
        assert sprt_llr(more_wins, 0, 35) > base > sprt_llr(more_losses, 0, 35)


def test_swapping_players_mirrors_the_hypotheses():
    """Reversed counts are the opponent's view: score a -> 1 - a, so H_k becomes elo -elo_k."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        counts = rng.integers(0, 20, rng.choice([3, 5]))
        counts[0] += 1
        assert sprt_llr(counts[::-1], 0, -35) == pytest.approx(sprt_llr(counts, 0, 35), abs=1e-9)


def test_large_samples_approach_the_normal_approximation():
    """LLR -> N (s1 - s0)(2 s - s0 - s1) / (2 var) (fishtest LLR_alt2) as N grows."""
    counts = np.array([900, 2000, 3800, 2200, 1100])
    a = np.linspace(0, 1, 5)
    phat = counts / counts.sum()
    s = phat @ a
    var = phat @ (a - s) ** 2
    s0, s1 = 0.5, score_from_elo(10)
    approx = counts.sum() * (s1 - s0) * (2 * s - s0 - s1) / (2 * var)
    assert sprt_llr(counts, 0, 10) == pytest.approx(approx, rel=0.01)


# --- the constrained MLE, zero cells included --------------------------------------------------


def _brute_force_mle(counts: np.ndarray, s: float, rng: np.random.Generator) -> float:
    """Best log-likelihood SLSQP finds over the whole simplex with mean s."""
    a = np.linspace(0, 1, counts.size)

    def negll(p):
        return -np.sum(np.where(counts > 0, counts * np.log(np.maximum(p, 1e-300)), 0.0))

    constraints = [
        {"type": "eq", "fun": lambda p: p.sum() - 1},
        {"type": "eq", "fun": lambda p: p @ a - s},
    ]
    best = math.inf
    for _ in range(4):
        res = minimize(
            negll,
            rng.dirichlet(np.ones(counts.size)),
            method="SLSQP",
            bounds=[(0, 1)] * counts.size,
            constraints=constraints,
            options={"ftol": 1e-14, "maxiter": 500},
        )
        if res.success and abs(res.x.sum() - 1) < 1e-8 and abs(res.x @ a - s) < 1e-8:
            best = min(best, res.fun)
    return best


def test_constrained_mle_is_the_maximum_over_the_simplex():
    """Includes empty cells and constraints the observed cells cannot meet on their own."""
    rng = np.random.default_rng(11)
    checked = 0
    while checked < 40:
        size = rng.choice([3, 5])
        counts = rng.integers(0, 6, size) * (rng.random(size) < 0.6)
        if counts.sum() == 0:
            continue
        s = float(rng.uniform(0.05, 0.95))
        p = mle_expected(counts, s)
        a = np.linspace(0, 1, size)
        assert p.min() >= 0 and p.sum() == pytest.approx(1, abs=1e-12)
        assert p @ a == pytest.approx(s, abs=1e-12)
        ours = -np.sum(np.where(counts > 0, counts * np.log(np.where(counts > 0, p, 1)), 0))
        assert ours <= _brute_force_mle(counts, s, rng) + 1e-7
        checked += 1


def test_only_wins_puts_the_missing_mass_on_losses():
    """Zero-cell rule: with only wins seen, the MLE with mean s is s wins, 1 - s losses."""
    np.testing.assert_allclose(mle_expected([0, 0, 10], 0.6), [0.4, 0.0, 0.6], atol=1e-14)
    np.testing.assert_allclose(mle_expected([0, 0, 0, 0, 10], 0.6), [0.4, 0, 0, 0, 0.6], atol=1e-14)
    s0, s1 = 0.5, score_from_elo(35)
    assert sprt_llr([0, 0, 0, 0, 10], 0, 35) == pytest.approx(10 * math.log(s1 / s0), abs=1e-12)


def test_only_draws_moves_mass_to_wins_under_h1():
    # Mean 1/2 fits all-draws exactly; mean s1 > 1/2 needs 2 s1 - 1 wins: p_draw = 2 (1 - s1).
    s1 = score_from_elo(35)
    np.testing.assert_allclose(mle_expected([0, 7, 0], s1), [0, 2 * (1 - s1), 2 * s1 - 1])
    assert sprt_llr([0, 7, 0], 0, 35) == pytest.approx(7 * math.log(2 * (1 - s1)), abs=1e-12)


def test_batch_matches_scalar():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 50, (64, 5))
    counts[:, 2] += 1
    batch = sprt_llr_batch(counts, 0, 35)
    np.testing.assert_allclose(batch, [sprt_llr(c, 0, 35) for c in counts], atol=1e-10)


@pytest.mark.parametrize(("elo0", "elo1"), [(math.nan, 1), (0, math.inf), (0, 1e6), ("0", 1)])
def test_llr_rejects_bad_hypotheses(elo0, elo1):
    with pytest.raises(ValueError):
        sprt_llr([1, 2, 3], elo0, elo1)


# --- Wald bounds and the Sprt object -----------------------------------------------------------


def test_wald_bounds():
    assert wald_bounds(0.05, 0.05) == pytest.approx((-BOUND, BOUND))
    assert wald_bounds(0.05, 0.1) == pytest.approx((math.log(0.1 / 0.95), math.log(0.9 / 0.05)))


def test_sprt_decisions():
    sprt = Sprt(0, 35)
    assert sprt.bounds == pytest.approx((-BOUND, BOUND))
    assert sprt.decide([0, 0, 0, 0, 31]) == "accept"  # 31 log(1.1) = 2.955
    assert sprt.decide([0, 0, 0, 0, 30]) == "continue"  # 30 log(1.1) = 2.859
    assert sprt.decide([20, 40, 80, 40, 20]) == "reject"
    assert sprt.decide_llr(BOUND) == "accept" and sprt.decide_llr(-BOUND) == "reject"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"elo0": 10, "elo1": 10},
        {"elo0": 10, "elo1": 0},
        {"elo0": 0, "elo1": 5, "alpha": 0},
        {"elo0": 0, "elo1": 5, "beta": 1},
        {"elo0": 0, "elo1": 5, "alpha": 0.6, "beta": 0.5},
        {"elo0": math.nan, "elo1": 5},
    ],
)
def test_sprt_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        Sprt(**kwargs)
