"""Count layouts, converters and the validation every estimator shares."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import (
    elo_estimate,
    pentanomial_from_pair_scores,
    sprt_llr,
    trinomial_from_results,
    validate_counts,
)
from ratings.sprt import sprt_llr_batch


def test_pentanomial_from_pair_totals():
    assert pentanomial_from_pair_scores([0, 0.5, 2, 2, 1.5, 1]) == [1, 1, 1, 1, 2]


def test_pentanomial_from_two_game_columns():
    # (1, 0) and (0.5, 0.5) are both 1 point: the pentanomial cannot tell them apart.
    pairs = [(1, 0), (0.5, 0.5), (1, 1), (0, 0.5)]
    assert pentanomial_from_pair_scores(pairs) == [0, 1, 2, 0, 1]


def test_pentanomial_empty_input_counts_nothing():
    assert pentanomial_from_pair_scores([]) == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("bad", [[0.25], [2.5], [-0.5], [float("nan")], [[1, 0.3]], [[1, 0, 1]]])
def test_pentanomial_rejects_impossible_scores(bad):
    with pytest.raises(ValueError):
        pentanomial_from_pair_scores(bad)


def test_trinomial_from_results():
    assert trinomial_from_results([1, 1, 0.5, 0, 1]) == [1, 1, 3]


@pytest.mark.parametrize("bad", [[2], [0.25], [[1, 0]], ["win"]])
def test_trinomial_rejects_impossible_scores(bad):
    with pytest.raises(ValueError):
        trinomial_from_results(bad)


def test_validate_counts_accepts_integral_floats():
    out = validate_counts([1.0, 2.0, 3.0])
    assert out.dtype == np.int64 and out.tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1, 2], "length 3"),
        ([1, 2, 3, 4], "length 3"),
        ([1, 2, 3, 4, 5, 6], "length 3"),
        ([1, -1, 3], "non-negative"),
        ([1, 2.5, 3], "integers"),
        ([1, float("nan"), 3], "finite"),
        ([1, float("inf"), 3], "finite"),
        ([0, 0, 0], "all zero"),
        ([0, 0, 0, 0, 0], "all zero"),
        (["1", "2", "3"], "dtype"),
        ([True, False, True], "dtype"),
        ([[1, 2, 3]], "one-dimensional"),
        ([1, [2], 3], "non-negative integers"),
    ],
)
def test_bad_counts_raise_value_error_everywhere(counts, message):
    """Guards against silent NaN: every entry point rejects the same bad input clearly."""
    with pytest.raises(ValueError, match=message):
        validate_counts(counts)
    with pytest.raises(ValueError):
        elo_estimate(counts)
    with pytest.raises(ValueError):
        sprt_llr(counts, 0, 10)


def test_batch_rejects_an_all_zero_row():
    with pytest.raises(ValueError, match="all zero"):
        sprt_llr_batch(np.array([[1, 2, 3], [0, 0, 0]]), 0, 10)
