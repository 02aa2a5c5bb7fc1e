"""``arena base build``: make the local base model that LLM agents and adapters build on."""

from __future__ import annotations

import argparse
import json

from games import InputError
from games.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "base",
        help="build the local base model (the LM that every adapter version sits on)",
        description="Manage locally built base models (workspace base/<name>/).",
    )
    base_sub = p.add_subparsers(dest="base_command", metavar="SUBCOMMAND")
    b = base_sub.add_parser(
        "build",
        help="pretrain a small causal LM on game text (format and rules, no strategy)",
        description="Build a tokenizer and a Llama-style causal LM from scratch and pretrain it "
        "on prompts and legal moves of the curated games, so that it knows the text format and "
        "the rules. Presets: tiny (~0.13M parameters, ~20 s on 2 CPU cores; tests) and small "
        "(~2.5M parameters, a few minutes; demo). The folder loads with "
        "AutoModelForCausalLM/AutoTokenizer.from_pretrained and plays as llm:<name>.",
    )
    b.add_argument("--preset", choices=("tiny", "small"), default="tiny", help="(default tiny)")
    b.add_argument("--out", default=None, help="output folder (default: workspace base/<preset>)")
    b.add_argument("--seed", type=int, default=0, help="seed of corpus, init and batches (0)")
    b.add_argument("--steps", type=int, default=None, help="override the preset's train steps")
    b.add_argument("--force", action="store_true", help="replace an existing base at --out")
    b.set_defaults(func=cmd_base_build)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def cmd_base_build(args: argparse.Namespace) -> int:
    from training.base_model import build_base, read_manifest

    if args.steps is not None and args.steps < 1:
        raise InputError("--steps must be at least 1")
    out = args.out or Workspace.resolve(args.workspace).base(args.preset)
    overrides = {"steps": args.steps} if args.steps else {}
    folder = build_base(args.preset, out, seed=args.seed, overwrite=args.force, **overrides)
    made = read_manifest(folder)
    print(
        f"base '{args.preset}' -> {folder}\n"
        f"{made['parameters']:,} parameters, {made['corpus']['examples']} examples "
        f"({made['corpus']['tokens']:,} tokens), loss {made['loss']['first']} -> "
        f"{made['loss']['final']}, {made['seconds']} s"
    )
    name = folder.name if args.out is None else str(folder)
    print(f"play it: arena match --game tic_tac_toe --agents llm:{name} random")
    if args.log_level.upper() == "DEBUG":
        print(json.dumps(made, indent=1))
    return 0
