"""Bradley-Terry ratings: closed-form pins, invariances, the bootstrap and bad input."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from ratings import bradley_terry

LOG3 = 400 * math.log10(3)  # 190.85 Elo = 3:1 odds


def _rows(a, b, wins, draws, losses):
    return [(a, b, 1.0)] * wins + [(a, b, 0.5)] * draws + [(a, b, 0.0)] * losses


def test_two_players_sixty_forty_is_400_log10_1_5():
    result = bradley_terry(_rows("a", "b", 60, 0, 40), bootstrap=0, prior_draws=0)
    gap = 400 * math.log10(1.5)
    assert result["a"].rating == pytest.approx(1000 + gap / 2, abs=1e-6)
    assert result["b"].rating == pytest.approx(1000 - gap / 2, abs=1e-6)
    assert result.players == ["a", "b"]
    assert result["a"].games == 100 and result["a"].score == pytest.approx(0.6)


def test_consistent_three_player_data_is_fitted_exactly():
    # 3:1, 3:1 and 9:1 odds are exactly Bradley-Terry, so the MLE reproduces them.
    rows = _rows("a", "b", 75, 0, 25) + _rows("b", "c", 75, 0, 25) + _rows("a", "c", 90, 0, 10)
    result = bradley_terry(rows, bootstrap=0, prior_draws=0, anchor="c", anchor_rating=1500)
    assert result["c"].rating == 1500
    assert result["b"].rating == pytest.approx(1500 + LOG3, abs=1e-6)
    assert result["a"].rating == pytest.approx(1500 + 2 * LOG3, abs=1e-6)


def test_draws_are_half_wins():
    with_draws = bradley_terry(_rows("a", "b", 50, 20, 30), bootstrap=0, prior_draws=0)
    without = bradley_terry(_rows("a", "b", 60, 0, 40), bootstrap=0, prior_draws=0)
    assert with_draws["a"].rating == pytest.approx(without["a"].rating, abs=1e-9)


def test_mean_anchor():
    rows = _rows("a", "b", 30, 10, 20) + _rows("b", "c", 25, 5, 30) + _rows("c", "a", 12, 3, 9)
    result = bradley_terry(rows, bootstrap=0, anchor_rating=1500)
    assert np.mean([r.rating for r in result.ratings]) == pytest.approx(1500)


def _league(seed: int = 0, games: int = 6000):
    rng = np.random.default_rng(seed)
    true = {"p0": 1200.0, "p1": 1100.0, "p2": 1000.0, "p3": 1000.0, "p4": 850.0}
    names = list(true)
    rows = []
    for _ in range(games):
        i, j = rng.choice(len(names), 2, replace=False)
        a, b = names[i], names[j]
        p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
        rows.append((a, b, 1.0 if rng.random() < p else 0.0))
    return true, rows


def test_recovers_true_ratings_and_covers_them():
    true, rows = _league()
    result = bradley_terry(rows, bootstrap=300, seed=1)
    offset = np.mean(list(true.values())) - 1000
    for name, rating in true.items():
        row = result[name]
        assert row.rating == pytest.approx(rating - offset, abs=25)
        assert row.ci[0] - 5 <= rating - offset <= row.ci[1] + 5
    assert result.players[0] == "p0" and result.players[-1] == "p4"


def test_invariant_to_row_order_and_seat_order():
    _, rows = _league(games=1500)
    shuffled = [(b, a, 1.0 - s) if i % 2 else (a, b, s) for i, (a, b, s) in enumerate(rows)]
    random.Random(4).shuffle(shuffled)
    one = bradley_terry(rows, bootstrap=100, seed=5)
    two = bradley_terry(shuffled, bootstrap=100, seed=5)
    assert one.players == two.players
    for x, y in zip(one.ratings, two.ratings, strict=True):
        assert x.rating == pytest.approx(y.rating, abs=1e-9)
        assert x.ci == pytest.approx(y.ci, abs=1e-9)
        assert (x.rank, x.games, x.score) == (y.rank, y.games, y.score)


def test_aggregated_rows_equal_game_rows():
    rows = _rows("a", "b", 30, 10, 20) + _rows("c", "b", 25, 5, 30) + _rows("c", "a", 12, 3, 9)
    counts = [("a", "b", 30, 10, 20), ("c", "b", 25, 5, 30), ("a", "c", 9, 3, 12)]
    one = bradley_terry(rows, bootstrap=50, seed=2)
    two = bradley_terry(counts, bootstrap=50, seed=2)
    for x, y in zip(one.ratings, two.ratings, strict=True):
        assert (x.player, x.games, x.rank) == (y.player, y.games, y.rank)
        assert x.rating == pytest.approx(y.rating, abs=1e-9)
        assert x.ci == pytest.approx(y.ci, abs=1e-9)


def test_bootstrap_is_seeded_and_intervals_hold_the_fit():
    _, rows = _league(games=800)
    one = bradley_terry(rows, bootstrap=200, seed=3)
    again = bradley_terry(rows, bootstrap=200, seed=3)
    other = bradley_terry(rows, bootstrap=200, seed=4)
    assert one.to_dict() == again.to_dict()
    assert one.to_dict() != other.to_dict()
    for row in one.ratings:
        assert row.ci[0] <= row.rating <= row.ci[1]
        assert row.ci[1] - row.ci[0] > 1
    wide = bradley_terry(rows, bootstrap=200, seed=3, confidence=0.99)
    for narrow_row, wide_row in zip(one.ratings, wide.ratings, strict=True):
        assert wide_row.ci[0] <= narrow_row.ci[0] and wide_row.ci[1] >= narrow_row.ci[1]


def test_rank_counts_players_entirely_above():
    _, rows = _league(games=3000)
    result = bradley_terry(rows, bootstrap=200, seed=0)
    for row in result.ratings:
        above = sum(other.ci[0] > row.ci[1] for other in result.ratings)
        assert row.rank == 1 + above
    assert result["p0"].rank == 1
    assert result["p2"].rank == result["p3"].rank  # equal true ratings: overlapping intervals


def test_named_anchor_has_a_degenerate_interval():
    _, rows = _league(games=800)
    result = bradley_terry(rows, bootstrap=100, anchor="p2", anchor_rating=0.0)
    assert result["p2"].rating == 0.0 and result["p2"].ci == (0.0, 0.0)
    assert result.anchor == "p2"


def test_sweep_gets_a_finite_rating_from_the_prior():
    """Documented regularisation: one virtual draw per player keeps a perfect record finite."""
    rows = _rows("a", "b", 10, 0, 0) + _rows("b", "c", 5, 2, 5)
    result = bradley_terry(rows, bootstrap=100)
    assert all(math.isfinite(r.rating) and math.isfinite(r.ci[1]) for r in result.ratings)
    assert result["a"].rating > result["b"].rating + 200
    with pytest.raises(ValueError, match="prior_draws"):
        bradley_terry(rows, bootstrap=0, prior_draws=0)


def test_prior_is_negligible_with_many_games():
    rows = _rows("a", "b", 600, 0, 400)
    plain = bradley_terry(rows, bootstrap=0, prior_draws=0)
    prior = bradley_terry(rows, bootstrap=0, prior_draws=1)
    assert prior["a"].rating == pytest.approx(plain["a"].rating, abs=0.1)


def test_bootstrap_without_prior_fails_loudly_when_a_resample_has_no_mle():
    with pytest.raises(ValueError, match="bootstrap resample"):
        bradley_terry(_rows("a", "b", 2, 0, 1), bootstrap=50, prior_draws=0)


def test_roster():
    rows = _rows("a", "b", 3, 1, 2)
    result = bradley_terry(rows, bootstrap=0, players=["b", "a"])
    assert set(result.players) == {"a", "b"}
    with pytest.raises(ValueError, match="unknown players"):
        bradley_terry(rows, players=["a"])
    with pytest.raises(ValueError, match="no games"):
        bradley_terry(rows, players=["a", "b", "c"])
    with pytest.raises(ValueError, match="duplicates"):
        bradley_terry(rows, players=["a", "b", "a"])


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([], {}, "no results"),
        ([("a", "b", 0.7)], {}, "score_a"),
        ([("a", "b", "win")], {}, "numbers"),
        ([("a", "b", float("nan"))], {}, "finite"),
        ([("a", "a", 1.0)], {}, "themself"),
        ([("a", "b", 1.0), ("a", "b", 1, 0, 0)], {}, "all be"),
        ([("a", "b")], {}, "all be"),
        ([("a", "b", -1, 0, 2)], {}, "non-negative"),
        ([("a", "b", 0, 0, 0), ("a", "c", 1, 0, 1)], {}, "no games"),
        ([("a", "b", 1.0), ("c", "d", 0.0)], {}, "groups"),
        ([("a", "b", 1.0)], {"anchor": "z"}, "anchor"),
        ([("a", "b", 1.0)], {"bootstrap": -1}, "bootstrap"),
        ([("a", "b", 1.0)], {"confidence": 0}, "confidence"),
        ([("a", "b", 1.0)], {"prior_draws": -1}, "prior_draws"),
        ([1, 2, 3], {}, "row"),
        ([(["a"], "b", 1.0)], {}, "hashable"),
    ],
)
def test_bad_input(rows, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bradley_terry(rows, **kwargs)


def test_accepts_a_generator_and_non_string_players():
    result = bradley_terry(((i % 3, (i + 1) % 3, float(i % 2)) for i in range(60)), bootstrap=20)
    assert sorted(result.players) == [0, 1, 2]


def test_bootstrap_chord_iteration_matches_newton():
    """The frozen-Hessian solver used for bootstrap rounds converges to the same MLE as Newton,
    including a sparse resample far from the full-data fit (where it falls back to Newton)."""
    from ratings.bt_fit import Problem

    rng = np.random.default_rng(0)
    pi, pj = np.array([0, 0, 1, 1, 2]), np.array([1, 2, 2, 3, 3])
    full = np.array([[30, 5, 15], [20, 10, 20], [25, 0, 25], [5, 5, 40], [12, 6, 12]])
    for prior in (1.0, 0.0):
        problem = Problem(4, pi, pj, prior)
        s_hat = (full[:, 0] + 0.5 * full[:, 1])[None, :].astype(float)
        g_hat = full.sum(axis=1)[None, :].astype(float)
        theta_hat = problem.fit(s_hat, g_hat, np.zeros((1, 4)))[0]
        inv_hess = np.linalg.inv(problem.neg_hessian(theta_hat[None, :], g_hat)[0])
        draws = rng.multinomial(full.sum(), full.ravel() / full.sum(), size=50).reshape(50, -1, 3)
        draws[0] = [[1, 0, 9], [9, 0, 1], [1, 0, 1], [0, 0, 3], [2, 0, 1]]  # far from the fit
        s = draws[:, :, 0] + 0.5 * draws[:, :, 1]
        g = draws.sum(axis=2).astype(float)
        chord = problem.fit_near(s, g, theta_hat, inv_hess)
        newton = problem.fit(s, g, np.zeros((50, 4)))
        np.testing.assert_allclose(
            chord - chord.mean(1, keepdims=True), newton - newton.mean(1, keepdims=True), atol=1e-8
        )
