"""``arena data sft|prefs``, ``arena train sft|dpo``, ``arena eval``, ``arena reproduce`` and
``arena devsets``: the training half of the loop (logic in ``training/``; this is argv only)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from arena.report import format_eval_report, format_table
from games import InputError, load_game
from games.defaults import field_default
from games.workspace import Workspace
from training.config import (
    DPORunConfig,
    EvalConfig,
    LoraOptions,
    SFTRunConfig,
    TrainOptions,
)
from training.data_args import add_prefs_data_args, add_sft_data_args


class FORMATS(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None/False ones (the help text says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.help is None:
            return action.help
        return super()._get_help_string(action)


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="build SFT or preference datasets from match logs")
    dsub = data.add_subparsers(dest="data_command", metavar="KIND", required=True)
    p = dsub.add_parser(
        "sft",
        formatter_class=FORMATS,
        help="expert moves -> TRL prompt-completion JSONL",
        description="Turn the moves of chosen seats/agents in match logs into prompt-completion "
        "rows (sft.jsonl + sft.heldout.jsonl + sft.manifest.json), de-duplicated and balanced "
        "across seats. Prints rows kept and dropped, with reasons.",
    )
    add_sft_data_args(p)
    p.set_defaults(func=cmd_data_sft)
    p = dsub.add_parser(
        "prefs",
        formatter_class=FORMATS,
        help="self-play positions -> TRL preference JSONL",
        description="Compare legal actions at logged positions and write (chosen, rejected) "
        "pairs (prefs.jsonl + prefs.heldout.jsonl + prefs.manifest.json). Methods: rollout "
        "(branching rollouts, kept when the gap exceeds --threshold with --confidence), solver "
        "(exact values, small deterministic games), outcome (won move vs lost move).",
    )
    add_prefs_data_args(p)
    p.set_defaults(func=cmd_data_prefs)

    train = sub.add_parser("train", help="QLoRA SFT or DPO/IPO with TRL")
    tsub = train.add_subparsers(dest="train_command", metavar="STAGE", required=True)
    p = tsub.add_parser(
        "sft",
        formatter_class=FORMATS,
        help="supervised fine-tuning of a LoRA adapter",
        description="Train a LoRA adapter (all linear layers) on sft.jsonl, loss on the "
        "completion only; the base in 4-bit nf4 (QLoRA) on CUDA unless --no-quant, in fp32 on "
        "CPU (where 4-bit only costs time). Writes the adapter "
        "(safetensors) and manifest.json to --out or the workspace's adapters/GAME/VERSION.",
    )
    p.add_argument("--init-adapter", default=None, help="continue this adapter (default: fresh)")
    _train_args(p, field_default(SFTRunConfig, "train"))
    p.set_defaults(func=cmd_train_sft)
    p = tsub.add_parser(
        "dpo",
        formatter_class=FORMATS,
        help="preference optimisation from the previous adapter",
        description="Continue --adapter on prefs.jsonl with DPO (--loss sigmoid) or IPO "
        "(--loss ipo); the previous adapter, frozen, is the reference policy.",
    )
    p.add_argument("--adapter", required=True, help="previous adapter: folder or VERSION")
    p.add_argument(
        "--loss",
        choices=("sigmoid", "ipo"),
        default=field_default(DPORunConfig, "loss"),
        help="DPO or IPO",
    )
    p.add_argument(
        "--beta", type=float, default=field_default(DPORunConfig, "beta"), help="DPO beta / IPO tau"
    )
    p.add_argument(
        "--precompute-ref",
        action=argparse.BooleanOptionalAction,
        default=field_default(DPORunConfig, "precompute_ref"),
        help="reference log-probs once, before training",
    )
    p.add_argument(
        "--sft-weight",
        type=float,
        default=field_default(DPORunConfig, "sft_weight"),
        help="weight of an NLL term on the chosen moves, against drift (0: pure DPO/IPO)",
    )
    _train_args(p, field_default(DPORunConfig, "train"))
    p.set_defaults(func=cmd_train_dpo)

    p = sub.add_parser(
        "eval",
        formatter_class=FORMATS,
        help="frozen dev-set score + win rates vs scripted opponents",
        description="Optimal-move accuracy (tic_tac_toe, connect_four) or exact exploitability "
        "(kuhn_poker, leduc_poker) on the frozen dev set, plus seat-swapped pairs against fixed "
        "scripted opponents with 95%% intervals. Writes eval.json and manifest.json.",
    )
    p.add_argument("--game", required=True, help="tic_tac_toe, connect_four, kuhn_poker, ...")
    p.add_argument("--agent", required=True, help="agent spec, e.g. llm:BASE@ADAPTER or solver")
    p.add_argument("--opponents", nargs="+", default=None, help="default: random + mcts/solver")
    p.add_argument(
        "--pairs",
        type=int,
        default=field_default(EvalConfig, "pairs"),
        help="seat-swapped pairs per opponent",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=field_default(EvalConfig, "seed"),
        help="seed of the pairs and agent sampling",
    )
    p.add_argument("--limit", type=int, default=None, help="first N dev-set positions only")
    p.add_argument("--device", default=None, help="LLM agents: cpu or cuda (default: auto)")
    p.add_argument("--out", default=None, help="report folder (default: workspace runs/eval-*)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "reproduce",
        formatter_class=FORMATS,
        help="re-run a build/training/eval from its manifest and compare",
        description="Re-run RUN (a manifest, its folder, or a run id in the workspace) into a "
        "new folder and report whether dataset hashes, rows, tokens, steps and metrics match. "
        "Exit status 1 when something required differs.",
    )
    p.add_argument("run", metavar="RUN", help="manifest.json, a run folder, or a run id")
    p.add_argument("--out", default=None, help="where the re-run writes (default: temp folder)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance for metrics")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("devsets", help="check or regenerate the frozen, hash-locked dev sets")
    p.add_argument("action", choices=("check", "rebuild"), help="check hashes, or regenerate")
    p.add_argument("--games", nargs="+", default=None, help="rebuild only these games")
    p.set_defaults(func=cmd_devsets)


def _train_args(p: argparse.ArgumentParser, train: TrainOptions) -> None:
    """Training flags; every default is read from ``train`` (the run config's TrainOptions
    default) or ``LoraOptions``, so it is defined once, in training.config."""
    lora = LoraOptions()
    p.add_argument("--data", required=True, help="training JSONL (sft.jsonl / prefs.jsonl)")
    p.add_argument("--eval-data", default=None, help="held-out JSONL for an eval loss")
    p.add_argument("--base", required=True, help="base model folder, or a workspace base name")
    p.add_argument("--game", default=None, help="game of the adapter (default: from the data)")
    p.add_argument("--version", default=None, help="adapter version -> adapters/GAME/VERSION")
    p.add_argument("--out", default=None, help="adapter folder (instead of --version)")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter at the output")
    p.add_argument(
        "--no-quant", action="store_true", help="full-precision base on CUDA too (no 4-bit)"
    )
    p.add_argument("--lora-r", type=int, default=lora.r, help="LoRA rank")
    p.add_argument("--lora-alpha", type=int, default=lora.alpha, help="LoRA scale alpha")
    p.add_argument("--lora-dropout", type=float, default=lora.dropout, help="LoRA dropout")
    p.add_argument("--epochs", type=float, default=train.epochs, help="passes over the data")
    p.add_argument(
        "--max-steps", type=int, default=train.max_steps, help="overrides --epochs when > 0"
    )
    p.add_argument("--lr", type=float, default=train.learning_rate, help="learning rate")
    p.add_argument("--batch-size", type=int, default=train.batch_size, help="rows (pairs) per step")
    p.add_argument("--grad-accum", type=int, default=train.grad_accum, help="gradient accumulation")
    p.add_argument(
        "--max-length", type=int, default=train.max_length, help="tokens; longer rows never cut"
    )
    p.add_argument(
        "--long-rows", choices=("drop", "error"), default=train.long_rows, help="over --max-length"
    )
    p.add_argument("--warmup", type=float, default=train.warmup, help="steps, or a fraction if < 1")
    p.add_argument("--seed", type=int, default=train.seed, help="LoRA init, data order")
    p.add_argument(
        "--logging-steps", type=int, default=train.logging_steps, help="log the loss every N"
    )
    p.add_argument(
        "--report-to", choices=("none", "tensorboard"), default=train.report_to, help="TRL logging"
    )
    p.add_argument("--gradient-checkpointing", action="store_true", help="less memory")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def cmd_data_sft(args: argparse.Namespace) -> int:
    from training.data_args import build_sft_from_args

    print(build_sft_from_args(args))
    return 0


def cmd_data_prefs(args: argparse.Namespace) -> int:
    from arena.runner import runner_for
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


def _train_common(args, workspace: Workspace) -> dict:
    from training.config import LoraOptions, QuantOptions, TrainOptions
    from training.rows import dataset_game

    game = load_game(args.game).name if args.game else dataset_game(args.data)
    if args.out:
        out = Path(args.out)
    elif args.version:
        out = workspace.adapter(game, args.version)
    else:
        raise InputError("give --version (-> workspace adapters/GAME/VERSION) or --out")
    train = TrainOptions(
        epochs=args.epochs,
        max_steps=args.max_steps,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        seed=args.seed,
        logging_steps=args.logging_steps,
        warmup=args.warmup,
        report_to=args.report_to,
        device=args.device,
        gradient_checkpointing=args.gradient_checkpointing,
        long_rows=args.long_rows,
        threads=args.threads,
    )
    return {
        "data": args.data,
        "eval_data": args.eval_data,
        "base": _local_base(args.base, workspace),
        "out": str(out),
        "game": game,
        "lora": LoraOptions(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout),
        # None: agents.llm.model_io.train_precision decides (nf4 on CUDA, fp32 on CPU)
        "quant": QuantOptions(enabled=False if args.no_quant else None),
        "train": train,
    }


def cmd_train_sft(args: argparse.Namespace) -> int:
    from training.config import SFTRunConfig
    from training.sft import train_sft

    workspace = Workspace.resolve(getattr(args, "workspace", None))
    config = SFTRunConfig(**_train_common(args, workspace), init_adapter=args.init_adapter)
    print(train_sft(config, overwrite=args.overwrite).summary())
    return 0


def cmd_train_dpo(args: argparse.Namespace) -> int:
    from training.config import DPORunConfig
    from training.dpo import train_dpo

    workspace = Workspace.resolve(getattr(args, "workspace", None))
    common = _train_common(args, workspace)
    adapter = Path(args.adapter)
    if not adapter.exists():
        adapter = workspace.adapter(common["game"], args.adapter)
    config = DPORunConfig(
        **common,
        adapter=str(adapter),
        loss=args.loss,
        beta=args.beta,
        precompute_ref=args.precompute_ref,
        sft_weight=args.sft_weight,
    )
    print(train_dpo(config, overwrite=args.overwrite).summary())
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from training.config import EvalConfig
    from training.evaluate import run_eval

    handle = load_game(args.game)
    workspace = Workspace.resolve(getattr(args, "workspace", None))
    out = args.out or workspace.runs(time.strftime(f"eval-{handle.name}-%Y%m%d-%H%M%S"))
    config = EvalConfig(
        game=handle.spec,
        agent=args.agent,
        out=str(out),
        opponents=tuple(args.opponents) if args.opponents else None,
        pairs=args.pairs,
        seed=args.seed,
        limit=args.limit,
        device=args.device,
    )
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
