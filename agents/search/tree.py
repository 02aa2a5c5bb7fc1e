"""PUCT tree search over many games in lockstep, with a batched prior.

The search of AlphaZero (Silver et al. 2017, 2018) with a policy prior and no value head,
shaped after OpenSpiel's ``algorithms/mcts.py`` (``SearchNode`` with ``__slots__``, nodes
expanded on their second visit, terminal children scored by their outcome). A simulation
walks from the root choosing, at a node of ``N`` visits, the child maximising

    PUCT(a) = Q(a) + c_puct * P(a) * sqrt(N) / (1 + N(a))        (Silver et al. 2017, Eq. 2)

with ``Q(a)`` the child's mean return for the player who moves there (0 while unvisited, a
draw's value) and ``P(a)`` the prior. Solved positions back up as in MCTS-Solver (Winands,
Bjornsson and Saito 2008; OpenSpiel's ``solve=True``): a terminal position's outcome is
exact, and a node is solved once one child wins for the player to move or all its children
are solved (then the best of them). A solved child is worth its exact outcome, without an
exploration bonus (nothing is left to learn about it), and the move chosen at the root is a
proven win first, never a proven loss while another move is open.

Leaf values without a value head: the prior's LLM has none, so a new leaf is worth the mean
return of ``rollouts`` uniformly random playouts from it (OpenSpiel's
``RandomRolloutEvaluator``), drawn from the game's own generator. Random playouts are cheap
next to a forward pass and unbiased about who is winning in short tactical games
(tic_tac_toe, connect_four); an LLM-policy rollout would cost one batched forward pass per
ply. ``rollouts=0`` leaves only terminal outcomes as evidence (a pure prior-guided search).

Lockstep batching: ``search_many`` advances every game's search one simulation at a time.
Each step first walks every tree down to its leaf; the leaves that need a prior (a node seen
once before and not yet expanded: at most one per game and step) are scored in ONE call of
``prior`` for all games, and their priors are cached in the node's children. Each game draws
only from its own generator, in the same order whatever else is in the batch, so a batched
search equals the same searches run one at a time (up to the prior's own batch invariance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyspiel

from agents.search.options import SearchOptions

# states -> one probability vector per state, aligned with state.legal_actions()
Prior = Callable[[Sequence[pyspiel.State]], Sequence[np.ndarray]]


class Node:
    """A position reached by ``action``, with the statistics of the player who chose it."""

    __slots__ = ("action", "player", "prior", "visits", "value_sum", "outcome", "children")

    def __init__(self, action: int | None, player: int, prior: float):
        self.action = action
        self.player = player  # who chose ``action``: values are from that player's side
        self.prior = prior
        self.visits = 0
        self.value_sum = 0.0
        self.outcome: list[float] | None = None  # returns, once found terminal
        self.children: list[Node] = []

    def puct(self, parent_visits: int, c_puct: float) -> float:
        if self.outcome is not None:
            return self.outcome[self.player]
        q = self.value_sum / self.visits if self.visits else 0.0
        # max(N, 1): a root expanded before its first visit still ranks its children by prior
        return q + c_puct * self.prior * math.sqrt(max(parent_visits, 1)) / (1 + self.visits)

    def expand(self, state: pyspiel.State, probs: np.ndarray) -> None:
        player = state.current_player()
        self.children = [
            Node(int(a), player, float(p))
            for a, p in zip(state.legal_actions(player), probs, strict=True)
        ]

    def select(self, c_puct: float) -> Node:
        return max(self.children, key=lambda child: child.puct(self.visits, c_puct))


@dataclass(frozen=True)
class SearchResult:
    """One root's search: per legal action (``state.legal_actions()`` order) the prior, the
    visit counts (summing to ``sims``) and the mean values, and the chosen action."""

    actions: tuple[int, ...]
    prior: np.ndarray
    visits: np.ndarray
    values: np.ndarray
    action: int


class _Search:
    """One game's tree and where its current simulation stands."""

    def __init__(self, state: pyspiel.State, rng: np.random.Generator, options: SearchOptions):
        self.state, self.rng, self.options = state, rng, options
        self.max_utility = state.get_game().max_utility()
        self.root = Node(None, state.current_player(), 1.0)
        self.root_prior: np.ndarray | None = None
        self.path: list[Node] = []
        self.leaf_state: pyspiel.State | None = None

    def expand_root(self, probs: np.ndarray) -> None:
        probs = np.asarray(probs, dtype=np.float64)
        self.root_prior = probs
        eps = self.options.dirichlet
        if eps > 0:  # AlphaZero's root noise (Silver et al. 2018): exploration in self-play
            noise = self.rng.dirichlet([self.options.dirichlet_alpha] * len(probs))
            probs = (1 - eps) * probs + eps * noise
        self.root.expand(self.state, probs)

    def descend(self) -> bool:
        """Walk down to a leaf; True when the leaf needs a prior before the walk goes on."""
        node, state = self.root, self.state.clone()
        self.path = [node]
        # the root is always searched (a solved root keeps spending its budget on its moves)
        while node is self.root or (node.outcome is None and not state.is_terminal()):
            if not node.children:
                if node.visits == 0:
                    break  # a new leaf: evaluated by rollouts, expanded when seen again
                self.leaf_state = state
                return True
            node = node.select(self.options.c_puct)
            state.apply_action(node.action)
            self.path.append(node)
        self.leaf_state = state
        return False

    def expand_leaf(self, probs: np.ndarray) -> None:
        """Expand the waiting leaf with its prior and step into its best child."""
        node, state = self.path[-1], self.leaf_state
        node.expand(state, np.asarray(probs, dtype=np.float64))
        child = node.select(self.options.c_puct)
        state.apply_action(child.action)
        self.path.append(child)

    def backup(self) -> None:
        """Value the leaf (outcome or rollouts), add it to every node on the path, and solve
        the nodes above a solved leaf while their children allow (MCTS-Solver)."""
        leaf, state = self.path[-1], self.leaf_state
        solved = True
        if leaf.outcome is not None:
            returns = leaf.outcome
        elif state.is_terminal():
            returns = leaf.outcome = [float(r) for r in state.returns()]
        else:
            returns, solved = self.rollouts(state), False
        for node in reversed(self.path):
            node.visits += 1
            node.value_sum += returns[node.player]
            if solved and node.children and node.outcome is None:
                solved = self._solve(node)

    def _solve(self, node: Node) -> bool:
        mover = node.children[0].player
        done = [c for c in node.children if c.outcome is not None]
        if not done:
            return False
        best = max(done, key=lambda c: c.outcome[mover])
        if best.outcome[mover] == self.max_utility or len(done) == len(node.children):
            node.outcome = best.outcome
            return True
        return False

    def rollouts(self, state: pyspiel.State) -> list[float]:
        n = self.options.rollouts
        total = np.zeros(state.num_players())
        for _ in range(n):
            playout = state.clone()
            while not playout.is_terminal():
                legal = playout.legal_actions()
                playout.apply_action(legal[int(self.rng.integers(len(legal)))])
            total += playout.returns()
        return list(total / n) if n else list(total)

    @staticmethod
    def _rank(child: Node) -> tuple:
        """OpenSpiel's ``sort_key``: a proven win over anything, a proven loss last."""
        proven = 0.0 if child.outcome is None else child.outcome[child.player]
        mean = child.value_sum / child.visits if child.visits else 0.0
        return (proven, child.visits, mean, child.prior)

    def result(self) -> SearchResult:
        children = self.root.children
        visits = np.array([c.visits for c in children], dtype=np.int64)
        values = np.array([c.value_sum / c.visits if c.visits else 0.0 for c in children])
        t = self.options.temperature
        if t == 0:  # proven first, then most visited, the better mean value, the higher prior
            best = max(range(len(children)), key=lambda i: self._rank(children[i]))
        else:  # N^(1/T), normalised in log space so that small T does not overflow
            logits = np.where(visits > 0, np.log(np.maximum(visits, 1)) / t, -np.inf)
            weights = np.exp(logits - logits.max())
            best = int(self.rng.choice(len(children), p=weights / weights.sum()))
        return SearchResult(
            actions=tuple(c.action for c in children),
            prior=self.root_prior,
            visits=visits,
            values=values,
            action=children[best].action,
        )


def search_many(
    states: Sequence[pyspiel.State],
    rngs: Sequence[np.random.Generator],
    prior: Prior,
    options: SearchOptions,
) -> list[SearchResult]:
    """Search every root (decision nodes of perfect-information games, left unchanged) with
    ``options.sims`` simulations each, calling ``prior`` once per simulation step for all
    games together (plus once for the roots)."""
    searches = [_Search(s, rng, options) for s, rng in zip(states, rngs, strict=True)]
    if not searches:
        return []
    for search, probs in zip(searches, prior([s.state for s in searches]), strict=True):
        search.expand_root(probs)
    for _ in range(options.sims):
        waiting = [s for s in searches if s.descend()]
        if waiting:
            for search, probs in zip(waiting, prior([s.leaf_state for s in waiting]), strict=True):
                search.expand_leaf(probs)
        for search in searches:
            search.backup()
    return [s.result() for s in searches]
