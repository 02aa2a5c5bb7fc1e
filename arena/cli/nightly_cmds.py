"""``arena nightly --config nightly.toml``: one night of the cycle (``arena.nightly.pipeline``)."""

from __future__ import annotations

import argparse
import sys

from games import InputError
from games.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nightly",
        help="the whole cycle for one night: self-play, data, training, gate, promotion",
        description="Per configured game: self-play of the champion against a league on Ray, "
        "datasets (SFT from expert play on the first night, preference pairs afterwards), "
        "QLoRA SFT then DPO/IPO as a Ray task, dev-set evaluation, the SPRT gate against the "
        "champion, promote or reject, a regression check (automatic rollback), a tournament "
        "and rating snapshot, and a report in WORKSPACE/nights/NIGHT/. Resumable: run the same "
        "command again after a crash. Exit status: 0 promoted, 3 rejected, 1 failed, 2 bad "
        "input (config errors are reported before any work starts).",
    )
    p.add_argument("--config", default=None, help="nightly TOML (see configs/nightly.toml)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override one key of the config, e.g. --set gate.max_pairs=40 --set night.seed=3 "
        "(VALUE in TOML syntax; repeatable)",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config with where each value came from (default, FILE:LINE, "
        "--set), check it, and exit without doing any work",
    )
    p.add_argument("--address", default=None, help="Ray cluster HOST:PORT (default: [night] "
                   "address, $RAY_ADDRESS, else a local instance)")  # fmt: skip
    p.add_argument("--night", default=None, help="night id (default: today's UTC date; the "
                   "same id resumes that night)")  # fmt: skip
    p.set_defaults(func=cmd_nightly)


def cmd_nightly(args: argparse.Namespace) -> int:
    from arena.cli.run_cmds import ProgressLine
    from arena.nightly.config import default_config, load_config
    from arena.nightly.pipeline import game_outcome, run_night
    from arena.nightly.preflight import check_ready
    from arena.nightly.report import leaderboard_table, stage_summary
    from arena.nightly.show import describe

    sets = tuple(args.set)
    if args.config is None and not args.print_config:
        raise InputError("give --config nightly.toml (see configs/nightly.toml)")
    config = load_config(args.config, sets) if args.config else default_config(sets)
    workspace = Workspace.resolve(args.workspace)
    if args.print_config:
        check_ready(config, workspace)
        print(describe(config), end="")
        return 0
    bars: list[ProgressLine] = []

    def progress(desc: str):
        bars.append(ProgressLine(desc))
        return bars[-1]

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        result = run_night(config, workspace, args.night, args.address, say, progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"\n=== night {result.night}: {result.outcome.upper()} ===")
    for game, stages in result.games.items():
        for stage in ("gate", "decide", "regression"):
            if stages.get(stage):
                print(f"{game} {stage}: {stage_summary(stage, stages[stage])}")
        if stages.get("decide"):
            print(f"{game}: {game_outcome(stages)}")
        board = (stages.get("tournament") or {}).get("leaderboard")
        if board:
            print(leaderboard_table(board))
    if result.error:
        print(f"arena: night failed: {result.error} (run the same command to resume)",
              file=sys.stderr)  # fmt: skip
    print(f"report: {result.paths.get('report_md')}")
    return result.exit_code
