"""The ``arena`` command line: one entry point, one module per group of subcommands.

User mistakes (unknown game, bad spec, unreadable file, ...) print one line
``arena: error: ...`` and exit with status 2; storage failures (disk full, a damaged file) print
one such line naming the file and exit with status 1. ``ARENA_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from games import InputError
from games.files import StorageError, storage_error

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Each module defines ``register(subparsers)``; it adds its subcommands with a ``func``.
COMMAND_MODULES = (
    "arena.cli.play_cmds",
    "arena.cli.run_cmds",
    "arena.cli.train_cmds",
    "arena.cli.base_cmds",
    "arena.cli.people_cmds",
    "arena.cli.registry_cmds",
    "arena.cli.nightly_cmds",
)


def one_line(text: str) -> str:
    """The message on one line: control characters a user typed (``\\r``, ``\\n``, escape
    sequences) are shown escaped, so they can neither split nor rewrite the terminal line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arena",
        description="A self-play arena where LLMs get better at OpenSpiel games, "
        "night after night, and prove it with statistics.",
    )
    parser.add_argument(
        "--workspace",
        default=None,
        help="folder for models, adapters, match logs, datasets and run reports "
        "(default: $ARENA_WORKSPACE or ./arena-data)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help=f"logging level: {', '.join(LOG_LEVELS)} (default WARNING)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        print("arena: error: no command given (see the list above)", file=sys.stderr)
        return 2
    from arena.registry import resolve

    resolve.install()  # specs such as llm:small@champion resolve through the registry
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        cluster = sys.modules.get("arena.execution.cluster")
        if getattr(cluster, "terminated", False):  # SIGTERM (arena.execution.cluster)
            print("arena: terminated (SIGTERM); run the same command to resume", file=sys.stderr)
            return 143
        print("arena: interrupted", file=sys.stderr)
        return 130
    except StorageError as error:  # disk full, damaged file: one line, exit 1 (not a mistake)
        if os.environ.get("ARENA_DEBUG"):
            raise
        print(f"arena: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    except (InputError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
        if os.environ.get("ARENA_DEBUG"):
            raise
        print(f"arena: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except Exception as error:
        wrapped = storage_error(error)
        if wrapped is None or os.environ.get("ARENA_DEBUG"):
            raise
        print(f"arena: error: {one_line(str(wrapped))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
