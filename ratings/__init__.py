"""Rating statistics for the arena: pure math, no I/O, no Ray, no torch.

* `score_from_elo` / `elo_from_score`: logistic Elo on the 400 scale.
* `wilson_interval`: Wilson score interval of a (possibly fractional) success count.
* `elo_estimate`: score, Elo, confidence interval and LOS from trinomial ``[L, D, W]`` or
  pentanomial ``[n0..n4]`` counts of seat-swapped pairs (pair variance, not game variance).
* `pairing_estimate`: the one score interval of a pairing (pentanomial; Wilson when unpaired).
* `sprt_llr` / `Sprt`: exact generalized log-likelihood ratio (Van den Bergh's GSPRT, as in
  fishtest) and Wald's bounds.
* `GateConfig` / `gate_decide`: the promotion gate ("beat the champion by 5 points").
* `bradley_terry`: leaderboard ratings with bootstrap intervals and ranks.
* `pentanomial_from_pair_scores` / `trinomial_from_results`: turn raw results into counts.

Simulation helpers for the gate (used by the tests and ``scripts/bench_ratings.py``) live in
`ratings.simulation`.
"""

from .bt import BradleyTerryResult, PlayerRating, bradley_terry
from .counts import (
    PENTANOMIAL_SCORES,
    TRINOMIAL_SCORES,
    pentanomial_from_pair_scores,
    trinomial_from_results,
    validate_counts,
)
from .elo import (
    EloEstimate,
    elo_estimate,
    elo_from_score,
    pairing_estimate,
    score_from_elo,
    wilson_interval,
)
from .gate import GateConfig, GateResult, gate_decide
from .sprt import Decision, Sprt, mle_expected, sprt_llr, sprt_llr_batch, wald_bounds

__all__ = [
    "PENTANOMIAL_SCORES",
    "TRINOMIAL_SCORES",
    "BradleyTerryResult",
    "Decision",
    "EloEstimate",
    "GateConfig",
    "GateResult",
    "PlayerRating",
    "Sprt",
    "bradley_terry",
    "elo_estimate",
    "elo_from_score",
    "gate_decide",
    "mle_expected",
    "pairing_estimate",
    "pentanomial_from_pair_scores",
    "score_from_elo",
    "sprt_llr",
    "sprt_llr_batch",
    "trinomial_from_results",
    "validate_counts",
    "wald_bounds",
    "wilson_interval",
]
