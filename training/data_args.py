"""argv for the dataset builders, shared by ``arena data ...`` and ``scripts/build_*_jsonl.py``.

The flags are derived from the fields of ``SFTDataConfig`` / ``PrefsDataConfig`` / ``PlaySpec``
(``games.config_flags.Flags``): names, types, defaults and help are declared once, in
``training.config``. Only what a command decides itself is written here: the match logs as
positional arguments, the output folder (``--out``, or ``--run`` under the workspace) and
``--play GAME`` (play matches first). ``main_sft`` / ``main_prefs`` are the scripts' whole
programs; the Ray runner for ``--workers`` is the caller's
(``arena.execution.runner.runner_for``), passed in as a factory, so this module never imports
``arena``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from games import InputError
from games.config_flags import Flags
from games.workspace import Workspace
from training.config import PlaySpec, PrefsDataConfig, SFTDataConfig

_SET_HERE = ("inputs", "out", "play")  # the logs, the output folder, the matches played first
SFT_FLAGS = Flags(SFTDataConfig, exclude=_SET_HERE)
PREFS_FLAGS = Flags(PrefsDataConfig, exclude=_SET_HERE)
PLAY_FLAGS = Flags(
    PlaySpec,
    prefix="play-",
    rename={"game": "--play", "opening_plies": "--opening-plies"},
    defaults={"game": None, "agents": ("solver", "random")},
)


def _common_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("logs", nargs="*", help="match-log JSONL files or folders of shards")
    p.add_argument("--out", default=None, help="output folder (default: workspace datasets/RUN)")
    p.add_argument("--run", default=None, help="run id for the default output folder")
    PLAY_FLAGS.add_to(p, "matches played first, instead of logs (--play GAME)")
    p.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_sft_data_args(p: argparse.ArgumentParser) -> None:
    _common_data_args(p)
    SFT_FLAGS.add_to(p)


def add_prefs_data_args(p: argparse.ArgumentParser) -> None:
    _common_data_args(p)
    PREFS_FLAGS.add_to(p)


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
    return PLAY_FLAGS.build(args)


def _set_here(args, kind: str) -> dict:
    return {"inputs": tuple(args.logs), "out": str(_data_out(args, kind)), "play": _play(args)}


def sft_config(args: argparse.Namespace) -> SFTDataConfig:
    return SFT_FLAGS.build(args, **_set_here(args, "sft"))


def prefs_config(args: argparse.Namespace) -> PrefsDataConfig:
    return PREFS_FLAGS.build(args, **_set_here(args, "prefs"))


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
