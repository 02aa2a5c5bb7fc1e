"""Where does an agent lose to the tic_tac_toe solver: at which ply, and in which positions?

Plays ``--pairs`` seat-swapped pairs against the solver from the empty board (the solver breaks
ties among optimal moves at random, so pairs differ), replays every game the agent did not win
with the exact solver, and reports the ply of the agent's first move that lowered its value,
and whether that position is in a dev class held out of every training set (a dev position or
one of its images). LEARNING.md ("Symmetry") uses it to show that the champion's losses come
from the openings the protocol holds out::

    python scripts/first_mistakes.py --agent "llm:WS/base/small@WS/adapters/.../v3,sym=1"
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from agents import make_agent
from agents.solver import AlphaBetaSolver
from games import InputError, load_game, observe
from games.match import play_matches
from games.schedule import pair_jobs
from training.devsets import heldout_prompts

GAME = "tic_tac_toe"


def first_mistakes(spec: str, pairs: int, seed: int = 0) -> dict:
    """Games played, games lost, and the first losing move of each lost or drawn-from-a-win
    game by ply and by whether its position is held out."""
    handle = load_game(GAME)
    solver = AlphaBetaSolver(handle)
    held = heldout_prompts(GAME)
    agents = {spec: make_agent(spec, handle), "solver": make_agent("solver", handle)}
    records = play_matches(pair_jobs(GAME, spec, "solver", range(pairs), seed), agents)
    by_ply, by_class, lost = Counter(), Counter(), 0
    for record in records:
        seat = [s.spec for s in record.seats].index(spec)
        lost += record.score(seat) == 0.0
        state = handle.game.new_initial_state()
        for ply, action in enumerate(record.history):
            if state.current_player() == seat:
                values = solver.action_values(state)
                if values[action] < max(values.values()) - 1e-9:
                    by_ply[ply] += 1
                    where = "held out" if observe(handle, state).prompt in held else "trainable"
                    by_class[where] += 1
                    break
            state.apply_action(action)
    return {"games": len(records), "lost": lost, "by_ply": dict(sorted(by_ply.items())),
            "by_class": dict(by_class)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True, help="agent spec, e.g. llm:small@v3,sym=1")
    parser.add_argument("--pairs", type=int, default=100, help="seat-swapped pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        r = first_mistakes(args.agent, args.pairs, args.seed)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{args.agent}: {r['lost']} of {r['games']} games lost to the solver; first losing "
        f"move by ply {r['by_ply']}; its position {r['by_class']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
