"""Exact solver for small perfect-information games: negamax alpha-beta with a transposition table.

Values are the acting player's game-theoretic return under optimal play (for tic_tac_toe:
1 win, 0 draw, -1 loss). The transposition table stores (depth-independent) exact values and
alpha-beta bounds, keyed by the state's string plus the player to move (Knuth & Moore 1975,
"An analysis of alpha-beta pruning"; TT flags as in Marsland 1986).

The solver is the expert for tic_tac_toe SFT data and labels its dev set with every optimal
move; ``action_values`` gives the exact value of every legal action.

Work and memory are bounded: each call searches at most ``max_nodes`` nodes (a move of the
``solver`` agent: ``MOVE_NODES``, about 2 s on one core), and the transposition table is
emptied when it passes ``max_table`` entries. ``solver_refusal`` says up front whether the
solver can play a game within that budget: a Knuth (1975, "Estimating the efficiency of
backtrack programs") random-probe estimate of the game tree refuses huge games at once
(connect_four: ~1e30 leaves), and a solve of the opening position within the budget decides
the rest. The ``solver`` agent is refused, with that reason, where it could not finish a move.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pyspiel

from agents.base import Decision, ScriptedAgent
from games import GameHandle, InputError, Observation

EXACT, LOWER, UPPER = 0, 1, 2
MOVE_NODES = 200_000  # per move of the solver agent: ~85k nodes/s measured on one core
MAX_TABLE = 500_000  # transposition entries kept (~100 MB at most for board strings)


class GameTooLarge(InputError):
    pass


class AlphaBetaSolver:
    """``max_nodes``: the work budget of one call (``value``, ``action_values``);
    ``max_table``: the transposition table's size bound."""

    def __init__(self, handle: GameHandle, max_nodes: int = 2_000_000, max_table: int = MAX_TABLE):
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
        self.max_table = max_table
        self.table: dict[str, tuple[float, int]] = {}
        self.nodes = 0

    def _budget(self) -> None:
        """A new call: its own node budget; a full table is emptied (entries are exact
        values or bounds, so dropping them costs time, never correctness)."""
        self.nodes = 0
        if len(self.table) > self.max_table:
            self.table.clear()

    def value(self, state: pyspiel.State) -> float:
        """Exact value of ``state`` for the player to move (terminal: for player 0)."""
        if state.is_terminal():
            return float(state.returns()[0])
        self._budget()
        return self._negamax(state, -np.inf, np.inf)

    def action_values(self, state: pyspiel.State) -> dict[int, float]:
        """Exact value of each legal action for the player to move."""
        self._budget()
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
                f"{self.handle.spec} is too large for the exact solver (> {self.max_nodes} nodes "
                "for one move); use mcts"
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


def tree_estimate(handle: GameHandle, probes: int = 32, seed: int = 0) -> float:
    """Knuth's (1975) unbiased estimate of the number of leaves of the game tree: the mean,
    over random playouts, of the product of the branching factors met along the way."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(probes):
        state, product = handle.game.new_initial_state(), 1.0
        while not state.is_terminal() and product < 1e300:
            actions = state.legal_actions()
            product *= len(actions)
            state.apply_action(int(actions[rng.integers(len(actions))]))
        total += product
    return total / probes


@functools.lru_cache(maxsize=64)
def solver_refusal(spec: str, max_nodes: int = MOVE_NODES) -> str | None:
    """Why the ``solver`` agent cannot play ``spec`` (a perfect-information game) within
    ``max_nodes`` per move, or None when it can. Cached per game: decided once per process.

    Alpha-beta visits at least about the square root of the minimax tree (Knuth & Moore 1975,
    best move ordering): beyond a hundred times the budget that is refused without searching;
    otherwise the opening position is solved within the budget (the largest move of a game).
    """
    from games import load_game

    handle = load_game(spec)
    try:
        AlphaBetaSolver(handle)  # the kind of game (perfect information, zero-sum, ...)
    except GameTooLarge as error:
        return str(error)
    except InputError as error:
        return str(error)
    leaves = tree_estimate(handle)
    if math.sqrt(leaves) > 100 * max_nodes:
        return (
            f"the exact solver cannot play {handle.spec} within {max_nodes} nodes per move (its "
            f"game tree has about {leaves:.0e} leaves); use mcts"
        )
    try:
        AlphaBetaSolver(handle, max_nodes=max_nodes).action_values(handle.game.new_initial_state())
    except GameTooLarge:
        return (
            f"the exact solver cannot play {handle.spec} within {max_nodes} nodes per move "
            "(the opening position needs more); use mcts"
        )
    return None


class SolverAgent(ScriptedAgent):
    """Plays uniformly among the optimal actions; its policy is that uniform distribution.

    Refused (``GameTooLarge``, at construction: when a run checks its agents) for a game it
    cannot play within ``MOVE_NODES`` per move (``solver_refusal``)."""

    def __init__(self, handle: GameHandle, spec: str = "solver"):
        reason = solver_refusal(handle.spec)
        if reason is not None:
            raise GameTooLarge(reason)
        self.spec = spec
        self.solver = AlphaBetaSolver(handle, max_nodes=MOVE_NODES)

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        values = self.solver.action_values(obs.state)
        best = max(values.values())
        optimal = [a for a in obs.actions if values[a] >= best - 1e-9]
        policy = {a: (1.0 / len(optimal) if a in optimal else 0.0) for a in obs.actions}
        action = int(optimal[rng.integers(len(optimal))])
        return Decision(action=action, policy=policy)
