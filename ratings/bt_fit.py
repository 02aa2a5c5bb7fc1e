"""Numerical core of `ratings.bt`: batched Newton / chord fits and the game-level bootstrap.

See `ratings.bt` for the model. Everything here works on aggregated pairings: player indices
``pi < pj`` per pairing and, per row (the data or one bootstrap round), the points ``s`` of
``pi`` and the games ``g`` of each pairing.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, log_expit

_NEWTON_TOL = 1e-10  # largest rating step, in nats, at convergence
_NEWTON_MAX_ITER = 200
_CHORD_MAX_ITER = 60
_CHORD_RATIO = 0.5  # a chord step must at least halve the previous one, else use Newton
_CHUNK_BYTES = 1 << 25  # size of one (rounds, pairings, 3) int64 array of a bootstrap chunk


class Problem:
    """Aggregated pairings and the batched Newton solver."""

    def __init__(self, n: int, pi: np.ndarray, pj: np.ndarray, prior: float) -> None:
        self.n, self.pi, self.pj, self.prior = n, pi, pj, prior
        k = pi.size
        data = np.concatenate([np.ones(k), -np.ones(k)])
        rows = np.concatenate([np.arange(k), np.arange(k)])
        self.incidence_t = sparse.csr_matrix((data, (np.concatenate([pi, pj]), rows)), shape=(n, k))
        self.abs_incidence_t = abs(self.incidence_t)
        self.off_ij = pi * n + pj
        self.off_ji = pj * n + pi
        self.diag = np.arange(n) * (n + 1)

    def loglik(self, theta: np.ndarray, s: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Log-likelihood per row; uses ``log sigma(-d) = log sigma(d) - d``."""
        d = theta[:, self.pi] - theta[:, self.pj]
        ll = (g * log_expit(d) - (g - s) * d).sum(axis=1)
        if self.prior:
            ll += self.prior * (log_expit(theta) - 0.5 * theta).sum(axis=1)
        return ll

    def gradient(self, theta: np.ndarray, s: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``dl/dtheta`` per row: ``sum_k (S_k - N_k sigma(d_k))`` with signs, plus the prior."""
        p = expit(theta[:, self.pi] - theta[:, self.pj])
        grad = (self.incidence_t @ (s - g * p).T).T
        if self.prior:
            grad += self.prior * (0.5 - expit(theta))
        return grad

    def neg_hessian(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``-d2l/dtheta2`` per row, ``(rows, n, n)``: a weighted graph Laplacian plus the prior.

        Without a prior the Laplacian is singular along ``1`` (ratings are only defined up to a
        shift); ``c 11^T`` is added, and since the gradient then sums to zero, the solution of
        ``(M + c 11^T) x = grad`` is the sum-zero solution of ``M x = grad``.
        """
        n = self.n
        p = expit(theta[:, self.pi] - theta[:, self.pj])
        w = g * p * (1.0 - p)
        hess = np.zeros((theta.shape[0], n * n))
        hess[:, self.off_ij] = -w
        hess[:, self.off_ji] = -w
        hess[:, self.diag] = (self.abs_incidence_t @ w.T).T
        if self.prior:
            q = expit(theta)
            hess[:, self.diag] += self.prior * q * (1.0 - q)
        else:
            hess += hess[:, self.diag].mean(axis=1, keepdims=True) / n
        return hess.reshape(-1, n, n)

    def fit(self, s: np.ndarray, g: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Newton with step halving for each row of ``s``/``g`` (rounds x pairings)."""
        theta = theta.copy()
        active = np.arange(theta.shape[0])
        ll = self.loglik(theta, s, g)
        for _ in range(_NEWTON_MAX_ITER):
            th, sa, ga = theta[active], s[active], g[active]
            grad = self.gradient(th, sa, ga)
            step = np.linalg.solve(self.neg_hessian(th, ga), grad[:, :, None])[:, :, 0]
            t = np.ones(active.size)
            ll_old = ll[active]
            for _ in range(40):
                cand = th + t[:, None] * step
                ll_new = self.loglik(cand, sa, ga)
                worse = ll_new < ll_old - 1e-12 * np.abs(ll_old)
                if not worse.any():
                    break
                t = np.where(worse, 0.5 * t, t)
            theta[active], ll[active] = cand, ll_new
            moving = np.max(np.abs(t[:, None] * step), axis=1) >= _NEWTON_TOL
            active = active[moving]
            if active.size == 0:
                return theta
        raise RuntimeError("Bradley-Terry Newton iteration did not converge")  # pragma: no cover

    def fit_near(
        self, s: np.ndarray, g: np.ndarray, theta_hat: np.ndarray, inv_hess: np.ndarray
    ) -> np.ndarray:
        """Fit rows whose MLE lies near ``theta_hat`` (bootstrap resamples of the same data).

        Chord method: Newton steps with the Hessian frozen at the full-data fit,
        ``theta += grad(theta) @ inv_hess``. The fixed point is the same (``grad = 0``); the
        rate is linear with ratio about the relative difference of the Hessians (a few percent
        with hundreds of games per pairing), and it needs no per-row factorisation, which
        dominates Newton's cost for many small systems. Rows whose steps stop shrinking fast
        fall back to the damped Newton of `fit`.
        """
        rows = s.shape[0]
        theta = np.repeat(theta_hat[None, :], rows, axis=0)
        active = np.arange(rows)
        last = np.full(rows, np.inf)
        for _ in range(_CHORD_MAX_ITER):
            step = self.gradient(theta[active], s[active], g[active]) @ inv_hess
            theta[active] += step
            size = np.max(np.abs(step), axis=1)
            slow = size > _CHORD_RATIO * last[active]
            last[active] = size
            keep = (size >= _NEWTON_TOL) & ~slow
            if slow.any():
                redo = active[slow]
                theta[redo] = self.fit(s[redo], g[redo], theta_hat[None, :].repeat(redo.size, 0))
            active = active[keep]
            if active.size == 0:
                return theta
        redo = active
        theta[redo] = self.fit(s[redo], g[redo], theta[redo])  # pragma: no cover
        return theta  # pragma: no cover


def mle_exists(n: int, pi: np.ndarray, pj: np.ndarray, s: np.ndarray, g: np.ndarray) -> bool:
    """Ford's condition: every player reaches every other in the "scored against" digraph."""
    forward = s > 0  # i scored against j: edge j -> i ("i is not below j")
    backward = g - s > 0
    src = np.concatenate([pj[forward], pi[backward]])
    dst = np.concatenate([pi[forward], pj[backward]])
    graph = sparse.csr_matrix((np.ones(src.size), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=True, connection="strong")[0] == 1


def bootstrap_fits(
    problem: Problem, cells: np.ndarray, theta_hat: np.ndarray, rounds: int, seed: int
) -> np.ndarray:
    """Fit ``rounds`` game-level bootstrap resamples; returns ``(rounds, n)`` thetas."""
    rng = np.random.default_rng(seed)
    n = problem.n
    flat = cells.ravel()
    total = int(flat.sum())
    chunk = max(1, min(rounds, _CHUNK_BYTES // (24 * problem.pi.size)))
    full_g = cells.sum(axis=1).astype(float)[None, :]
    inv_hess = np.linalg.inv(problem.neg_hessian(theta_hat[None, :], full_g)[0])
    out = np.empty((rounds, n))
    for start in range(0, rounds, chunk):
        m = min(chunk, rounds - start)
        draw = rng.multinomial(total, flat / total, size=m).reshape(m, -1, 3)
        g = draw.sum(axis=2).astype(float)
        s = draw[:, :, 0] + 0.5 * draw[:, :, 1]
        if problem.prior == 0:
            for r in range(m):
                if not mle_exists(n, problem.pi, problem.pj, s[r], g[r]):
                    raise ValueError(
                        "a bootstrap resample has no finite maximum-likelihood ratings "
                        "(too few games between some players); use prior_draws > 0"
                    )
        out[start : start + m] = problem.fit_near(s, g, theta_hat, inv_hess)
    return out
