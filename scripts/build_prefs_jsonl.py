"""Build a preference dataset (TRL prompt/chosen/rejected JSONL) from self-play logs.

The same code as ``arena data prefs`` (``training.pref_data``); this is only its argv. Example::

    python scripts/build_prefs_jsonl.py arena-data/matches/selfplay1 --method rollout \\
        --rollout-agent mcts:25 --rollouts 16 --threshold 0.1 --out prefs-selfplay1
"""

from __future__ import annotations

import argparse
import sys

from arena.cli.train_cmds import add_prefs_data_args, cmd_data_prefs, run_script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_prefs_data_args(parser)
    return run_script(cmd_data_prefs, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
