"""Scripted opponents: uniform random and Monte Carlo tree search (OpenSpiel's C++ MCTSBot)."""

from __future__ import annotations

import numpy as np
import pyspiel

from agents.base import Decision, ScriptedAgent
from games import GameHandle, InputError, Observation


class RandomAgent(ScriptedAgent):
    """Uniform over the legal actions; its policy is that uniform distribution."""

    def __init__(self, spec: str = "random"):
        self.spec = spec

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        policy = {a: 1.0 / len(obs.actions) for a in obs.actions}
        return Decision(action=int(obs.actions[rng.integers(len(obs.actions))]), policy=policy)


class MCTSAgent(ScriptedAgent):
    """UCT search with random rollouts (``pyspiel.MCTSBot``), ``simulations`` per move.

    MCTS reads the full state, so it is refused for imperfect-information games, where it
    would see the opponent's cards.
    """

    def __init__(self, handle: GameHandle, simulations: int = 200, spec: str | None = None):
        if not handle.perfect_information:
            raise InputError(
                f"mcts needs a perfect-information game; {handle.spec} has hidden information "
                "(use 'solver', the CFR policy, for poker)"
            )
        if simulations < 1:
            raise InputError(f"mcts simulations must be >= 1, got {simulations}")
        self.handle = handle
        self.simulations = simulations
        self.spec = spec or f"mcts:{simulations}"

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        seed = int(rng.integers(2**31 - 1))
        evaluator = pyspiel.RandomRolloutEvaluator(1, seed)
        bot = pyspiel.MCTSBot(
            self.handle.game, evaluator, 2.0, self.simulations, 1000, True, seed + 1, False
        )
        policy, action = bot.step_with_policy(obs.state)
        return Decision(action=int(action), policy={int(a): float(p) for a, p in policy})
