"""Build an SFT dataset (TRL prompt-completion JSONL) from match logs.

The same code as ``arena data sft`` (``training.sft_data``); this is only its argv. Example::

    python scripts/build_sft_jsonl.py arena-data/matches/run1 --agents solver --out sft-run1
    python scripts/build_sft_jsonl.py --play tic_tac_toe --play-agents solver random \\
        --play-games 200 --agents solver --out sft-ttt
"""

from __future__ import annotations

import argparse
import sys

from arena.cli.train_cmds import add_sft_data_args, cmd_data_sft, run_script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_sft_data_args(parser)
    return run_script(cmd_data_sft, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
