"""Build a preference dataset (TRL prompt/chosen/rejected JSONL) from self-play logs.

The same library call as ``arena data prefs`` (``training.data_args`` ->
``training.pref_data``; ``--workers N`` plays the rollouts on ``arena.execution.runner.RayRunner``).
Example::

    python scripts/build_prefs_jsonl.py arena-data/matches/selfplay1 --method rollout \\
        --rollout-agent mcts:25 --rollouts 16 --threshold 0.1 --out prefs-selfplay1
"""

from __future__ import annotations

import argparse
import sys

from arena.execution.runner import runner_for
from training.data_args import add_prefs_data_args, build_prefs_from_args, run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    add_prefs_data_args(parser)
    args = parser.parse_args(argv)
    return run_main(lambda a: build_prefs_from_args(a, runner_for), args)


if __name__ == "__main__":
    sys.exit(main())
