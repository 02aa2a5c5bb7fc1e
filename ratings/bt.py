"""Bradley-Terry ratings on the Elo scale with bootstrap intervals (Chatbot Arena style).

Model (Bradley & Terry, Biometrika 39, 1952; Elo's logistic form): player ``i`` scores against
``j`` with expectation ``sigma(theta_i - theta_j)``, ``sigma(x) = 1 / (1 + e**-x)``; a draw counts
as half a win and half a loss (Chatbot Arena's "ties as half wins"). Ratings are reported as
``R_i = c + 400 / ln(10) * theta_i``, so a 400-point gap is 10:1 odds.

Fit: maximum likelihood over the unique pairings ``k = (i, j)`` with ``S_k`` points of ``i`` in
``N_k`` games (W + D/2 of N)::

    l(theta) = sum_k [S_k log sigma(d_k) + (N_k - S_k) log sigma(-d_k)],  d_k = theta_i - theta_j
             + prior_draws * sum_i [log sigma(theta_i) + log sigma(-theta_i)] / 2

The second line is the regularisation, documented here deliberately: every player gets
``prior_draws`` virtual *draws* against a virtual opponent at the centre of the scale. It keeps a
player who won (or lost) every game at a large but finite rating instead of infinity, and is
negligible next to a few hundred real games (BayesElo's "prior" of virtual draws works the same
way). With ``prior_draws=0`` the plain MLE is used, which exists iff the "scored against"
digraph is strongly connected (Zermelo 1929; Ford 1957); otherwise a `ValueError` says so.

``l`` is maximised by Newton's method with step halving (the gradient is
``sum_k (S_k - N_k sigma(d_k))`` with signs, the Hessian minus a weighted graph Laplacian with
weights ``N_k sigma(d_k) sigma(-d_k)``); see `ratings.bt_fit`. Bootstrap rounds, vectorised over
rounds and pairings, start from the full-data fit and take Newton steps with the Hessian frozen
there (chord method: one factorisation for all rounds) to the same tolerance; a round whose
steps stop shrinking falls back to full Newton.

Bootstrap: the ``G`` games are resampled with replacement, ``bootstrap`` times. Because only the
per-pairing (win, draw, loss) counts matter, this is done exactly and vectorised as one
multinomial draw of ``G`` games over the ``3 K`` (pairing, outcome) cells per round, which has
the same distribution as resampling the game rows. Intervals are percentile intervals of each
round's anchored ratings; reported ratings are the full-data fit, not the bootstrap median.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from . import BOOTSTRAP_ROUNDS
from .bt_fit import Problem, bootstrap_fits, mle_exists

__all__ = ["BradleyTerryResult", "PlayerRating", "bradley_terry"]

ELO_PER_NAT = 400.0 / math.log(10.0)


@dataclass(frozen=True)
class PlayerRating:
    """One leaderboard row.

    Attributes:
        player: The player's name.
        rating: Full-data maximum-likelihood rating (Elo scale).
        ci: Bootstrap percentile interval; ``(rating, rating)`` when ``bootstrap=0``. JSON
            (``to_dict``) names its ends ``ci_low`` and ``ci_high``, as every rating table of
            the arena does (registry snapshots, leaderboards, CSV).
        rank: ``1 +`` the number of players whose interval lies entirely above this one.
        games: Real games played (virtual prior draws are not counted).
        score: Points per game (draws count 1/2).
    """

    player: Hashable
    rating: float
    ci: tuple[float, float]
    rank: int
    games: int
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "player": self.player,
            "rating": self.rating,
            "ci_low": self.ci[0],
            "ci_high": self.ci[1],
            "rank": self.rank,
            "games": self.games,
            "score": self.score,
        }


@dataclass(frozen=True)
class BradleyTerryResult:
    """Bradley-Terry leaderboard: `ratings` sorted by rating, best first.

    Attributes:
        ratings: One `PlayerRating` per player.
        anchor: The player pinned at ``anchor_rating``, or None when the mean is pinned.
        anchor_rating: The pinned rating (or mean rating).
        bootstrap: Bootstrap rounds behind the intervals.
        confidence: Two-sided coverage of the intervals.
        prior_draws: Virtual draws per player used as regularisation.
        games: Total real games.
    """

    ratings: tuple[PlayerRating, ...]
    anchor: Hashable | None
    anchor_rating: float
    bootstrap: int
    confidence: float
    prior_draws: float
    games: int

    def __getitem__(self, player: Hashable) -> PlayerRating:
        for row in self.ratings:
            if row.player == player:
                return row
        raise KeyError(player)

    @property
    def players(self) -> list[Hashable]:
        """Players, best first."""
        return [row.player for row in self.ratings]

    def to_dict(self) -> dict[str, object]:
        return {
            "ratings": [row.to_dict() for row in self.ratings],
            "anchor": self.anchor,
            "anchor_rating": self.anchor_rating,
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
            "prior_draws": self.prior_draws,
            "games": self.games,
        }


def _sorted_players(names: Iterable[Hashable]) -> list[Hashable]:
    names = list(names)
    try:
        return sorted(names)  # type: ignore[type-var]
    except TypeError:
        return sorted(names, key=repr)


def _parse_rows(rows: Sequence[Sequence[object]]) -> tuple[list, list, np.ndarray]:
    """Return player columns and an ``(m, 3)`` array of (wins_a, draws, wins_b) per row."""
    try:
        widths = {len(row) for row in rows}
    except TypeError:
        raise ValueError("each result must be a row (player_a, player_b, score_a)") from None
    if len(widths) != 1 or (width := widths.pop()) not in (3, 5):
        raise ValueError(
            "results must all be (player_a, player_b, score_a) rows or all be "
            "(player_a, player_b, wins_a, draws, wins_b) rows"
        )
    cols = list(zip(*rows, strict=True))
    a_col, b_col = list(cols[0]), list(cols[1])
    try:
        values = np.asarray(cols[2:], dtype=float).T
    except (TypeError, ValueError):
        raise ValueError("scores and counts must be numbers") from None
    if not np.all(np.isfinite(values)):
        raise ValueError("scores and counts must be finite")
    if width == 3:
        score = values[:, 0]
        if not np.all((score == 0.0) | (score == 0.5) | (score == 1.0)):
            bad = score[(score != 0.0) & (score != 0.5) & (score != 1.0)][:5]
            raise ValueError(f"score_a must be 1, 0.5 or 0; got {bad.tolist()}")
        wdl = np.stack([score == 1.0, score == 0.5, score == 0.0], axis=1).astype(np.int64)
    else:
        if np.any(values < 0) or np.any(values != np.round(values)):
            raise ValueError("aggregated (wins_a, draws, wins_b) must be non-negative integers")
        wdl = values.astype(np.int64)
    return a_col, b_col, wdl


def bradley_terry(
    results: Iterable[Sequence[object]],
    bootstrap: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
    *,
    players: Iterable[Hashable] | None = None,
    anchor: Hashable | None = None,
    anchor_rating: float = 1000.0,
    confidence: float = 0.95,
    prior_draws: float = 1.0,
) -> BradleyTerryResult:
    """Bradley-Terry ratings on the Elo scale with bootstrap percentile intervals.

    See the module docstring for the model, the regularisation and the bootstrap. Rank is
    ``1 +`` the number of players whose interval lies entirely above this player's (so players
    with overlapping intervals share a rank, as on Chatbot Arena). A percentile interval that
    happens not to contain the full-data rating (possible with very few games) is widened to
    include it.

    Args:
        results: Rows ``(player_a, player_b, score_a)`` with ``score_a`` in ``{1, 0.5, 0}``, or
            aggregated rows ``(player_a, player_b, wins_a, draws, wins_b)``. Row order does not
            matter, and neither does which player is listed first.
        bootstrap: Bootstrap rounds (0 for none: intervals collapse to the rating).
        seed: Seed of ``numpy.random.default_rng`` for the bootstrap.
        players: Optional roster. Every player in ``results`` must be on it and every player on
            it must have played; without it the roster is the players in ``results``.
        anchor: A player pinned at ``anchor_rating``; None pins the mean rating instead.
        anchor_rating: The pinned rating (default 1000).
        confidence: Two-sided coverage of the intervals.
        prior_draws: Virtual draws per player against the centre of the scale (>= 0).

    Returns:
        A `BradleyTerryResult` sorted by rating, best first.

    Raises:
        ValueError: no results, malformed rows or scores, a player playing themself, players not
            on the roster, a roster player without games, an unknown anchor, players in
            disconnected groups, or (``prior_draws=0``) data without a finite MLE.
    """
    rows = results if isinstance(results, Sequence) else list(results)
    if len(rows) == 0:
        raise ValueError("no results to rate")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
        raise ValueError(f"bootstrap must be a non-negative integer; got {bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence}")
    if not (math.isfinite(prior_draws) and prior_draws >= 0.0):
        raise ValueError(f"prior_draws must be a finite number >= 0; got {prior_draws}")
    if not math.isfinite(anchor_rating):
        raise ValueError(f"anchor_rating must be finite; got {anchor_rating}")

    a_col, b_col, wdl = _parse_rows(rows)
    try:
        seen = set(a_col) | set(b_col)
    except TypeError:
        raise ValueError("player names must be hashable (e.g. strings)") from None
    if players is None:
        roster = _sorted_players(seen)
    else:
        roster_list = list(players)
        roster = _sorted_players(set(roster_list))
        if len(roster) != len(roster_list):
            raise ValueError("players contains duplicates")
        unknown = seen - set(roster)
        if unknown:
            raise ValueError(f"unknown players (not in players): {_sorted_players(unknown)[:10]}")
    n = len(roster)
    index = {name: k for k, name in enumerate(roster)}
    if anchor is not None and anchor not in index:
        raise ValueError(f"unknown anchor player {anchor!r}")
    ia = np.fromiter(map(index.__getitem__, a_col), dtype=np.int64, count=len(a_col))
    ib = np.fromiter(map(index.__getitem__, b_col), dtype=np.int64, count=len(b_col))
    if np.any(ia == ib):
        raise ValueError(f"a player cannot play themself: {roster[int(ia[ia == ib][0])]!r}")

    # Aggregate into unique pairings i < j, counts from i's side.
    flip = ia > ib
    lo, hi = np.where(flip, ib, ia), np.where(flip, ia, ib)
    wdl = np.where(flip[:, None], wdl[:, ::-1], wdl)
    keys, inverse = np.unique(lo * n + hi, return_inverse=True)
    cells = np.stack([np.bincount(inverse, weights=wdl[:, c]) for c in range(3)], axis=1)
    cells = np.rint(cells).astype(np.int64)
    played = cells.sum(axis=1) > 0
    keys, cells = keys[played], cells[played]
    pi, pj = keys // n, keys % n
    g = cells.sum(axis=1).astype(float)
    s = cells[:, 0] + 0.5 * cells[:, 1]

    games = np.bincount(pi, weights=g, minlength=n) + np.bincount(pj, weights=g, minlength=n)
    if np.any(games == 0):
        idle = [roster[k] for k in np.flatnonzero(games == 0)[:10]]
        raise ValueError(f"players with no games cannot be rated: {idle}")
    points = np.bincount(pi, weights=s, minlength=n) + np.bincount(pj, weights=g - s, minlength=n)
    graph = sparse.csr_matrix((np.ones(pi.size), (pi, pj)), shape=(n, n))
    n_groups = connected_components(graph, directed=False)[0]
    if n_groups > 1:
        raise ValueError(
            f"players fall into {n_groups} groups that never played each other; "
            "their ratings are not comparable"
        )
    if prior_draws == 0 and not mle_exists(n, pi, pj, s, g):
        raise ValueError(
            "no finite maximum-likelihood ratings: some group of players won (or lost) every "
            "game against the rest; use prior_draws > 0"
        )

    problem = Problem(n, pi, pj, float(prior_draws))
    theta_hat = problem.fit(s[None, :], g[None, :], np.zeros((1, n)))[0]

    def anchored(theta: np.ndarray) -> np.ndarray:
        ref = theta[..., index[anchor]] if anchor is not None else theta.mean(axis=-1)
        return anchor_rating + ELO_PER_NAT * (theta - np.asarray(ref)[..., None])

    rating = anchored(theta_hat)
    if bootstrap > 0:
        boot = bootstrap_fits(problem, cells, theta_hat, int(bootstrap), seed)
        tail = 50.0 * (1.0 - confidence)
        low, high = np.percentile(anchored(boot), [tail, 100.0 - tail], axis=0)
        low, high = np.minimum(low, rating), np.maximum(high, rating)
    else:
        low, high = rating.copy(), rating.copy()
    rank = 1 + (low[None, :] > high[:, None]).sum(axis=1)
    order = sorted(range(n), key=lambda k: (-rating[k], k))
    table = tuple(
        PlayerRating(
            player=roster[k],
            rating=float(rating[k]),
            ci=(float(low[k]), float(high[k])),
            rank=int(rank[k]),
            games=int(games[k]),
            score=float(points[k] / games[k]),
        )
        for k in order
    )
    return BradleyTerryResult(
        ratings=table,
        anchor=anchor,
        anchor_rating=float(anchor_rating),
        bootstrap=int(bootstrap),
        confidence=float(confidence),
        prior_draws=float(prior_draws),
        games=int(g.sum()),
    )
