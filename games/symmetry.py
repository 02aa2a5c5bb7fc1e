"""A board's symmetries as permutations of its actions, and a position's images under them.

A symmetry maps the game onto itself: playing the permuted actions from the start reaches a
position that is the same up to relabelling, with the same value and the same best moves
(permuted). tic_tac_toe has the 8 symmetries of the square (rotations and reflections of the
3x3 board; action = 3 * row + column), connect_four the left-right mirror of its columns; other
games only the identity. Two users: the dev sets hold a position's images out of training with
the position itself (``training.devsets``), and an LLM agent can average its policy over a
position's images (``agents.llm`` option ``sym``), the dihedral ensemble AlphaGo used at
evaluation (Silver et al. 2016, "Mastering the game of Go...", Methods: "rotation and
reflection").
"""

from __future__ import annotations

from games.catalog import GameHandle
from games.observation import Observation, observe


def _square(f) -> tuple[int, ...]:
    return tuple(f(r, c)[0] * 3 + f(r, c)[1] for r in range(3) for c in range(3))


# The 8 symmetries of the 3x3 board, identity first.
TTT_SYMMETRIES = tuple(
    _square(f)
    for f in (
        lambda r, c: (r, c),
        lambda r, c: (c, 2 - r),
        lambda r, c: (2 - r, 2 - c),
        lambda r, c: (2 - c, r),
        lambda r, c: (r, 2 - c),
        lambda r, c: (2 - r, c),
        lambda r, c: (c, r),
        lambda r, c: (2 - c, 2 - r),
    )
)


def action_symmetries(handle: GameHandle) -> tuple[tuple[int, ...], ...]:
    """The game's symmetries as action permutations (``perm[a]`` is ``a``'s image), identity
    first; only the identity for games without a known symmetry."""
    n = handle.game.num_distinct_actions()
    if handle.name == "tic_tac_toe" and n == 9:
        return TTT_SYMMETRIES
    if handle.name == "connect_four":
        return (tuple(range(n)), tuple(n - 1 - a for a in range(n)))
    return (tuple(range(n)),)


def history_images(handle: GameHandle, history: list[int]) -> list[list[int]]:
    """``history`` and its images, one per symmetry (identity first)."""
    return [[perm[a] for a in history] for perm in action_symmetries(handle)]


def observation_images(obs: Observation) -> list[tuple[tuple[int, ...], Observation]]:
    """``(perm, image)`` for each symmetry of ``obs``'s game, identity first (``obs`` itself):
    the image position replayed from the permuted history, seen by the same player. A move
    ``a`` in ``obs`` is the move ``perm[a]`` in the image."""
    symmetries = action_symmetries(obs.handle)
    out = [(symmetries[0], obs)]
    history = obs.state.history()
    for perm in symmetries[1:]:
        state = obs.handle.game.new_initial_state()
        for action in history:
            state.apply_action(perm[action])
        out.append((perm, observe(obs.handle, state)))
    return out
