"""Logistic Elo, Wilson intervals and `elo_estimate` (pinned values derived by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from ratings import elo_estimate, elo_from_score, score_from_elo, wilson_interval

Z95 = norm.ppf(0.975)


# --- logistic Elo ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elo", "score"),
    [(0.0, 0.5), (400.0, 10 / 11), (-400.0, 1 / 11), (400 * math.log10(3), 0.75)],
)
def test_score_from_elo_pins(elo, score):
    assert score_from_elo(elo) == pytest.approx(score, abs=1e-15)
    assert elo_from_score(score) == pytest.approx(elo, abs=1e-9)


def test_elo_round_trip_and_arrays():
    elos = np.linspace(-1500, 1500, 61)
    np.testing.assert_allclose(elo_from_score(score_from_elo(elos)), elos, atol=1e-8)
    assert isinstance(score_from_elo(10), float)


def test_elo_limits_are_infinite_not_nan():
    assert elo_from_score(1.0) == math.inf
    assert elo_from_score(0.0) == -math.inf
    assert score_from_elo(math.inf) == 1.0
    assert score_from_elo(-math.inf) == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan")])
def test_elo_from_score_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        elo_from_score(bad)


def test_score_from_elo_rejects_nan():
    with pytest.raises(ValueError):
        score_from_elo(float("nan"))


# --- Wilson ------------------------------------------------------------------------------------


def test_wilson_extremes_have_closed_form():
    # p = 0: (0, z^2 / (n + z^2)); p = 1: (n / (n + z^2), 1).
    n = 10
    assert wilson_interval(0, n) == pytest.approx((0.0, Z95**2 / (n + Z95**2)))
    assert wilson_interval(n, n) == pytest.approx((n / (n + Z95**2), 1.0))


def test_wilson_textbook_value():
    # 5 of 10 at 95%: (0.2366, 0.7634), e.g. Newcombe (1998), Table I.
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4)
    assert high == pytest.approx(0.7634, abs=1e-4)


def test_wilson_contains_p_exactly_at_the_ends():
    """Regression: rounding put the lower end of the 0-of-24 interval at 1.4e-17 > p = 0."""
    assert wilson_interval(0, 24)[0] == 0.0
    assert wilson_interval(24, 24)[1] == 1.0


def test_wilson_fractional_successes_and_width_shrinks():
    # 6 wins, 3 draws, 1 loss = 7.5 points of 10.
    low, high = wilson_interval(7.5, 10)
    assert low < 0.75 < high
    low99, high99 = wilson_interval(7.5, 10, confidence=0.99)
    assert low99 < low and high99 > high
    low_big, high_big = wilson_interval(750, 1000)
    assert high_big - low_big < high - low


@pytest.mark.parametrize(
    ("successes", "n", "confidence"),
    [(1, 0, 0.95), (-1, 10, 0.95), (11, 10, 0.95), (5, 10, 1.0), (5, 10, 0.0), (math.nan, 10, 0.9)],
)
def test_wilson_rejects_bad_input(successes, n, confidence):
    with pytest.raises(ValueError):
        wilson_interval(successes, n, confidence)


# --- elo_estimate ------------------------------------------------------------------------------


def test_sixty_forty_without_draws_is_400_log10_1_5():
    est = elo_estimate([40, 0, 60])
    assert est.elo == pytest.approx(400 * math.log10(1.5), abs=1e-9)  # 70.4365
    assert est.score == pytest.approx(0.6)
    se = math.sqrt(0.6 * 0.4 / 100)
    assert est.score_se == pytest.approx(se)
    assert est.score_ci == pytest.approx((0.6 - Z95 * se, 0.6 + Z95 * se))
    assert est.ci == pytest.approx(tuple(elo_from_score(np.array(est.score_ci))))
    assert est.los == pytest.approx(norm.cdf(0.1 / se))  # 0.97938
    assert est.kind == "trinomial" and est.n == 100


def test_draws_count_half():
    est = elo_estimate([30, 20, 50])  # 60 points of 100
    assert est.score == pytest.approx(0.6)
    # Draws shrink the variance: E[x^2] - s^2 = 0.5 + 0.2 / 4 - 0.36.
    assert est.score_se == pytest.approx(math.sqrt((0.55 - 0.36) / 100))


def test_symmetric_pentanomial_is_elo_zero():
    est = elo_estimate([5, 10, 20, 10, 5])
    assert est.elo == 0.0
    assert est.los == pytest.approx(0.5)
    assert est.ci[0] == pytest.approx(-est.ci[1])
    assert est.kind == "pentanomial" and est.n == 50


def test_pentanomial_variance_comes_from_pairs():
    """Guards against treating the games of a pair as independent.

    100 pairs: 10 lost both games, 80 split 1-1 (a win and a loss), 10 won both. As 200
    independent games this is [100, 0, 100] with variance 1/4 per game; as pairs the normalised
    pair score has variance 0.2 * (1/2)**2 = 0.05, so the standard error shrinks by sqrt(0.4).
    """
    pairs = elo_estimate([10, 0, 80, 0, 10])
    games = elo_estimate([100, 0, 100])
    assert pairs.score == games.score == 0.5
    assert pairs.score_se == pytest.approx(math.sqrt(0.05 / 100))
    assert games.score_se == pytest.approx(math.sqrt(0.25 / 200))
    assert pairs.score_se / games.score_se == pytest.approx(math.sqrt(0.4))


def test_sweep_is_infinite_elo_with_an_honest_interval():
    """All units in one cell: Wilson interval, not a zero-width one (documented zero-cell rule)."""
    est = elo_estimate([0, 0, 0, 0, 20])
    assert est.score == 1.0 and est.elo == math.inf and est.los == 1.0
    assert est.score_ci == pytest.approx(wilson_interval(20, 20))
    assert math.isfinite(est.ci[0]) and est.ci[0] > 0 and est.ci[1] == math.inf
    lost = elo_estimate([20, 0, 0])
    assert lost.elo == -math.inf and lost.los == 0.0


def test_all_draws_is_not_a_zero_width_interval():
    est = elo_estimate([0, 12, 0])
    assert est.elo == 0.0 and est.los == 0.5
    assert est.score_ci == pytest.approx(wilson_interval(6, 12))


def test_confidence_controls_width():
    narrow = elo_estimate([30, 20, 50], confidence=0.8)
    wide = elo_estimate([30, 20, 50], confidence=0.99)
    assert wide.ci[0] < narrow.ci[0] < narrow.elo < narrow.ci[1] < wide.ci[1]
    with pytest.raises(ValueError):
        elo_estimate([30, 20, 50], confidence=1.5)


def test_invariants_on_random_counts():
    """Intervals ordered and containing the estimate; swapping players negates Elo."""
    rng = np.random.default_rng(42)
    for _ in range(300):
        size = rng.choice([3, 5])
        counts = rng.integers(0, 30, size) * (rng.random(size) < 0.8)
        if counts.sum() == 0:
            continue
        est = elo_estimate(counts)
        assert 0.0 <= est.score_ci[0] <= est.score <= est.score_ci[1] <= 1.0
        assert est.ci[0] <= est.elo <= est.ci[1]
        assert 0.0 <= est.los <= 1.0
        swapped = elo_estimate(counts[::-1])
        assert swapped.score == pytest.approx(1.0 - est.score)
        if math.isfinite(est.elo):
            assert swapped.elo == pytest.approx(-est.elo, abs=1e-9)
            assert swapped.ci == pytest.approx((-est.ci[1], -est.ci[0]), abs=1e-9)
        assert swapped.los == pytest.approx(1.0 - est.los, abs=1e-12)


def test_to_dict_is_plain():
    d = elo_estimate([40, 0, 60]).to_dict()
    assert isinstance(d["ci"], list) and d["kind"] == "trinomial"
