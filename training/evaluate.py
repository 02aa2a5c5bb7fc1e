"""``arena eval``: an agent on its game's frozen dev set, and against fixed scripted opponents.

Board games report optimal-move accuracy (the agent's move is one of the labelled optimal
moves) with a Wilson interval, plus the policy mass on optimal moves when the agent has a
policy. Poker reports the exact exploitability of the agent's policy: the policy is queried at
every information state (one representative state each; the prompt shows only what the
player knows, so any representative gives the same answer) and handed to OpenSpiel's
best-response computation (``exploitability`` = NashConv / 2; Johanson et al. 2011).
Win rates come from seat-swapped pairs against each opponent, with the pentanomial Elo
interval and the Wilson interval of the score (``ratings``), and the mean return per game
(chips, for poker) with a normal 95% interval over pairs (a pair's two games share an opening,
so pairs, not games, are the independent units).

What is measured is what plays: perfect-information games are evaluated with argmax play
(``llm:`` specs get ``temperature=0`` unless they set their own), and the policy's mass on
optimal moves is reported beside the argmax accuracy from the same model at temperature 1 (the
mass alone hides most of what training does: a policy can move from 0.40 to 0.46 mass while
its argmax moves from 0.48 to 0.66). Imperfect-information games play the policy itself.
When both players are deterministic, each distinct opening is played once
(``games.schedule.distinct_opening_pairs``): repeated identical pairs are no evidence.
For tic_tac_toe and poker the solver also plays every opponent with the same openings
(``reference``), so "as good as the solver" is measured in the same run.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability as exploitability_lib

from agents import make_agent, parse_spec, with_temperature
from agents.spec import TEMPERATURE_KEYS
from games import InputError, load_game, observe
from games.files import atomic_write
from games.runner import DEFAULT_BATCH, LocalRunner, Runner
from games.schedule import distinct_opening_pairs, pair_jobs, summarize
from ratings import pairing_estimate, wilson_interval
from training.config import EvalConfig, to_dict
from training.devsets import POLICY_GAMES, load_devset
from training.manifest import Manifest

log = logging.getLogger(__name__)

DEFAULT_OPPONENTS = {
    "tic_tac_toe": ("random", "mcts:50", "solver"),
    "connect_four": ("random", "mcts:50"),
    "kuhn_poker": ("random", "solver"),
    "leduc_poker": ("random", "solver"),
}
# The ceiling each opponent is also measured against, with the same openings and seeds.
REFERENCE = {"tic_tac_toe": "solver", "kuhn_poker": "solver", "leduc_poker": "solver"}
BATCH = 64


def _decide(agent, observations, seed: int):
    decisions = []
    for start in range(0, len(observations), BATCH):
        chunk = observations[start : start + BATCH]
        rngs = [np.random.default_rng([seed, start + i]) for i in range(len(chunk))]
        decisions.extend(agent.act_batch(chunk, rngs))
    return decisions


def position_accuracy(
    agent, game: str, seed: int = 0, limit: int | None = None, policy_agent=None
) -> dict:
    """Share of dev-set positions where the agent's move is optimal, and the policy's mass on
    optimal moves (from ``policy_agent`` when given: the same model at temperature 1)."""
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
    policies = _decide(policy_agent, observations, seed) if policy_agent else decisions
    correct, mass, with_policy, illegal, hits = 0, 0.0, 0, 0, []
    for index, (obs, row, decision, pol) in enumerate(
        zip(observations, rows, decisions, policies, strict=True)
    ):
        optimal = set(row["optimal"])
        if decision.action is None or decision.action not in obs.actions:
            illegal += 1
        elif obs.text_of(decision.action) in optimal:
            correct += 1
            hits.append(index)
        if pol.policy is not None:
            with_policy += 1
            mass += sum(p for a, p in pol.policy.items() if obs.text_of(a) in optimal)
    n = len(rows)
    low, high = wilson_interval(correct, n)
    return {
        "metric": "optimal_move_accuracy",
        "positions": n,
        "correct": correct,
        "correct_rows": hits,  # which dev-set rows: two agents compare position by position
        "accuracy": correct / n,
        "ci95": [low, high],
        "policy_mass_on_optimal": mass / with_policy if with_policy else None,
        "played_by": getattr(agent, "spec", None),
        "policy_from": getattr(policy_agent or agent, "spec", None),
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
    interval of ``ratings.pairing_estimate`` (pentanomial, as tournaments and gates use), and
    the mean return per game (chips) with its interval over pairs.

    ``runner`` plays the games (``games.runner``); default: a ``LocalRunner`` here with
    ``agent`` itself and each opponent, ``batch`` games at a time. When both players are
    deterministic, each distinct opening is played once (repeated pairs are no evidence).
    """
    from agents import is_deterministic

    handle = load_game(game)
    results = []
    for opponent in opponents:
        if opponent == spec:
            continue
        tag = f"eval-{opponent}".replace(":", "")
        deterministic = is_deterministic(spec) and is_deterministic(opponent)
        indices = (
            distinct_opening_pairs(handle.spec, pairs, seed, tag=tag)
            if deterministic
            else range(pairs)
        )
        jobs = pair_jobs(handle.spec, spec, opponent, indices, seed, run_id="eval", tag=tag)
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
                **mean_return(records, spec),
                "deterministic_pairs": deterministic,
            }
        )
    return results


def mean_return(records, spec: str) -> dict:
    """Mean return per game of ``spec`` (chips in poker) with a normal 95% interval over pairs.

    The two games of a pair share an opening (a deal), so the pair is the independent unit:
    the interval is mean +- 1.96 * sd(pair means) / sqrt(pairs).
    """
    by_pair: dict[int, list[float]] = {}
    for record in records:
        seats = [seat.spec for seat in record.seats]
        if spec not in seats:
            continue
        seat = int(record.swapped) if seats[0] == seats[1] else seats.index(spec)
        by_pair.setdefault(record.pair_index, []).append(float(record.returns[seat]))
    means = np.array([np.mean(v) for v in by_pair.values()]) if by_pair else np.zeros(0)
    if means.size == 0:
        return {"mean_return": None, "mean_return_ci95": None}
    half = 1.96 * means.std(ddof=1) / np.sqrt(means.size) if means.size > 1 else float("inf")
    mean = float(means.mean())
    return {"mean_return": mean, "mean_return_ci95": [mean - half, mean + half]}


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
    handle = load_game(game)
    asked = parse_spec(spec).raw
    if pairs < 0:
        raise InputError("--pairs must be >= 0")
    options = agent_options or {}
    argmax = handle.perfect_information and parse_spec(asked).kind == "llm"
    spec = with_temperature(asked, 0.0) if argmax else asked
    agent = make_agent(spec, handle, **options)
    policy_agent = make_agent(policy_spec(spec), handle, **options) if argmax else None
    started = time.perf_counter()
    if handle.name in POLICY_GAMES:
        devset = policy_exploitability(agent, handle.spec, seed)
    else:
        devset = position_accuracy(agent, handle.spec, seed, limit, policy_agent)
    devset_s = time.perf_counter() - started
    chosen = DEFAULT_OPPONENTS.get(handle.name, ("random",)) if opponents is None else opponents
    matches = (
        win_rates(agent, spec, handle.spec, chosen, pairs, seed, runner=runner, **options)
        if pairs
        else []
    )
    reference = []
    ref_spec = REFERENCE.get(handle.name)
    if pairs and ref_spec and ref_spec != spec:
        solver = make_agent(ref_spec, handle)
        reference = win_rates(solver, ref_spec, handle.spec, chosen, pairs, seed, runner=runner)
    for used in (agent, policy_agent):
        closer = getattr(used, "close", None)
        if callable(closer):
            closer()
    return {
        "game": handle.spec,
        "agent": spec,
        "seed": seed,
        "pairs": pairs,
        "devset": devset,
        "opponents": matches,
        "reference": reference,
        "seconds": {
            "devset": round(devset_s, 3),
            "matches": round(time.perf_counter() - started - devset_s, 3),
        },
    }


def policy_spec(spec: str) -> str:
    """The same LLM at temperature 1 (its policy), whatever temperature ``spec`` plays at."""
    parsed = parse_spec(spec)
    target, *items = (parsed.arg or "").split(",")
    kept = [i for i in items if i.partition("=")[0] not in TEMPERATURE_KEYS]
    return ",".join([f"llm:{target}", *kept, "temperature=1"])


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
    keys = ("accuracy", "policy_mass_on_optimal", "exploitability")
    metrics = {k: devset[k] for k in keys if devset.get(k) is not None}
    for entry in report["opponents"]:
        metrics[f"score_vs_{entry['opponent']}"] = entry["score"]
    for entry in report.get("reference", []):
        metrics[f"reference_score_vs_{entry['opponent']}"] = entry["score"]
    return metrics
