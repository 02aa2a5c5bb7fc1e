"""What the held-out tic_tac_toe dev set leaves to learn from, per ply (LEARNING.md, section 2).

Every reachable non-terminal position is put in one of three groups:

* ``held out``: a dev-set position or one of its 8 symmetric images, which no training set may
  contain (``training.devsets.heldout_prompts``);
* ``no signal``: the solver's labels (``training.sft_data.fastest_optimal``: every optimal
  move, only the wins-now where one wins now) cover every legal move, so they teach nothing;
* ``trainable``: the rest, the only positions SFT data can label.

It also scores two one-ply reference players on the dev set, to show how far tactics go:
``tactics``: a winning move if there is one, else a block, else a uniform legal move (expected
accuracy); ``heuristic``: win > block > fork > centre > corner > any (the textbook rules, Newell
and Simon 1972's tic-tac-toe program without its fork-blocking rule). No model is involved.

Usage::

    python scripts/devset_coverage.py
"""

from __future__ import annotations

from collections import Counter

from agents.solver import AlphaBetaSolver
from games import load_game, observe
from training.devsets import heldout_prompts, load_devset
from training.sft_data import fastest_optimal

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def board_of(history: list[int]) -> list[str]:
    board = ["."] * 9
    for ply, action in enumerate(history):
        board[action] = "xo"[ply % 2]
    return board


def wins_now(board: list[str], mark: str) -> list[int]:
    """Cells where ``mark`` completes a line."""
    out = []
    for cell in (c for c in range(9) if board[c] == "."):
        after = board[:cell] + [mark] + board[cell + 1 :]
        if any(all(after[i] == mark for i in line) for line in LINES):
            out.append(cell)
    return out


def forks(board: list[str], mark: str) -> list[int]:
    """Cells after which ``mark`` has two ways to win."""
    return [
        c
        for c in range(9)
        if board[c] == "." and len(wins_now(board[:c] + [mark] + board[c + 1 :], mark)) >= 2
    ]


def reference_moves(history: list[int]) -> tuple[str, list[int], list[int]]:
    """(category, tactics moves, heuristic moves) at a position."""
    board = board_of(history)
    me, them = "xo"[len(history) % 2], "xo"[1 - len(history) % 2]
    legal = [c for c in range(9) if board[c] == "."]
    win, block = wins_now(board, me), wins_now(board, them)
    if win:
        return "win available", win, win
    if block:
        return "must block", block, block
    corners = [c for c in (0, 2, 6, 8) if c in legal]
    rest = forks(board, me) or ([4] if 4 in legal else corners or legal)
    return "no one-ply tactic", legal, rest


def coverage() -> Counter:
    handle = load_game("tic_tac_toe")
    held = heldout_prompts(handle.spec)
    solver = AlphaBetaSolver(handle)
    counts: Counter = Counter()
    seen: set[str] = set()
    stack = [handle.game.new_initial_state()]
    while stack:
        state = stack.pop()
        key = str(state)
        if state.is_terminal() or key in seen:
            continue
        seen.add(key)
        if observe(handle, state).prompt in held:
            group = "held out"
        elif not fastest_optimal(solver, state):
            group = "no signal"
        else:
            group = "trainable"
        counts[len(state.history()), group] += 1
        stack.extend(state.child(a) for a in state.legal_actions())
    return counts


def dev_references() -> tuple[Counter, Counter, Counter]:
    rows, _ = load_devset("tic_tac_toe")
    total, tactics, heuristic = Counter(), Counter(), Counter()
    for row in rows:
        category, tact, heur = reference_moves(row["history"])
        optimal = set(row["optimal"])
        name = ["abc"[c // 3] + str(c % 3 + 1) for c in range(9)]
        total[category] += 1
        tactics[category] += sum(name[c] in optimal for c in tact) / len(tact)
        heuristic[category] += sum(name[c] in optimal for c in heur) / len(heur)
    return total, tactics, heuristic


def main() -> None:
    counts = coverage()
    groups = ("held out", "no signal", "trainable")
    print("| ply | " + " | ".join(groups) + " |\n|---|---|---|---|")
    for ply in range(9):
        print(f"| {ply} | " + " | ".join(str(counts[ply, g]) for g in groups) + " |")
    print("| all | " + " | ".join(str(sum(counts[p, g] for p in range(9))) for g in groups) + " |")
    total, tactics, heuristic = dev_references()
    n = sum(total.values())
    print("\n| dev-set positions | count | tactics player | heuristic player |\n|---|---|---|---|")
    for category in total:
        print(
            f"| {category} | {total[category]} | {tactics[category] / total[category]:.3f} | "
            f"{heuristic[category] / total[category]:.3f} |"
        )
    print(f"| all | {n} | {sum(tactics.values()) / n:.3f} | {sum(heuristic.values()) / n:.3f} |")


if __name__ == "__main__":
    main()
