"""``arena play``, ``arena serve`` and ``arena leaderboard``: what people look at by hand."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agents import make_agent, parse_spec
from arena.play.terminal import PlayConfig
from arena.serve.config import ServerConfig
from games import InputError, load_game
from games.config_flags import Flags
from games.workspace import Workspace
from ratings import BOOTSTRAP_ROUNDS

# The terminal's seed defaults to the clock; the records' file is the workspace's.
PLAY_FLAGS = Flags(PlayConfig, exclude=("out",), defaults={"seed": None})
SERVE_FLAGS = Flags(ServerConfig, exclude=("workspace",))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "play",
        help="play against an agent in the terminal",
        description="Play a game against an agent in the terminal. A move is typed as its "
        "label, what the board and the list of legal moves show (b3 in tic_tac_toe, 5 for "
        "column 5 in connect_four, bet in poker); an illegal entry is asked again. Each "
        "finished game is saved as a match record (seat spec 'human') under the workspace's "
        "matches/human/ folder, so it can become training data. Type q to quit.",
    )
    PLAY_FLAGS.add_to(p)
    p.add_argument("--out", default=None, help="JSONL file for the records (default: workspace)")
    p.add_argument("--device", default=None, help="LLM agents: cpu or cuda (default: auto)")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser(
        "serve",
        help="web play, leaderboard and JSON API (127.0.0.1 by default)",
        description="Serve the play page, the leaderboard with its plots, a page per adapter "
        "version and the JSON API (OpenAPI document at /openapi.json, browsable at /docs). The "
        "server follows the registry: a promotion or rollback is loaded without a restart; "
        "games in progress keep the version they started with. Finished games are saved as "
        "match records under the workspace's matches/human/.",
    )
    SERVE_FLAGS.add_to(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "leaderboard",
        help="Bradley-Terry ratings with confidence intervals",
        description="Ratings of every player of a game from the workspace's match logs "
        "(Bradley-Terry on the Elo scale, bootstrap 95% intervals, ranks that respect them), "
        "as on the server's leaderboard page.",
    )
    p.add_argument("--game", required=True, help="e.g. tic_tac_toe")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP_ROUNDS,
        help=f"bootstrap rounds (default {BOOTSTRAP_ROUNDS}, as every rating interval)",
    )
    p.add_argument(
        "--history-png", default=None, help="also write the rating-history plot to this PNG"
    )
    p.set_defaults(func=cmd_leaderboard)


def cmd_play(args: argparse.Namespace) -> int:
    from arena.play.terminal import run_session

    handle = load_game(args.game)
    spec = parse_spec(args.vs)
    if spec.kind == "human":
        raise InputError("--vs human: play against an agent (random, mcts, solver, llm:...)")
    workspace = Workspace.resolve(args.workspace)
    out = Path(args.out) if args.out else workspace.matches("human") / "terminal.jsonl"
    seed = args.seed if args.seed is not None else int(time.time()) % 2**31
    config = PLAY_FLAGS.build(args, game=handle.spec, opponent=spec.raw, seed=seed, out=out)
    agent = make_agent(spec.raw, handle, workspace=workspace, device=args.device)
    saved = run_session(config, agent, input, print)
    print(f"{saved} game(s) saved to {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from arena.serve.app import create_app

    config = SERVE_FLAGS.build(args, workspace=Workspace.resolve(args.workspace))
    app = create_app(config)
    state = app.state.arena
    print(
        f"arena serve: http://{config.host}:{config.port}/ (workspace {config.workspace.root}; "
        f"LLM base: {state.base or 'none'}; games: {', '.join(state.games)})"
    )
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {config.host}: reachable from other machines, no login")
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from arena.reporting.leaderboard import build_leaderboard

    if args.bootstrap < 0:
        raise InputError("--bootstrap must be >= 0")
    handle = load_game(args.game)
    board = build_leaderboard(
        Workspace.resolve(args.workspace), handle.spec, bootstrap=args.bootstrap
    )
    print(board.format(args.format), end="" if args.format == "csv" else "\n")
    if args.history_png:
        from arena.reporting.plots import rating_history_png

        path = rating_history_png(board.history, args.history_png, f"{handle.spec} ratings")
        print(f"rating history plot: {path}", file=sys.stderr)
    return 0
