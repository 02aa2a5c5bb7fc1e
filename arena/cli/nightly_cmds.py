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
    p.add_argument("--nights", type=int, default=1, metavar="N",
                   help="run N nights one after another, NIGHT-1 .. NIGHT-N (each continues "
                   "from the champion the previous one left; the same command resumes), then "
                   "print the learning curve; the last night's report draws it. Exit status: "
                   "1 if a night failed, else 0 if any night promoted, else 3")  # fmt: skip
    p.set_defaults(func=cmd_nightly)


def cmd_nightly(args: argparse.Namespace) -> int:
    from arena.nightly.config import default_config, load_config
    from arena.nightly.pipeline import default_night_id
    from arena.nightly.preflight import check_ready
    from arena.nightly.show import describe

    if not 1 <= args.nights <= 1000:
        raise InputError(f"--nights must be in 1..1000, got {args.nights}")
    from arena.execution.cluster import take_sigterm

    take_sigterm()  # one line, not a silent death, for a SIGTERM before Ray starts too
    sets = tuple(args.set)
    if args.config is None and not args.print_config:
        raise InputError("give --config nightly.toml (see configs/nightly.toml)")
    config = load_config(args.config, sets) if args.config else default_config(sets)
    workspace = Workspace.resolve(args.workspace)
    if args.print_config:
        check_ready(config, workspace)
        print(describe(config), end="")
        return 0
    if args.nights == 1:
        return _one_night(config, workspace, args.night, args.address)
    prefix = args.night or default_night_id()
    results = []
    for i in range(1, args.nights + 1):
        print(f"\n##### night {i} of {args.nights} #####", flush=True)
        results.append(_one_night(config, workspace, f"{prefix}-{i}", args.address))
        if results[-1] == 1:
            print(f"arena: stopped after night {prefix}-{i} failed", file=sys.stderr)
            return 1
    _print_curves(workspace, config, f"{prefix}-{args.nights}")
    return 0 if 0 in results else 3


def _print_curves(workspace: Workspace, config, last: str) -> None:
    from arena.registry.store import Registry
    from arena.reporting.curves import devset_positions, night_table, registry_points
    from games import load_game

    with Registry.open(workspace.registry, readonly=True) as reg:
        for game in config.night.games:
            spec = load_game(game).spec
            points = registry_points(reg, spec, until=last)
            if points:
                print(f"\nlearning curve, {spec} (the champion night by night, 95% intervals):")
                print(night_table(points, devset_positions(spec)))
    print(f"curves: {workspace.root / 'nights' / last}/curve-*.png")


def _one_night(config, workspace: Workspace, night: str | None, address: str | None) -> int:
    from arena.cli.run_cmds import ProgressLine
    from arena.nightly.pipeline import run_night
    from arena.nightly.report import stage_summary
    from arena.reporting.tables import ratings_table

    bars: list[ProgressLine] = []

    def progress(desc: str):
        bars.append(ProgressLine(desc))
        return bars[-1]

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        result = run_night(config, workspace, night, address, say, progress)
    finally:
        for bar in bars:
            bar.close()
    print(f"\n=== night {result.night}: {result.outcome.upper()} ===")
    for game, stages in result.games.items():
        for stage, r in stages.items():
            if stage in ("gate", "decide", "regression"):
                print(f"{game} {stage}: {stage_summary(stage, r)}")
        if stages.decide:
            print(f"{game}: {stages.outcome}")
        if stages.tournament and stages.tournament.leaderboard:
            print(ratings_table(stages.tournament.to_dict()["leaderboard"]))
    if result.error:
        print(f"arena: night failed: {result.error} (run the same command to resume)",
              file=sys.stderr)  # fmt: skip
    print(f"report: {result.paths.get('report_md')}")
    return result.exit_code
