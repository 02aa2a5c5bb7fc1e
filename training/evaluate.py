"""``arena eval``: an agent on its game's frozen dev set, and against fixed scripted opponents.

Board games report optimal-move accuracy (the agent's move is one of the labelled optimal
moves) with a Wilson interval, plus the policy mass on optimal moves when the agent has a
policy. Poker reports the exact exploitability of the agent's policy: the policy is queried at
every information state (one representative state each; the prompt shows only what the
player knows, so any representative gives the same answer) and handed to OpenSpiel's
best-response computation (``exploitability`` = NashConv / 2; Johanson et al. 2011).
Win rates come from seat-swapped pairs against each opponent, with the pentanomial Elo
interval and the Wilson interval of the score (``ratings``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability as exploitability_lib

from games import InputError, load_game, observe
from games.files import atomic_write
from games.runner import DEFAULT_BATCH, LocalRunner, Runner
from games.schedule import pair_jobs, summarize
from ratings import pairing_estimate, wilson_interval
from training.config import EvalConfig, to_dict
from training.devsets import POLICY_GAMES, load_devset
from training.manifest import Manifest

log = logging.getLogger(__name__)

DEFAULT_OPPONENTS = {
    "tic_tac_toe": ("random", "mcts:50"),
    "connect_four": ("random", "mcts:50"),
    "kuhn_poker": ("random", "solver"),
    "leduc_poker": ("random", "solver"),
}
BATCH = 64


def _decide(agent, observations, seed: int):
    decisions = []
    for start in range(0, len(observations), BATCH):
        chunk = observations[start : start + BATCH]
        rngs = [np.random.default_rng([seed, start + i]) for i in range(len(chunk))]
        decisions.extend(agent.act_batch(chunk, rngs))
    return decisions


def position_accuracy(agent, game: str, seed: int = 0, limit: int | None = None) -> dict:
    """Share of dev-set positions where the agent's move is optimal (and policy mass on them)."""
    rows, digest = load_devset(game)
    rows = rows[:limit] if limit else rows
    handle = load_game(game)
    observations = []
    for index, row in enumerate(rows):
        state = handle.game.new_initial_state()
        for action in row["history"]:
            state.apply_action(action)
        obs = observe(handle, state)
        if obs.prompt != row["prompt"]:
            raise InputError(
                f"dev set {game} row {index}: the prompt no longer matches the game view; "
                "rebuild the dev sets (`arena devsets rebuild`)"
            )
        observations.append(obs)
    decisions = _decide(agent, observations, seed)
    correct, mass, with_policy, illegal = 0, 0.0, 0, 0
    for obs, row, decision in zip(observations, rows, decisions, strict=True):
        optimal = set(row["optimal"])
        if decision.action is None or decision.action not in obs.actions:
            illegal += 1
        elif obs.text_of(decision.action) in optimal:
            correct += 1
        if decision.policy is not None:
            with_policy += 1
            mass += sum(p for a, p in decision.policy.items() if obs.text_of(a) in optimal)
    n = len(rows)
    low, high = wilson_interval(correct, n)
    return {
        "metric": "optimal_move_accuracy",
        "positions": n,
        "correct": correct,
        "accuracy": correct / n,
        "ci95": [low, high],
        "policy_mass_on_optimal": mass / with_policy if with_policy else None,
        "no_legal_move": illegal,
        "devset_sha256": digest,
    }


def policy_exploitability(agent, game: str, seed: int = 0) -> dict:
    """Exact exploitability of the agent's policy (chips per game; 0 at a Nash equilibrium).

    Agents without a policy count as playing their sampled move with probability 1.
    """
    spec, digest = load_devset(game)
    handle = load_game(game)
    tabular = policy_lib.TabularPolicy(handle.game)
    if len(tabular.states) != spec["info_states"]:
        raise InputError(f"dev set {game}: information states differ from the locked spec")
    observations = [observe(handle, state) for state in tabular.states]
    decisions = _decide(agent, observations, seed)
    sampled = 0
    for state, obs, decision in zip(tabular.states, observations, decisions, strict=True):
        row = np.zeros(tabular.action_probability_array.shape[1])
        if decision.policy is not None:
            for action, prob in decision.policy.items():
                row[action] = prob
        elif decision.action is not None:
            row[decision.action] = 1.0
            sampled += 1
        if row.sum() <= 0:  # no legal move: uniform, and say so
            row[list(obs.actions)] = 1.0
        key = state.information_state_string(state.current_player())
        tabular.action_probability_array[tabular.state_lookup[key]] = row / row.sum()
    value = float(exploitability_lib.exploitability(handle.game, tabular))
    return {
        "metric": "exploitability",
        "exploitability": value,
        "info_states": len(observations),
        "policy_from_sampled_move": sampled,
        "reference": spec["reference"],
        "devset_sha256": digest,
    }


def win_rates(
    agent,
    spec: str,
    game: str,
    opponents,
    pairs: int,
    seed: int,
    batch: int = DEFAULT_BATCH,
    runner: Runner | None = None,
    **options,
) -> list[dict]:
    """Seat-swapped pairs of ``spec`` against each opponent; score and Elo with the pairing
    interval of ``ratings.pairing_estimate`` (pentanomial, as tournaments and gates use).

    ``runner`` plays the games (``games.runner``); default: a ``LocalRunner`` here with
    ``agent`` itself and each opponent, ``batch`` games at a time.
    """
    from agents import make_agent

    handle = load_game(game)
    results = []
    for opponent in opponents:
        if opponent == spec:
            continue
        tag = f"eval-{opponent}".replace(":", "")
        jobs = pair_jobs(handle.spec, spec, opponent, range(pairs), seed, run_id="eval", tag=tag)
        if runner is None:
            agents = {spec: agent, opponent: make_agent(opponent, handle, **options)}
            records = LocalRunner(agents, batch)(jobs)
        else:
            records = runner(jobs)
        summary = summarize(records, spec, opponent)
        est = pairing_estimate(summary.pentanomial, summary.wins, summary.draws, summary.losses)
        results.append(
            {
                **summary.to_dict(),
                "score": summary.score,
                "score_ci95": list(est.score_ci),
                "elo": est.elo,
                "elo_ci95": list(est.ci),
            }
        )
    return results


def evaluate(
    game: str,
    spec: str,
    *,
    opponents: tuple[str, ...] | None = None,
    pairs: int = 20,
    seed: int = 0,
    limit: int | None = None,
    agent_options: dict | None = None,
    runner: Runner | None = None,
) -> dict:
    """The full report of ``arena eval`` (dev-set metric + win rates), as a JSON-ready dict."""
    from agents import make_agent, parse_spec

    handle = load_game(game)
    spec = parse_spec(spec).raw
    if pairs < 0:
        raise InputError("--pairs must be >= 0")
    options = agent_options or {}
    agent = make_agent(spec, handle, **options)
    started = time.perf_counter()
    if handle.name in POLICY_GAMES:
        devset = policy_exploitability(agent, handle.spec, seed)
    else:
        devset = position_accuracy(agent, handle.spec, seed, limit)
    devset_s = time.perf_counter() - started
    chosen = DEFAULT_OPPONENTS.get(handle.name, ("random",)) if opponents is None else opponents
    matches = (
        win_rates(agent, spec, handle.spec, chosen, pairs, seed, runner=runner, **options)
        if pairs
        else []
    )
    closer = getattr(agent, "close", None)
    if callable(closer):
        closer()
    return {
        "game": handle.spec,
        "agent": spec,
        "seed": seed,
        "pairs": pairs,
        "devset": devset,
        "opponents": matches,
        "seconds": {
            "devset": round(devset_s, 3),
            "matches": round(time.perf_counter() - started - devset_s, 3),
        },
    }


def run_eval(config: EvalConfig, workspace=None, runner: Runner | None = None) -> tuple[dict, Path]:
    """``evaluate`` plus its files: ``eval.json`` and a manifest in ``config.out``."""
    out = Path(config.out)
    manifest = Manifest(
        kind="eval", run_id=out.name, config=to_dict(config), seeds={"eval": config.seed}
    )
    with manifest.stage("eval"):
        report = evaluate(
            config.game,
            config.agent,
            opponents=config.opponents,
            pairs=config.pairs,
            seed=config.seed,
            limit=config.limit,
            agent_options={"workspace": workspace, "device": config.device},
            runner=runner,
        )
    path = atomic_write(out / "eval.json", json.dumps(report, indent=1) + "\n")
    manifest.metrics = eval_metrics(report)
    manifest.add_outputs([path])
    manifest.write(out / "manifest.json")
    return report, path


def eval_metrics(report: dict) -> dict:
    """The numbers ``arena reproduce`` compares: dev-set metric and score per opponent."""
    devset = report["devset"]
    metrics = {k: devset[k] for k in ("accuracy", "exploitability") if k in devset}
    for entry in report["opponents"]:
        metrics[f"score_vs_{entry['opponent']}"] = entry["score"]
    return metrics
