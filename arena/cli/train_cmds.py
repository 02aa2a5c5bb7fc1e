"""``arena data sft|prefs``, ``arena train sft|dpo``, ``arena eval``, ``arena reproduce`` and
``arena devsets``: the training half of the loop (logic in ``training/``; this is argv only)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from arena.reporting.tables import format_eval_report, format_table
from games import InputError, load_game
from games.config_flags import Flags
from games.workspace import Workspace
from training.config import DPORunConfig, EvalConfig, SFTRunConfig
from training.data_args import add_prefs_data_args, add_sft_data_args

# Flags derived from the configs' fields; the commands set the output folder themselves (from
# --version or --out). Quantization and dtype: agents.llm.model_io.train_precision decides.
_SET_HERE = ("out",)
SFT_FLAGS = Flags(SFTRunConfig, exclude=_SET_HERE)
DPO_FLAGS = Flags(DPORunConfig, exclude=_SET_HERE)
EVAL_FLAGS = Flags(EvalConfig, exclude=("out",))


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build SFT or preference datasets from match logs")
    dsub = data.add_subparsers(dest="data_command", metavar="KIND", required=True)
    p = dsub.add_parser(
        "sft",
        help="expert moves -> TRL prompt-completion JSONL",
        description="Turn the moves of chosen seats/agents in match logs into prompt-completion "
        "rows (sft.jsonl + sft.heldout.jsonl + sft.manifest.json), de-duplicated and balanced "
        "across seats. Prints rows kept and dropped, with reasons.",
    )
    add_sft_data_args(p)
    p.set_defaults(func=cmd_data_sft)
    p = dsub.add_parser(
        "prefs",
        help="self-play positions -> TRL preference JSONL",
        description="Compare legal actions at logged positions and write (chosen, rejected) "
        "pairs (prefs.jsonl + prefs.heldout.jsonl + prefs.manifest.json). Methods: rollout "
        "(branching rollouts, kept when the gap exceeds --threshold with --confidence), solver "
        "(exact values, small deterministic games), outcome (won move vs lost move).",
    )
    add_prefs_data_args(p)
    p.set_defaults(func=cmd_data_prefs)

    train = sub.add_parser("train", help="LoRA SFT or DPO/IPO with TRL (QLoRA on CUDA)")
    tsub = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)
    for name, flags, func, summary, description in (
        ("sft", SFT_FLAGS, cmd_train_sft, "supervised fine-tuning of a LoRA adapter",
         "Train a LoRA adapter (all linear layers) on sft.jsonl, loss on the completion only; "
         "the base in 4-bit nf4 (QLoRA) on CUDA, in fp32 on a CPU (--quant / --no-quant "
         "choose). Writes the adapter (safetensors) and manifest.json to --out or the "
         "workspace's adapters/GAME/VERSION."),
        ("dpo", DPO_FLAGS, cmd_train_dpo, "preference optimisation from the previous adapter",
         "Continue --adapter on prefs.jsonl with DPO (--loss sigmoid) or IPO (--loss ipo); the "
         "previous adapter, frozen, is the reference policy."),
    ):  # fmt: skip
        p = tsub.add_parser(name, help=summary, description=description)
        p.add_argument("--version", default=None, help="adapter version -> adapters/GAME/VERSION")
        p.add_argument("--out", default=None, help="adapter folder (instead of --version)")
        p.add_argument("--overwrite", action="store_true", help="replace an adapter at the output")
        p.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        flags.add_to(p)
        p.set_defaults(func=func)

    p = sub.add_parser(
        "eval",
        help="frozen dev-set score + win rates vs scripted opponents",
        description="Optimal-move accuracy (tic_tac_toe, connect_four) or exact exploitability "
        "(kuhn_poker, leduc_poker) on the frozen dev set, plus seat-swapped pairs against fixed "
        "scripted opponents with 95% intervals. Writes eval.json and manifest.json.",
    )
    EVAL_FLAGS.add_to(p)
    p.add_argument("--out", default=None, help="report folder (default: workspace runs/eval-*)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "reproduce",
        help="re-run a build/training/eval from its manifest and compare",
        description="Re-run RUN (a manifest, its folder, or a run id in the workspace) into a "
        "new folder and report whether dataset hashes, rows, tokens, steps and metrics match. "
        "Exit status 1 when something required differs.",
    )
    p.add_argument("run", metavar="RUN", help="manifest.json, a run folder, or a run id")
    p.add_argument("--out", default=None, help="where the re-run writes (default: temp folder)")
    p.add_argument(
        "--rtol",
        type=float,
        default=1e-4,
        help="relative tolerance for metrics (default %(default)s)",
    )
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("devsets", help="check or regenerate the frozen, hash-locked dev sets")
    p.add_argument("action", choices=("check", "rebuild"), help="check hashes, or regenerate")
    p.add_argument("--games", nargs="+", default=None, help="rebuild only these games")
    p.set_defaults(func=cmd_devsets)


def cmd_data_sft(args: argparse.Namespace) -> int:
    from training.data_args import build_sft_from_args

    print(build_sft_from_args(args))
    return 0


def cmd_data_prefs(args: argparse.Namespace) -> int:
    from arena.execution.runner import runner_for
    from training.data_args import build_prefs_from_args

    print(build_prefs_from_args(args, runner_for))
    return 0


def _local_base(base: str, workspace: Workspace) -> str:
    """Training needs the base as a local folder (a path or a workspace base name)."""
    from agents.llm.model_io import resolve_base

    ref = resolve_base(base, workspace)
    if not ref.local:
        raise InputError(f"no local base '{base}' to train on; `arena base build` makes one")
    return ref.ident


def _set_here(args, workspace: Workspace) -> dict:
    """What the training commands decide: the game, the output folder, the base as a local
    folder."""
    from training.rows import dataset_game

    game = load_game(args.game).name if args.game else dataset_game(args.data)
    if args.out:
        out = Path(args.out)
    elif args.version:
        out = workspace.adapter(game, args.version)
    else:
        raise InputError("give --version (-> workspace adapters/GAME/VERSION) or --out")
    return {"game": game, "out": str(out), "base": _local_base(args.base, workspace)}


def cmd_train_sft(args: argparse.Namespace) -> int:
    from training.sft import train_sft

    workspace = Workspace.resolve(getattr(args, "workspace", None))
    config = SFT_FLAGS.build(args, **_set_here(args, workspace))
    print(train_sft(config, overwrite=args.overwrite).summary())
    return 0


def cmd_train_dpo(args: argparse.Namespace) -> int:
    from training.dpo import train_dpo

    workspace = Workspace.resolve(getattr(args, "workspace", None))
    fixed = _set_here(args, workspace)
    adapter = Path(args.adapter)
    if not adapter.exists():
        adapter = workspace.adapter(fixed["game"], args.adapter)
    config = DPO_FLAGS.build(args, **fixed, adapter=str(adapter))
    print(train_dpo(config, overwrite=args.overwrite).summary())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from training.evaluate import run_eval

    handle = load_game(args.game)
    workspace = Workspace.resolve(getattr(args, "workspace", None))
    out = args.out or workspace.runs(time.strftime(f"eval-{handle.name}-%Y%m%d-%H%M%S"))
    config = EVAL_FLAGS.build(args, game=handle.spec, out=str(out))
    report, path = run_eval(config, workspace=workspace)
    print(format_eval_report(report))
    print(f"report: {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from training.reproduce import find_manifests, reproduce

    workspace = Workspace.resolve(getattr(args, "workspace", None))
    manifests = find_manifests(args.run, workspace)
    all_ok = True
    for path in manifests:
        out = Path(args.out) / path.stem if args.out and len(manifests) > 1 else args.out
        report = reproduce(path, out, rtol=args.rtol)
        print(f"== {path} ({report.kind}) re-run in {report.out}")
        print(format_table(["check", "recorded", "re-run", "match"], report.rows()))
        print("REPRODUCED" if report.ok else "DIFFERS")
        all_ok &= report.ok
    return 0 if all_ok else 1


def cmd_devsets(args: argparse.Namespace) -> int:
    from training.devsets import DEVSET_DIR, rebuild, verify_lock

    if args.action == "rebuild":
        for path in rebuild(args.games):
            print(f"wrote {path}")
        print(f"lock updated: {DEVSET_DIR / 'lock.json'}")
        return 0
    problems = verify_lock()
    for problem in problems:
        print(problem)
    print("dev sets match their lock" if not problems else "dev sets DO NOT match their lock")
    return 1 if problems else 0
