"""Openings: seeded starting positions shared by the two games of a seat-swapped pair.

An opening is a list of actions applied to the initial state plus a seed for every later chance
node. For board games it is a few uniformly random plies (diversity: without it, two
deterministic agents would replay one game forever); for poker it is the deal. Because chance
nodes later in the game (Leduc's public card) draw from a generator seeded by ``chance_seed``,
both games of a pair see the same cards even though the betting differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyspiel

from games.catalog import load_game
from games.defaults import DEFAULT_OPENING_PLIES
from games.handle import GameHandle
from games.observation import Observation, observe


@dataclass(frozen=True)
class Opening:
    actions: tuple[int, ...] = ()
    chance_seed: int = 0
    label: str = field(default="")

    def to_dict(self) -> dict:
        return {"actions": list(self.actions), "chance_seed": self.chance_seed, "label": self.label}


def sample_chance(state: pyspiel.State, rng: np.random.Generator) -> int:
    """Sample a chance outcome of ``state`` with its probabilities."""
    outcomes, probs = zip(*state.chance_outcomes(), strict=True)
    return int(outcomes[rng.choice(len(outcomes), p=np.asarray(probs) / sum(probs))])


def sample_opening(
    handle: GameHandle, rng: np.random.Generator, max_plies: int = DEFAULT_OPENING_PLIES
) -> Opening:
    """Sample an opening for ``handle``.

    Args:
        handle: the game.
        rng: the source of randomness (the run's generator; never global state).
        max_plies: for games without an initial deal, play 0..max_plies uniformly random
            plies (never reaching a terminal state).
    """
    state = handle.game.new_initial_state()
    actions: list[int] = []
    while state.is_chance_node():
        action = sample_chance(state, rng)
        actions.append(action)
        state.apply_action(action)
    if not actions and max_plies > 0:
        for _ in range(int(rng.integers(0, max_plies + 1))):
            legal = state.legal_actions()
            candidates = [a for a in legal if not state.child(a).is_terminal()]
            if not candidates:
                break
            action = int(candidates[rng.integers(len(candidates))])
            actions.append(action)
            state.apply_action(action)
            while state.is_chance_node():
                action = sample_chance(state, rng)
                actions.append(action)
                state.apply_action(action)
    return Opening(
        actions=tuple(actions),
        chance_seed=int(rng.integers(2**31 - 1)),
        label=" ".join(state_action_names(handle, actions)),
    )


def state_action_names(handle: GameHandle, actions: list[int] | tuple[int, ...]) -> list[str]:
    """OpenSpiel's names for a sequence of actions from the initial state (for labels/logs)."""
    state = handle.game.new_initial_state()
    names = []
    for action in actions:
        names.append(state.action_to_string(state.current_player(), action))
        state.apply_action(action)
    return names


def apply_opening(handle: GameHandle, opening: Opening) -> pyspiel.State:
    """The state after ``opening``; raises ValueError naming the first illegal action."""
    state = handle.game.new_initial_state()
    for ply, action in enumerate(opening.actions):
        legal = (
            [a for a, _ in state.chance_outcomes()]
            if state.is_chance_node()
            else state.legal_actions()
        )
        if action not in legal:
            raise ValueError(f"opening action {action} at ply {ply} is not legal in {handle.spec}")
        state.apply_action(action)
    return state


def random_observations(spec: str, count: int, seed: int) -> list[Observation]:
    """``count`` observations from uniformly random playouts of ``spec`` (tests, benchmarks).

    Chance nodes are sampled with their probabilities; every decision node met is rendered.
    """
    handle, rng, out = load_game(spec), np.random.default_rng(seed), []
    while len(out) < count:
        state = handle.game.new_initial_state()
        while not state.is_terminal() and len(out) < count:
            if state.is_chance_node():
                state.apply_action(sample_chance(state, rng))
                continue
            obs = observe(handle, state.clone())
            out.append(obs)
            state.apply_action(obs.actions[rng.integers(len(obs.actions))])
    return out
