"""The promotion gate: pinned decisions, its edges, and simulated error rates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ratings import GateConfig, elo_estimate, gate_decide, sprt_llr
from ratings.simulation import (
    _sample_pairs,
    fixed_sample_pairs,
    pair_model,
    simulate_fixed_sample,
    simulate_gate,
)

BOUND = math.log(0.95 / 0.05)


def test_default_config_hypotheses():
    config = GateConfig()
    assert config.elo0 == 0.0
    assert config.elo1 == pytest.approx(400 * math.log10(0.55 / 0.45))  # 34.8601
    assert config.bounds == pytest.approx((-BOUND, BOUND))
    assert config.sprt.elo1 == config.elo1
    assert config.to_dict()["elo1"] == config.elo1


def test_accept_at_exactly_the_upper_bound_crossing():
    # Only double wins: LLR = n log(0.55 / 0.5) = n log 1.1; 30 pairs give 2.859, 31 give 2.955.
    assert gate_decide([0, 0, 0, 0, 30]).decision == "continue"
    result = gate_decide([0, 0, 0, 0, 31])
    assert result.decision == "accept" and result.promote and not result.inconclusive
    assert result.llr == pytest.approx(31 * math.log(1.1))
    assert result.pairs == 31 and result.counts == (0, 0, 0, 0, 31)
    assert result.score == 1.0 and result.elo == math.inf
    assert "upper bound" in result.reason


def test_result_carries_the_statistics():
    counts = [8, 16, 40, 24, 12]
    result = gate_decide(counts)
    est = elo_estimate(counts)
    assert result.decision == "continue"
    assert result.llr == pytest.approx(sprt_llr(counts, 0, GateConfig().elo1))
    assert (result.score, result.ci, result.elo, result.elo_ci, result.los) == (
        est.score,
        est.score_ci,
        est.elo,
        est.ci,
        est.los,
    )
    assert result.bounds == pytest.approx((-BOUND, BOUND))
    assert result.pairs == 100
    d = result.to_dict()
    assert d["counts"] == counts and d["decision"] == "continue"
    assert json.loads(json.dumps(d)) == d


def test_symmetric_results_reject():
    result = gate_decide([20, 40, 80, 40, 20])
    assert result.decision == "reject" and not result.inconclusive and not result.promote
    assert result.llr < -BOUND and result.elo == 0.0


def test_no_decision_before_min_pairs():
    config = GateConfig(min_pairs=40)
    result = gate_decide([0, 0, 0, 0, 35], config)  # LLR 3.34 is past the bound
    assert result.llr > BOUND
    assert result.decision == "continue" and "min_pairs" in result.reason


def test_cap_rejects_as_inconclusive():
    config = GateConfig(max_pairs=100)
    counts = [6, 18, 40, 24, 12]  # score 0.545: LLR 1.42, inside the bounds
    result = gate_decide(counts, config)
    assert result.decision == "reject" and result.inconclusive and "inconclusive" in result.reason
    assert gate_decide([6, 18, 40, 24, 11], config).decision == "continue"  # 99 pairs


def test_sprt_decision_wins_over_the_cap():
    assert gate_decide([0, 0, 0, 0, 40], GateConfig(max_pairs=40)).decision == "accept"


def test_margin_changes_the_alternative():
    counts = [4, 10, 20, 14, 8]
    wide = gate_decide(counts, GateConfig(margin=0.1))
    assert wide.elo1 == pytest.approx(400 * math.log10(0.6 / 0.4))
    assert wide.llr != gate_decide(counts).llr


def test_gate_rejects_trinomial_counts():
    with pytest.raises(ValueError, match="pentanomial"):
        gate_decide([10, 20, 30])


@pytest.mark.parametrize("counts", [[0, 0, 0, 0, 0], [1, 2, -1, 0, 3], [1.5, 0, 0, 0, 1]])
def test_gate_rejects_bad_counts(counts):
    with pytest.raises(ValueError):
        gate_decide(counts)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": 0},
        {"margin": 0.5},
        {"min_pairs": 0},
        {"min_pairs": 2.5},
        {"min_pairs": 50, "max_pairs": 40},
        {"alpha": 0},
        {"beta": 1.2},
        {"confidence": 1},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        GateConfig(**kwargs)


# --- simulation ---------------------------------------------------------------------------------


def test_pair_model_hits_the_requested_score():
    for score in (0.45, 0.5, 0.55):
        model = pair_model(score)
        assert model.probs.sum() == pytest.approx(1.0)
        assert model.probs @ np.linspace(0, 1, 5) == pytest.approx(score, abs=1e-10)
        assert 0.1 < model.draw_rate < 0.5
    symmetric = pair_model(0.5).probs
    np.testing.assert_allclose(symmetric, symmetric[::-1], atol=1e-12)


def test_simulation_follows_gate_decide_pair_by_pair():
    """Guards against off-by-one pair counts between the vectorised simulation and the gate."""
    config = GateConfig(min_pairs=10, max_pairs=150)
    probs = pair_model(0.53).probs
    sim = simulate_gate(probs, config, runs=12, seed=9, block=16)
    outcomes = _sample_pairs(np.random.default_rng(9), probs, (12, config.max_pairs))
    for run in range(12):
        counts = np.zeros(5, dtype=int)
        for outcome in outcomes[run]:
            counts[outcome] += 1
            result = gate_decide(counts, config)
            if result.decision != "continue":
                break
        assert sim.pairs[run] == result.pairs == counts.sum()
        assert sim.accepted[run] == result.promote
        assert sim.inconclusive[run] == result.inconclusive


@pytest.mark.parametrize(
    ("draw_elo", "seat_elo"),
    [(100.0, 100.0), (0.0, 0.0), (250.0, 150.0)],  # default; no draws, no seat edge; drawish
)
def test_gate_error_rates(draw_elo, seat_elo):
    """alpha and beta hold whatever the draw rate and seat advantage (seeded, 500 runs each).

    Thresholds are alpha (beta) plus three binomial standard deviations: 0.05 + 3 * 0.0097.
    """
    config = GateConfig()
    null = simulate_gate(pair_model(0.5, draw_elo, seat_elo).probs, config, runs=500, seed=1)
    alt = simulate_gate(pair_model(0.55, draw_elo, seat_elo).probs, config, runs=500, seed=2)
    assert null.accept_rate <= 0.08
    assert alt.accept_rate >= 0.92


def test_sprt_uses_far_fewer_pairs_than_the_fixed_test_away_from_the_boundary():
    config = GateConfig()
    for score in (0.45, 0.6):
        model = pair_model(score)
        sim = simulate_gate(model.probs, config, runs=300, seed=3)
        fixed = fixed_sample_pairs(model.variance, config.margin, config.alpha, config.beta)
        assert sim.pairs.mean() < 0.5 * fixed


def test_fixed_sample_design():
    # Bernoulli variance 1/8 per normalised pair: ((2 * 1.6449) * sqrt(1/8) / 0.05)^2 = 541.1.
    assert fixed_sample_pairs(0.125, 0.05, 0.05, 0.05) == 542
    model = pair_model(0.5)
    n = fixed_sample_pairs(model.variance, 0.05, 0.05, 0.05)
    rate = simulate_fixed_sample(model.probs, n, model.variance, 0.05, runs=4000, seed=0)
    assert rate == pytest.approx(0.05, abs=0.015)
