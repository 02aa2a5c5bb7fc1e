"""Exact solver for small perfect-information games: negamax alpha-beta with a transposition table.

Values are the acting player's game-theoretic return under optimal play (for tic_tac_toe:
1 win, 0 draw, -1 loss). The transposition table stores (depth-independent) exact values and
alpha-beta bounds, keyed by the state's string plus the player to move (Knuth & Moore 1975,
"An analysis of alpha-beta pruning"; TT flags as in Marsland 1986).

The solver is the expert for tic_tac_toe SFT data and labels its dev set with every optimal
move; ``action_values`` gives the exact value of every legal action.
"""

from __future__ import annotations

import numpy as np
import pyspiel

from agents.base import Decision, ScriptedAgent
from games import GameHandle, InputError, Observation

EXACT, LOWER, UPPER = 0, 1, 2


class GameTooLarge(InputError):
    pass


class AlphaBetaSolver:
    def __init__(self, handle: GameHandle, max_nodes: int = 2_000_000):
        gtype = handle.game.get_type()
        if not handle.perfect_information:
            raise InputError(
                f"the exact solver needs a perfect-information game, not {handle.spec}"
            )
        if gtype.utility != pyspiel.GameType.Utility.ZERO_SUM:
            raise InputError(f"the exact solver needs a zero-sum game, not {handle.spec}")
        if gtype.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC:
            raise InputError(f"the exact solver needs a deterministic game, not {handle.spec}")
        self.handle = handle
        self.max_nodes = max_nodes
        self.table: dict[str, tuple[float, int]] = {}
        self.nodes = 0

    def value(self, state: pyspiel.State) -> float:
        """Exact value of ``state`` for the player to move (terminal: for player 0)."""
        if state.is_terminal():
            return float(state.returns()[0])
        return self._negamax(state, -np.inf, np.inf)

    def action_values(self, state: pyspiel.State) -> dict[int, float]:
        """Exact value of each legal action for the player to move."""
        player = state.current_player()
        values = {}
        for action in state.legal_actions():
            child = state.child(action)
            if child.is_terminal():
                values[action] = float(child.returns()[player])
            elif child.current_player() == player:
                values[action] = self._negamax(child, -np.inf, np.inf)
            else:
                values[action] = -self._negamax(child, -np.inf, np.inf)
        return values

    def _negamax(self, state: pyspiel.State, alpha: float, beta: float) -> float:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise GameTooLarge(
                f"{self.handle.spec} is too large for the exact solver (> {self.max_nodes} nodes); "
                "use mcts"
            )
        key = str(state) + f"|{state.current_player()}"
        entry = self.table.get(key)
        alpha0 = alpha
        if entry is not None:
            value, flag = entry
            if flag == EXACT:
                return value
            if flag == LOWER:
                alpha = max(alpha, value)
            else:
                beta = min(beta, value)
            if alpha >= beta:
                return value
        player = state.current_player()
        best = -np.inf
        for action in state.legal_actions():
            child = state.child(action)
            if child.is_terminal():
                score = float(child.returns()[player])
            elif child.current_player() == player:
                score = self._negamax(child, alpha, beta)
            else:
                score = -self._negamax(child, -beta, -alpha)
            best = max(best, score)
            alpha = max(alpha, score)
            if alpha >= beta:
                break
        flag = UPPER if best <= alpha0 else LOWER if best >= beta else EXACT
        self.table[key] = (best, flag)
        return best


class SolverAgent(ScriptedAgent):
    """Plays uniformly among the optimal actions; its policy is that uniform distribution."""

    def __init__(self, handle: GameHandle, spec: str = "solver"):
        self.spec = spec
        self.solver = AlphaBetaSolver(handle)

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        values = self.solver.action_values(obs.state)
        best = max(values.values())
        optimal = [a for a in obs.actions if values[a] >= best - 1e-9]
        policy = {a: (1.0 / len(optimal) if a in optimal else 0.0) for a in obs.actions}
        action = int(optimal[rng.integers(len(optimal))])
        return Decision(action=action, policy=policy)
