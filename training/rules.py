"""Rules as text, for pretraining the local base (``training.base_model``).

A pretrained LLM knows a game's rules from text: records of games (which position a move
leads to, who won) and commentary (which move wins now, which threat must be blocked). These
helpers write that text for the arena's board games, in the view the base reads::

    tic_tac_toe o           <- the move prompt (compact view) ...
    a x . .
    b . x .
    c o . .
    Move: c3                 ... a legal move (random), then the position it leads to
    tic_tac_toe x
    ...

    tic_tac_toe o           <- the same board, then the one-ply tactics
    ...
    Wins now: none
    Must block: c3

Only one-ply facts of the rules: no search, no strategy (that is what adapters learn).
"""

from __future__ import annotations

import pyspiel

from games import completion_text, observe
from games.compact import model_prompt
from games.observation import MOVE_MARKER

LINE_LENGTH = {"tic_tac_toe": 3, "connect_four": 4}
MARKS = ("x", "o")


def _grid(state: pyspiel.State) -> list[list[str]]:
    return [list(line.strip()) for line in str(state).splitlines() if line.strip()]


def _cell(name: str, grid: list[list[str]], action: int) -> tuple[int, int] | None:
    """The (row, column) that ``action`` fills (rows top first, as OpenSpiel prints them)."""
    if name == "tic_tac_toe":
        return divmod(action, len(grid[0]))
    for row in range(len(grid) - 1, -1, -1):  # connect_four: the lowest empty cell
        if grid[row][action] == ".":
            return row, action
    return None


def _completes_line(grid: list[list[str]], row: int, col: int, mark: str, k: int) -> bool:
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        run = 1
        for sign in (1, -1):
            r, c = row + sign * dr, col + sign * dc
            while 0 <= r < len(grid) and 0 <= c < len(grid[0]) and grid[r][c] == mark:
                run += 1
                r, c = r + sign * dr, c + sign * dc
        if run >= k:
            return True
    return False


def tactics(name: str, state: pyspiel.State, obs) -> tuple[list[str], list[str]]:
    """(moves that win now, moves the opponent would win with: must be blocked), as texts."""
    grid, k = _grid(state), LINE_LENGTH[name]
    mine, theirs = MARKS[obs.player], MARKS[1 - obs.player]
    wins, blocks = [], []
    for action, text in zip(obs.actions, obs.texts, strict=True):
        cell = _cell(name, grid, action)
        if cell is None:
            continue
        if _completes_line(grid, *cell, mine, k):
            wins.append(text)
        if _completes_line(grid, *cell, theirs, k):
            blocks.append(text)
    return wins, blocks


def _result(state: pyspiel.State) -> str:
    returns = state.returns()
    if returns[0] == returns[1]:
        return "Result: draw\n"
    return f"Result: {MARKS[0 if returns[0] > returns[1] else 1]} wins\n"


def move_text(handle, state, obs, action: int, view: str, tasks: tuple[str, ...]) -> str:
    """The move example: prompt, a legal move, then (``next``) the position or the result."""
    text = completion_text(obs.text_of(action))
    if "next" in tasks and handle.name in LINE_LENGTH:
        child = state.child(action)
        if child.is_terminal():
            text += _result(child)
        else:
            following = model_prompt(observe(handle, child).prompt, view)
            text += following[: -len(MOVE_MARKER)]
    return text


def tactics_text(handle, state, obs, view: str) -> tuple[str, str] | None:
    """(board prefix, ``Wins now: ... / Must block: ...``) for board games, else None."""
    if handle.name not in LINE_LENGTH:
        return None
    wins, blocks = tactics(handle.name, state, obs)
    prefix = model_prompt(obs.prompt, view)[: -len(MOVE_MARKER)]
    answer = f"Wins now: {' '.join(wins) or 'none'}\nMust block: {' '.join(blocks) or 'none'}\n"
    return prefix, answer
