"""Branching rollouts: the value of each legal action at a position, by playing on from it.

A rollout is an ordinary match (``games.match.MatchJob``) whose opening is the position's
history plus one candidate action; the rollout agents play it out and the mover's return is
one sample of that action's value. Rollouts therefore run wherever matches run: here in one
process (``play_matches``, batched across positions so LLM agents answer many games per
forward pass) or on the Ray arena's workers: the caller passes a runner (``games.runner``;
``arena.execution.runner.RayRunner`` for Ray), and the default plays in this process.

Hidden information: in poker the logged history holds the opponent's card, which the mover
did not see. Rolling out from the true deal would value actions with knowledge the policy
cannot have, so each rollout first re-deals: it samples a history the mover cannot tell from
the real one (same information state), weighted by chance probability and, when the rollout
opponent is a scripted agent with a policy (the CFR solver, random), by that opponent's
probability of the actions it took: the belief a player holds about the hidden card given how
the opponent bet (Bayes). Chance weights alone are wrong as soon as the opponent's actions
depend on its card: holding the Queen after "check, bet" in kuhn_poker, the equilibrium
opponent bets the King always and bluffs the Jack a third of the time, so the Jack has
probability 1/4, not 1/2; with 1/2, calling looks better than folding (+0 vs -1 chips) where the
two are equal, and DPO learns to call too often (LEARNING.md section 5). This is the
determinisation of Perfect Information Monte Carlo (Long et al. 2010, "Understanding the
success of perfect information Monte Carlo sampling in game tree search").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyspiel

from games import GameHandle, InputError, Opening
from games.match import MatchJob
from games.records import MatchRecord

log = logging.getLogger(__name__)

MAX_HISTORIES = 50_000
ROLLOUT_BATCH = 256  # games in lockstep per local batch: rollouts are short, batches wide


@dataclass(frozen=True)
class Position:
    """A decision point taken from a log: enough to rebuild the state and render its prompt."""

    game: str
    history: tuple[int, ...]
    player: int
    prompt: str
    actions: tuple[int, ...]
    texts: tuple[str, ...]
    match_id: str
    ply: int
    played: int | None = None  # the move the logged player chose here


def replay(handle: GameHandle, history: Sequence[int]) -> pyspiel.State:
    """The state after ``history``; ValueError naming the first illegal action."""
    state = handle.game.new_initial_state()
    for ply, action in enumerate(history):
        legal = (
            [a for a, _ in state.chance_outcomes()]
            if state.is_chance_node()
            else state.legal_actions()
        )
        if action not in legal:
            raise ValueError(f"action {action} at ply {ply} is not legal")
        state.apply_action(action)
    return state


def consistent_histories(
    handle: GameHandle,
    history: Sequence[int],
    player: int,
    opponent_policy: Callable[[pyspiel.State], dict[int, float] | None] | None = None,
) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """Histories ``player`` cannot tell from ``history``, with their probabilities.

    Chance outcomes are enumerated; decision actions are kept as logged (the mover saw them).
    A history's weight is its chance probability times, with ``opponent_policy``, the
    probability the opponent's policy gives each of its logged actions (the mover's own actions
    weigh the same in every consistent history). When that policy rules out every history
    (an action it never takes), the chance weights are used. Perfect-information games return
    ``history`` itself.

    Raises:
        InputError: more than ``MAX_HISTORIES`` candidates (too large to enumerate).
    """
    if handle.perfect_information:
        return [tuple(history)], np.ones(1)
    target = replay(handle, history).information_state_string(player)
    found: list[tuple[int, ...]] = []
    weights: list[float] = []
    beliefs: list[float] = []
    stack = [(handle.game.new_initial_state(), 0, 1.0, 1.0)]
    visited = 0
    while stack:
        state, depth, prob, reach = stack.pop()
        visited += 1
        if visited > MAX_HISTORIES:
            raise InputError(f"{handle.spec}: too many hidden deals to enumerate for rollouts")
        if depth == len(history):
            if state.information_state_string(player) == target:
                found.append(tuple(state.history()))
                weights.append(prob)
                beliefs.append(prob * reach)
            continue
        if state.is_chance_node():
            for outcome, p in state.chance_outcomes():
                stack.append((state.child(outcome), depth + 1, prob * p, reach))
        elif history[depth] in state.legal_actions():
            action, factor = history[depth], 1.0
            if opponent_policy is not None and state.current_player() != player:
                policy = opponent_policy(state)
                factor = 1.0 if policy is None else float(policy.get(action, 0.0))
            stack.append((state.child(action), depth + 1, prob, reach * factor))
    if sum(beliefs) > 0:
        weights = beliefs
    weights_arr = np.asarray(weights, dtype=np.float64)
    order = sorted(range(len(found)), key=lambda i: found[i])  # enumeration order is irrelevant
    return [found[i] for i in order], weights_arr[order] / weights_arr.sum()


_POLICY_AGENTS: dict[tuple[str, str], object] = {}


def opponent_policy(
    handle: GameHandle, spec: str
) -> Callable[[pyspiel.State], dict[int, float] | None] | None:
    """The policy of the scripted rollout opponent ``spec`` at a state (for the mover's belief
    about hidden cards), or None: perfect-information games, and LLM or human opponents (an
    LLM would cost a forward pass per candidate deal; their deals keep the chance weights)."""
    from agents import make_agent, parse_spec
    from games import observe

    if handle.perfect_information or parse_spec(spec).kind in ("llm", "human"):
        return None
    key = (handle.spec, parse_spec(spec).raw)
    if key not in _POLICY_AGENTS:
        _POLICY_AGENTS[key] = make_agent(key[1], handle)
    agent = _POLICY_AGENTS[key]

    def policy(state: pyspiel.State) -> dict[int, float] | None:
        return agent.act(observe(handle, state), np.random.default_rng(0)).policy

    return policy


def rollout_jobs(
    handle: GameHandle,
    position: Position,
    index: int,
    seats: tuple[str, str],
    rollouts: int,
    seed: int,
) -> list[MatchJob]:
    """``rollouts`` jobs per legal action of ``position`` (the ``index``-th of the build).

    ``seats`` is (mover's continuation agent, opponent's agent); the mover keeps its seat.
    """
    belief = opponent_policy(handle, seats[1])
    histories, probs = consistent_histories(handle, position.history, position.player, belief)
    rng = np.random.default_rng([seed, index, 0xD0])
    specs = (seats[0], seats[1]) if position.player == 0 else (seats[1], seats[0])
    jobs = []
    for action in position.actions:
        for r in range(rollouts):
            deal = histories[int(rng.choice(len(histories), p=probs))]
            stream = int(np.random.SeedSequence([seed, index, action, r]).generate_state(1)[0])
            jobs.append(
                MatchJob(
                    match_id=f"rollout-{index:07d}-{action}-{r}",
                    game=handle.spec,
                    seats=specs,
                    opening=Opening(actions=(*deal, action), chance_seed=stream % (2**31 - 1)),
                    seed=stream,
                    run_id="rollout",
                )
            )
    return jobs


@dataclass(frozen=True)
class ActionValue:
    """Rollout statistics of one action for the mover.

    ``mean`` is the mean return; ``score_sum`` the sum of returns mapped to [0, 1] by the
    game's utility range (the scale on which confidence and thresholds are computed).
    """

    action: int
    n: int
    mean: float
    score_sum: float


def action_values(
    handle: GameHandle, position: Position, records: Sequence[MatchRecord]
) -> dict[int, ActionValue]:
    """Aggregate the rollouts of one position (records of ``rollout_jobs``, any order)."""
    low, high = handle.game.min_utility(), handle.game.max_utility()
    sums: dict[int, list[float]] = {a: [] for a in position.actions}
    for record in records:
        action = int(record.match_id.rsplit("-", 2)[1])
        sums[action].append(record.returns[position.player])
    values = {}
    for action, returns in sums.items():
        arr = np.asarray(returns, dtype=np.float64)
        values[action] = ActionValue(
            action=action,
            n=len(arr),
            mean=float(arr.mean()) if len(arr) else float("nan"),
            score_sum=float(((arr - low) / (high - low)).sum()),
        )
    return values
