"""argv for the dataset builders, shared by ``arena data ...`` and ``scripts/build_*_jsonl.py``.

Flags map one-to-one onto ``SFTDataConfig`` / ``PrefsDataConfig`` / ``PlaySpec`` fields, and
every default is read from those dataclasses, so a default is defined once (in
``training.config``). ``main_sft`` / ``main_prefs`` are the scripts' whole programs; the Ray
runner for ``--workers`` is the caller's (``arena.execution.runner.runner_for``), passed in as a
factory, so this module never imports ``arena``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from games import InputError
from games.defaults import field_default
from games.workspace import Workspace
from training.config import PlaySpec, PrefsDataConfig, SFTDataConfig

default = field_default  # the default of a config field: defined once, in training.config


def _common_data_args(p: argparse.ArgumentParser, config: type) -> None:
    p.add_argument("logs", nargs="*", help="match-log JSONL files or folders of shards")
    p.add_argument("--out", default=None, help="output folder (default: workspace datasets/RUN)")
    p.add_argument("--run", default=None, help="run id for the default output folder")
    p.add_argument("--agents", nargs="+", default=None, help="only moves of seats with these specs")
    p.add_argument("--seats", nargs="+", type=int, choices=(0, 1), default=None, help="only seats")
    p.add_argument(
        "--dedup",
        choices=("none", "exact", "prompt"),
        default=default(config, "dedup"),
        help="exact: drop repeated (prompt, completion); prompt: first row per prompt",
    )
    p.add_argument("--no-balance", action="store_true", help="do not balance rows across seats")
    p.add_argument(
        "--heldout", type=float, default=default(config, "heldout"), help="held-out fraction"
    )
    p.add_argument(
        "--seed", type=int, default=default(config, "seed"), help="split and subsample seed"
    )
    p.add_argument("--skip-bad", action="store_true", help="quarantine malformed lines, go on")
    p.add_argument(
        "--include-devset",
        action="store_true",
        help="keep dev-set positions and their symmetric images (dropped by default)",
    )
    p.add_argument("--play", default=None, metavar="GAME", help="play matches first (no logs)")
    p.add_argument(
        "--play-agents", nargs=2, default=("solver", "random"), metavar="SPEC", help="with --play"
    )
    p.add_argument(
        "--play-games", type=int, default=default(PlaySpec, "games"), help="games with --play"
    )
    p.add_argument(
        "--play-seed", type=int, default=default(PlaySpec, "seed"), help="seed of played matches"
    )
    p.add_argument(
        "--opening-plies",
        type=int,
        default=default(PlaySpec, "opening_plies"),
        help="random plies before play in board games (with --play)",
    )
    p.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_sft_data_args(p: argparse.ArgumentParser) -> None:
    _common_data_args(p, SFTDataConfig)
    p.add_argument(
        "--outcome",
        choices=("any", "won", "not_lost"),
        default=default(SFTDataConfig, "outcome"),
        help="keep moves from any game, won games, or games the mover did not lose",
    )
    p.add_argument(
        "--label",
        choices=("played", "solver"),
        default=default(SFTDataConfig, "label"),
        help="played: the logged move; solver: every optimal move at each logged position",
    )


def add_prefs_data_args(p: argparse.ArgumentParser) -> None:
    c = PrefsDataConfig
    _common_data_args(p, c)
    p.add_argument(
        "--method",
        choices=("rollout", "solver", "outcome"),
        default=default(c, "method"),
        help="see above",
    )
    p.add_argument(
        "--rejected",
        choices=("gap", "played"),
        default=default(c, "rejected"),
        help="gap: largest value gap; played: the logged player's own worse move vs the best",
    )
    p.add_argument(
        "--rollout-agent", default=default(c, "rollout_agent"), help="plays on for the mover"
    )
    p.add_argument("--rollout-opponent", default=None, help="plays the other seat (default: same)")
    p.add_argument(
        "--rollouts", type=int, default=default(c, "rollouts"), help="rollouts per legal action"
    )
    p.add_argument(
        "--threshold", type=float, default=default(c, "threshold"), help="min gap, fraction"
    )
    p.add_argument("--confidence", type=float, default=None, help="min P(gap > threshold)")
    p.add_argument(
        "--pairs-per-position",
        type=int,
        default=default(c, "pairs_per_position"),
        help="largest gaps first",
    )
    p.add_argument("--max-positions", type=int, default=None, help="cap on distinct positions")
    p.add_argument(
        "--workers",
        type=int,
        default=default(c, "workers"),
        help="Ray workers for rollouts (0: here)",
    )


def workspace_of(args: argparse.Namespace) -> Workspace:
    return Workspace.resolve(getattr(args, "workspace", None))


def _data_out(args, kind: str) -> Path:
    if args.out:
        return Path(args.out)
    run = args.run or time.strftime(f"{kind}-%Y%m%d-%H%M%S")
    return workspace_of(args).datasets(run)


def _play(args) -> PlaySpec | None:
    if not args.play:
        if not args.logs:
            raise InputError("give match logs, or --play GAME to play matches first")
        return None
    return PlaySpec(
        args.play, tuple(args.play_agents), args.play_games, args.play_seed, args.opening_plies
    )


def _data_common(args, kind: str) -> dict:
    return {
        "inputs": tuple(args.logs),
        "out": str(_data_out(args, kind)),
        "agents": tuple(args.agents) if args.agents else None,
        "seats": tuple(args.seats) if args.seats else None,
        "dedup": args.dedup,
        "balance_seats": not args.no_balance,
        "heldout": args.heldout,
        "seed": args.seed,
        "skip_bad": args.skip_bad,
        "play": _play(args),
        "exclude_devset": not args.include_devset,
    }


def sft_config(args: argparse.Namespace) -> SFTDataConfig:
    return SFTDataConfig(**_data_common(args, "sft"), outcome=args.outcome, label=args.label)


def prefs_config(args: argparse.Namespace) -> PrefsDataConfig:
    return PrefsDataConfig(
        **_data_common(args, "prefs"),
        method=args.method,
        rejected=args.rejected,
        rollout_agent=args.rollout_agent,
        rollout_opponent=args.rollout_opponent,
        rollouts=args.rollouts,
        threshold=args.threshold,
        confidence=args.confidence,
        pairs_per_position=args.pairs_per_position,
        max_positions=args.max_positions,
        workers=args.workers,
    )


def build_sft_from_args(args: argparse.Namespace) -> str:
    """``arena data sft``: build, return the summary to print."""
    from training.sft_data import build_sft

    return build_sft(sft_config(args)).summary()


RunnerFactory = Callable[..., contextlib.AbstractContextManager]


def build_prefs_from_args(args: argparse.Namespace, runner_for: RunnerFactory | None = None) -> str:
    """``arena data prefs``: build, return the summary to print.

    ``runner_for(workers, scratch, workspace)`` gives a context manager yielding the rollout
    runner (None: local); ``arena.execution.runner.runner_for`` gives a ``RayRunner`` for
    workers > 0.
    """
    from training.pref_data import build_prefs

    config = prefs_config(args)
    workspace = workspace_of(args)
    if config.workers > 0 and config.method == "rollout":
        if runner_for is None:
            raise InputError("--workers needs the Ray runner (run `arena data prefs`)")
        scope = runner_for(config.workers, Path(config.out) / ".ray-scratch", workspace.root)
    else:
        scope = contextlib.nullcontext(None)
    with scope as runner:
        result = build_prefs(config, agent_options={"workspace": workspace}, runner=runner)
    return result.summary()


def run_main(build: Callable[[argparse.Namespace], str], args: argparse.Namespace) -> int:
    """A script's body: build, print the summary; a user error is one line on stderr."""
    try:
        print(build(args))
        return 0
    except (InputError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        print(f"{Path(sys.argv[0]).name}: error: {error}", file=sys.stderr)
        return 2
