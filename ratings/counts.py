"""Outcome counts: the two layouts used throughout :mod:`ratings`, validation and converters.

* **Trinomial** ``[losses, draws, wins]``: single games, scored 0, 1/2 and 1.
* **Pentanomial** ``[n0, n1, n2, n3, n4]``: seat-swapped game pairs (the same two players, each
  seat once), where ``n_k`` counts the pairs in which the player scored ``k/2`` points out of 2
  (LL, LD+DL, LW+DD+WL, DW+WD, WW). Per-pair scores are normalised to ``[0, 1]`` as
  ``0, 1/4, 1/2, 3/4, 1`` so that the mean of a pentanomial sample is the expected score of a
  *game*, directly comparable with a trinomial sample.

The pentanomial layout is the one the engine-testing frameworks (fishtest, OpenBench, cutechess)
use: the two games of a pair share an opening and differ only in who moves first, so their
results are correlated; counting pairs keeps that correlation in the variance instead of
pretending the games are independent (fishtest ``LLRcalc.py`` module docstring).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

__all__ = [
    "PENTANOMIAL_SCORES",
    "TRINOMIAL_SCORES",
    "CountsKind",
    "counts_kind",
    "outcome_scores",
    "pentanomial_from_pair_scores",
    "trinomial_from_results",
    "validate_counts",
]

CountsKind = Literal["trinomial", "pentanomial"]

#: Per-game score of each trinomial cell ``[loss, draw, win]``.
TRINOMIAL_SCORES = np.array([0.0, 0.5, 1.0])
#: Normalised per-pair score (points / 2) of each pentanomial cell ``[n0, ..., n4]``.
PENTANOMIAL_SCORES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def counts_kind(n_cells: int) -> CountsKind:
    """Name the layout of a count vector by its length (3 or 5); any other length is an error."""
    if n_cells == 3:
        return "trinomial"
    if n_cells == 5:
        return "pentanomial"
    raise ValueError(
        f"counts must have length 3 ([losses, draws, wins]) or 5 (pentanomial pair counts "
        f"[n0, n1, n2, n3, n4]); got length {n_cells}"
    )


def outcome_scores(n_cells: int) -> np.ndarray:
    """Scores in ``[0, 1]`` of the cells of a trinomial (3) or pentanomial (5) count vector."""
    kind = counts_kind(n_cells)
    return (TRINOMIAL_SCORES if kind == "trinomial" else PENTANOMIAL_SCORES).copy()


def _as_count_array(counts: object, *, what: str = "counts") -> np.ndarray:
    """Convert ``counts`` to an int64 array, rejecting anything that is not a count."""
    try:
        arr = np.asarray(counts)
    except (TypeError, ValueError) as exc:  # ragged nested sequences, etc.
        raise ValueError(f"{what} must be a sequence of non-negative integers: {exc}") from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{what} must be non-negative integers; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} must be finite; got {arr.tolist()}")
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{what} must be integers; got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"{what} must be non-negative; got {arr.tolist()}")
    return arr.astype(np.int64)


def validate_counts(counts: Iterable[int] | np.ndarray) -> np.ndarray:
    """Check a trinomial or pentanomial count vector and return it as an int64 array.

    Args:
        counts: ``[losses, draws, wins]`` or ``[n0, n1, n2, n3, n4]``. Integral floats such as
            ``3.0`` are accepted; booleans, strings, NaN, infinities and fractions are not.

    Returns:
        A new 1-D ``int64`` array of length 3 or 5.

    Raises:
        ValueError: wrong length, a negative or non-integer entry, or all entries zero (there is
            nothing to estimate from an empty sample).
    """
    arr = _as_count_array(counts)
    if arr.ndim != 1:
        raise ValueError(f"counts must be one-dimensional; got shape {arr.shape}")
    counts_kind(arr.size)
    if arr.sum() == 0:
        raise ValueError("counts are all zero: no games or pairs to estimate from")
    return arr


def validate_counts_batch(counts: np.ndarray) -> np.ndarray:
    """Row-wise :func:`validate_counts` for a ``(batch, 3 | 5)`` array (used by simulations)."""
    arr = _as_count_array(counts)
    if arr.ndim != 2:
        raise ValueError(f"batched counts must be two-dimensional; got shape {arr.shape}")
    counts_kind(arr.shape[1])
    if arr.shape[0] and np.any(arr.sum(axis=1) == 0):
        raise ValueError("a row of counts is all zero: no games or pairs to estimate from")
    return arr


def _index_of_scores(values: np.ndarray, step: float, n_cells: int, what: str) -> np.ndarray:
    idx = values / step
    rounded = np.round(idx)
    bad = ~np.isfinite(idx) | (np.abs(idx - rounded) > 1e-9) | (rounded < 0) | (rounded >= n_cells)
    if np.any(bad):
        allowed = ", ".join(f"{k * step:g}" for k in range(n_cells))
        raise ValueError(f"{what} must be one of {{{allowed}}}; got {values[bad][:5].tolist()}")
    return rounded.astype(np.int64)


def _as_float_array(values: object, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers: {exc}") from None
    return arr


def pentanomial_from_pair_scores(scores: Iterable[float] | np.ndarray) -> list[int]:
    """Count seat-swapped game pairs into the pentanomial layout ``[n0, n1, n2, n3, n4]``.

    Args:
        scores: Either one point total per pair, in ``{0, 0.5, 1, 1.5, 2}``, or one
            ``(game_1_score, game_2_score)`` row per pair with each score in ``{0, 0.5, 1}``
            (the two are summed).

    Returns:
        ``[n0, n1, n2, n3, n4]`` where ``n_k`` is the number of pairs worth ``k/2`` points. An
        empty input gives all zeros (which the estimators then reject as an empty sample).

    Raises:
        ValueError: a score outside the allowed set, or a malformed shape.
    """
    arr = _as_float_array(scores, "pair scores")
    if arr.ndim == 2:
        if arr.shape[1] != 2:
            raise ValueError(f"per-game pair scores must have two columns; got shape {arr.shape}")
        _index_of_scores(arr.ravel(), 0.5, 3, "game scores")
        arr = arr.sum(axis=1)
    elif arr.ndim != 1:
        raise ValueError(f"pair scores must be 1-D (totals) or 2-D (two games); got {arr.shape}")
    idx = _index_of_scores(arr, 0.5, 5, "pair scores")
    return np.bincount(idx, minlength=5).tolist()


def trinomial_from_results(results: Iterable[float] | np.ndarray) -> list[int]:
    """Count single-game scores (1 win, 0.5 draw, 0 loss) into ``[losses, draws, wins]``.

    Raises:
        ValueError: a score outside ``{0, 0.5, 1}`` or a non-1-D input.
    """
    arr = _as_float_array(results, "game results")
    if arr.ndim != 1:
        raise ValueError(f"game results must be one-dimensional; got shape {arr.shape}")
    idx = _index_of_scores(arr, 0.5, 3, "game results")
    return np.bincount(idx, minlength=3).tolist()
