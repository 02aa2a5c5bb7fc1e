"""``arena play``, ``arena serve`` and ``arena leaderboard``: what people look at by hand."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agents import make_agent, parse_spec
from games import InputError, load_game
from games.workspace import Workspace

SEATS = {"first": 0, "second": 1}


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

    p = sub.add_parser(
        "serve",
        help="web play, leaderboard and JSON API (127.0.0.1 by default)",
        description="Serve the play page, the leaderboard with its plots, a page per adapter "
        "version and the JSON API (OpenAPI document at /openapi.json, browsable at /docs). The "
        "server follows the registry: a promotion or rollback is loaded without a restart; "
        "games in progress keep the version they started with. Finished games are saved as "
        "match records under the workspace's matches/human/.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--base",
        default=None,
        help="LLM base for LLM opponents (default: the registry's, else small or tiny)",
    )
    p.add_argument("--games", nargs="+", default=None, help="games offered (default: curated)")
    p.add_argument("--device", default=None, help="LLM device: cpu or cuda (default: auto)")
    p.add_argument(
        "--temperature", type=float, default=1.0, help="LLM sampling temperature (0: argmax)"
    )
    p.add_argument(
        "--poll", type=float, default=2.0, help="seconds between registry checks (default 2)"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    p.add_argument(
        "--max-games", type=int, default=512, help="games in progress at most (default 512)"
    )
    p.add_argument(
        "--max-games-per-client", type=int, default=16,
        help="games in progress per client address at most (default 16)",
    )  # fmt: skip
    p.add_argument(
        "--idle-timeout", type=float, default=1800.0,
        help="seconds without a move after which a game is dropped (default 1800)",
    )  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "leaderboard",
        help="Bradley-Terry ratings with confidence intervals",
        description="Ratings of every player of a game from the workspace's match logs "
        "(Bradley-Terry on the Elo scale, bootstrap 95%% intervals, ranks that respect them), "
        "as on the server's leaderboard page.",
    )
    p.add_argument("--game", required=True, help="e.g. tic_tac_toe")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds (default 200)")
    p.add_argument(
        "--history-png", default=None, help="also write the rating-history plot to this PNG"
    )
    p.set_defaults(func=cmd_leaderboard)


def cmd_play(args: argparse.Namespace) -> int:
    from arena.play.terminal import PlayConfig, run_session

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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from arena.serve.app import ServerConfig, create_app
    from games import CURATED_GAMES

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1-65535, got {args.port}")
    if args.poll < 0 or args.temperature < 0:
        raise InputError("--poll and --temperature must be >= 0")
    if args.threads is not None and args.threads < 1:
        raise InputError("--threads must be at least 1")
    if min(args.max_games, args.max_games_per_client) < 1 or not args.idle_timeout > 0:
        raise InputError("--max-games and --max-games-per-client must be >= 1, --idle-timeout > 0")
    config = ServerConfig(
        workspace=Workspace.resolve(args.workspace),
        base=args.base,
        games=tuple(args.games or CURATED_GAMES),
        device=args.device,
        temperature=args.temperature,
        poll_s=args.poll,
        threads=args.threads,
        max_games=args.max_games,
        max_games_per_client=args.max_games_per_client,
        idle_timeout_s=args.idle_timeout,
    )
    app = create_app(config)
    state = app.state.arena
    print(
        f"arena serve: http://{args.host}:{args.port}/ (workspace {config.workspace.root}; "
        f"LLM base: {state.base or 'none'}; games: {', '.join(state.games)})"
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: reachable from other machines, no login")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
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
