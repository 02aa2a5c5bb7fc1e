"""Build an SFT dataset (TRL prompt-completion JSONL) from match logs.

The same library call as ``arena data sft`` (``training.data_args`` -> ``training.sft_data``).
Example::

    python scripts/build_sft_jsonl.py arena-data/matches/run1 --agents solver --out sft-run1
    python scripts/build_sft_jsonl.py --play tic_tac_toe --play-agents solver random \\
        --play-games 200 --agents solver --out sft-ttt
"""

from __future__ import annotations

import argparse
import sys

from training.data_args import add_sft_data_args, build_sft_from_args, run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    add_sft_data_args(parser)
    return run_main(build_sft_from_args, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
