"""Rating statistics for the arena: pure math, no I/O, no Ray, no torch.

* `score_from_elo` / `elo_from_score`: logistic Elo on the 400 scale.
* `wilson_interval`: Wilson score interval of a (possibly fractional) success count.
* `elo_estimate`: score, Elo, confidence interval and LOS from trinomial ``[L, D, W]`` or
  pentanomial ``[n0..n4]`` counts of seat-swapped pairs (pair variance, not game variance).
* `pairing_estimate`: the one score interval of a pairing (pentanomial; Wilson when unpaired).
* `sprt_llr` / `Sprt`: exact generalized log-likelihood ratio (Van den Bergh's GSPRT, as in
  fishtest) and Wald's bounds.
* `GateConfig` / `gate_decide`: the promotion gate ("beat the champion by 5 points").
* `bradley_terry`: leaderboard ratings with bootstrap intervals (`BOOTSTRAP_ROUNDS`) and ranks.
* `pentanomial_from_pair_scores` / `trinomial_from_results`: turn raw results into counts.

Simulation helpers for the gate (used by the tests and ``scripts/bench_ratings.py``) live in
`ratings.simulation`.
"""

import importlib

# Each name and the module that defines it. Loaded on first use (PEP 562), so that importing
# one part (``ratings.gate.GateConfig`` for the command line) does not load scipy.
_WHERE = {
    "BradleyTerryResult": "bt", "PlayerRating": "bt", "bradley_terry": "bt",
    "PENTANOMIAL_SCORES": "counts", "TRINOMIAL_SCORES": "counts",
    "pentanomial_from_pair_scores": "counts", "trinomial_from_results": "counts",
    "validate_counts": "counts",
    "EloEstimate": "elo", "elo_estimate": "elo", "elo_from_score": "elo",
    "pairing_estimate": "elo", "score_from_elo": "elo", "wilson_interval": "elo",
    "GateConfig": "gate", "GateResult": "gate", "gate_decide": "gate",
    "Decision": "sprt", "Sprt": "sprt", "mle_expected": "sprt", "sprt_llr": "sprt",
    "sprt_llr_batch": "sprt", "wald_bounds": "sprt",
}  # fmt: skip
__all__ = sorted([*_WHERE, "BOOTSTRAP_ROUNDS"])

# Bootstrap rounds behind every rating interval the arena shows (tournaments, the nights'
# snapshots, the leaderboard page and `arena leaderboard`): one count (Chatbot Arena uses 1000).
# Here rather than in `bt` so that the command line reads it without loading scipy.
BOOTSTRAP_ROUNDS = 1000


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ratings' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __dir__() -> list[str]:
    return __all__
