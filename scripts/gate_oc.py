"""The gate's operating characteristic at a night's settings, by simulation.

For a nightly config, reads the gate's settings (``[gate]``: margin, alpha, beta, min_pairs,
max_pairs, opening_plies) and the number of distinct openings the game has at that opening
depth (deterministic players play each opening once, so it caps the pairs), then simulates the
SPRT gate (``ratings.simulation.simulate_gate``: exactly the rules of ``ratings.gate_decide``)
on pairs drawn from the BayesElo pentanomial model at several true scores: how often a
candidate of that strength is promoted, and after how many pairs. The model's draw and
first-move parameters are fitted by maximum likelihood to the pentanomial counts of real gates
(``gate.json`` files; Coulom's BayesElo trinomial, see ratings/simulation.py), or given.

    python scripts/gate_oc.py --config configs/nightly.toml --gates W/runs/*-gate/gate.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

SCORES = (0.45, 0.50, 0.525, 0.55, 0.60, 0.65)


def fit_pair_model(counts: np.ndarray) -> tuple[float, float]:
    """(draw_elo, seat_elo) maximising the likelihood of pentanomial ``counts`` (summed over
    gates), each gate's strength difference profiled out as a free parameter."""
    from ratings.simulation import bayeselo_trinomial

    counts = np.atleast_2d(counts).astype(float)

    def nll(params: np.ndarray) -> float:
        draw, seat, *elos = params
        total = 0.0
        for row, elo in zip(counts, elos, strict=True):
            first = bayeselo_trinomial(elo + seat, draw)
            second = bayeselo_trinomial(elo - seat, draw)
            pent = np.clip(np.convolve(first, second), 1e-12, 1.0)
            total -= float(row @ np.log(pent))
        return total

    start = np.array([100.0, 100.0, *([0.0] * len(counts))])
    bounds = [(0.0, 1000.0), (0.0, 1000.0)] + [(-1500.0, 1500.0)] * len(counts)
    best = minimize(nll, start, bounds=bounds, method="L-BFGS-B")
    return float(best.x[0]), float(best.x[1])


def operating_characteristic(
    gate, draw_elo: float, seat_elo: float, runs: int, seed: int
) -> list[dict]:
    from ratings.simulation import pair_model, simulate_gate

    rows = []
    for score in SCORES:
        sim = simulate_gate(pair_model(score, draw_elo, seat_elo).probs, gate, runs, seed)
        rows.append({
            "score": score,
            "promoted": sim.accept_rate,
            "inconclusive": float(sim.inconclusive.mean()),
            "mean_pairs": float(sim.pairs.mean()),
            "p90_pairs": float(np.percentile(sim.pairs, 90)),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="a nightly TOML (its [gate] settings)")
    parser.add_argument("--game", default=None, help="default: the config's first game")
    parser.add_argument("--gates", nargs="*", default=[], help="gate.json files to fit the model")
    parser.add_argument("--draw-elo", type=float, default=None)
    parser.add_argument("--seat-elo", type=float, default=None)
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from arena.nightly.config import load_config
    from games import InputError, load_game
    from games.schedule import distinct_opening_pairs

    try:
        config = load_config(args.config)
        game = load_game(args.game or config.night.games[0]).spec
        run = config.gate_config(game=game, candidate="random", champion="random", seed=0)
    except InputError as error:
        print(f"gate_oc: error: {error}", file=sys.stderr)
        return 2
    plies, max_pairs = run.matches.opening_plies, run.gate.max_pairs
    openings = len(distinct_opening_pairs(game, max_pairs, 0, plies, tag="gate"))
    gate = run.gate_config(max_pairs=min(max_pairs, openings))
    draw, seat = args.draw_elo, args.seat_elo
    source = "given"
    if args.gates:
        counts = np.array([json.loads(Path(p).read_text())["counts"] for p in args.gates])
        fitted = fit_pair_model(counts)
        draw = fitted[0] if draw is None else draw
        seat = fitted[1] if seat is None else seat
        source = f"fitted to {len(args.gates)} gate(s), {int(counts.sum())} pairs"
    draw = 100.0 if draw is None else draw
    seat = 100.0 if seat is None else seat
    print(
        f"{game}: margin {gate.margin}, alpha {gate.alpha}, beta {gate.beta}, min_pairs "
        f"{gate.min_pairs}, max_pairs {max_pairs} (distinct openings at opening_plies "
        f"{plies}: {openings}; cap used {gate.max_pairs}); pair model draw_elo "
        f"{draw:.0f}, seat_elo {seat:.0f} ({source}); {args.runs} simulated gates per row\n"
    )
    print("| true score | P(promoted) | P(inconclusive) | mean pairs | 90th pct pairs |")
    print("|---|---|---|---|---|")
    for row in operating_characteristic(gate, draw, seat, args.runs, args.seed):
        print(
            f"| {row['score']:.3f} | {row['promoted']:.3f} | {row['inconclusive']:.3f} | "
            f"{row['mean_pairs']:.0f} | {row['p90_pairs']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
