"""Build a local base model: a thin entry point over ``training.base_model.build_base``.

python scripts/build_base.py --preset small --out arena-data/base/small --seed 0
"""

from __future__ import annotations

import argparse

from training.base_model import PRESETS, build_base, read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="override training steps")
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    args = parser.parse_args(argv)
    overrides = {"steps": args.steps} if args.steps else {}
    folder = build_base(args.preset, args.out, args.seed, overwrite=args.force, **overrides)
    made = read_manifest(folder)
    print(f"{folder}: {made['parameters']:,} parameters, final loss {made['loss']['final']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
