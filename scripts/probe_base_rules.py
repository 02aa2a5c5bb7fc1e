"""Does a local base know the one-ply rules it was pretrained on, where it never saw the board?

The `small` base is pretrained on rules text (training/rules.py), including, for each board,
"Wins now: ... / Must block: ...". The tic_tac_toe dev positions (and their symmetric images)
are held out of that corpus, so asking the base for those two lines on the dev boards measures
what it learnt of the rules rather than what it memorised. LEARNING.md ("A base that knows the
rules") uses it to compare base builds::

    python scripts/probe_base_rules.py --base arena-data/base/small [--base OTHER ...]

Prints, per base, how many "Wins now" lines (positions with a win on the board) and "Must
block" lines (positions with a threat) it completes exactly, greedy decoding.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from games import load_game, observe
from training.devsets import load_devset
from training.rollouts import replay
from training.rules import tactics, tactics_text


def probe(base: Path, game: str = "tic_tac_toe") -> dict:
    """Exact-match counts of the tactics lines on the dev positions of ``game``."""
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base)).eval()
    view = json.loads((base / "arena_base.json").read_text()).get("view", "compact")
    rows, _ = load_devset(game)
    handle = load_game(game)
    counts = {"wins_right": 0, "wins": 0, "blocks_right": 0, "blocks": 0, "positions": len(rows)}
    for row in rows:
        state = replay(handle, row["history"])
        obs = observe(handle, state)
        prefix, answer = tactics_text(handle, state, obs, view)
        ids = tokenizer(prefix, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=16, do_sample=False, pad_token_id=0)
        got = tokenizer.decode(out[0, ids.shape[1] :]).splitlines()
        want = answer.splitlines()
        wins, blocks = tactics(game, state, obs)
        if wins:
            counts["wins"] += 1
            counts["wins_right"] += got[:1] == want[:1]
        if blocks:
            counts["blocks"] += 1
            counts["blocks_right"] += got[1:2] == want[1:2]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", action="append", required=True, type=Path, help="base folder")
    args = parser.parse_args(argv)
    for base in args.base:
        if not (base / "arena_base.json").is_file():
            print(f"error: {base} is not a local arena base (no arena_base.json)", file=sys.stderr)
            return 2
        c = probe(base)
        print(
            f"{base}: 'Wins now' right on {c['wins_right']}/{c['wins']} dev positions with a win, "
            f"'Must block' on {c['blocks_right']}/{c['blocks']} with a threat "
            f"({c['positions']} held-out positions)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
