"""``arena play``, ``arena serve`` and ``arena leaderboard``: what people look at by hand."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from agents import make_agent, parse_spec
from arena.workspace import Workspace
from games import InputError, load_game

SEATS = {"first": 0, "second": 1}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "play",
        help="play against an agent in the terminal",
        description="Play a game against an agent in the terminal. Moves are typed as text "
        "(b3, bet) or by their number in the list; an illegal entry is asked again. Each "
        "finished game is saved as a match record (seat spec 'human') under the workspace's "
        "matches/human/ folder, so it can become training data. Type q to quit.",
    )
    p.add_argument("--game", required=True, help="e.g. tic_tac_toe, kuhn_poker, connect_four")
    p.add_argument(
        "--vs",
        required=True,
        metavar="SPEC",
        help="the opponent: random, mcts[:N], solver, llm:BASE[@ADAPTER]",
    )
    p.add_argument(
        "--seat", choices=sorted(SEATS), default="first", help="your seat (default first)"
    )
    p.add_argument("--seed", type=int, default=None, help="first game's seed (default: clock)")
    p.add_argument(
        "--show-policy",
        action="store_true",
        help="after each agent move, show its probabilities over its legal moves",
    )
    p.add_argument("--out", default=None, help="JSONL file for the records (default: workspace)")
    p.add_argument("--device", default=None, help="LLM agents: cpu or cuda (default: auto)")
    p.set_defaults(func=cmd_play)


def cmd_play(args: argparse.Namespace) -> int:
    from arena.terminal import PlayConfig, run_session

    handle = load_game(args.game)
    spec = parse_spec(args.vs)
    if spec.kind == "human":
        raise InputError("--vs human: play against an agent (random, mcts, solver, llm:...)")
    workspace = Workspace.resolve(args.workspace)
    out = Path(args.out) if args.out else workspace.matches("human") / "terminal.jsonl"
    if args.seed is not None and args.seed < 0:
        raise InputError("--seed must be >= 0")
    seed = args.seed if args.seed is not None else int(time.time()) % 2**31
    agent = make_agent(spec.raw, handle, workspace=workspace, device=args.device)
    config = PlayConfig(
        game=handle.spec,
        opponent=spec.raw,
        seat=SEATS[args.seat],
        seed=seed,
        show_policy=args.show_policy,
        out=out,
    )
    saved = run_session(config, agent, input, print)
    print(f"{saved} game(s) saved to {out}")
    return 0
