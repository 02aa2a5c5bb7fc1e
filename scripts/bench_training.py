"""Benchmark: time and peak memory of SFT and DPO runs on the tiny and small bases (CPU).

Every run is a fresh ``python -m arena train ...`` process, so its peak RSS (from the run's
manifest, ``ru_maxrss``) is its own. QLoRA (4-bit nf4 base) is compared with the
full-precision base (``--no-quant``) in the same session, on the same data and budget, and
one-thread runs with two-thread runs, so ratios stay fair even when other jobs share the
CPU. Writes a markdown section to its section of ``BENCHMARKS.md``.

    python scripts/bench_training.py --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks_md import DEFAULT, update_section

ROOT = Path(__file__).resolve().parents[1]


def ensure_base(preset: str, folder: Path) -> Path:
    from training.base_model import build_base

    if (folder / "model.safetensors").exists():
        return folder
    print(f"building the {preset} base in {folder} ...", flush=True)
    return build_base(preset, folder, seed=0, progress=False)


def build_data(root: Path) -> tuple[Path, Path]:
    from training.config import PlaySpec, PrefsDataConfig, SFTDataConfig
    from training.pref_data import build_prefs
    from training.sft_data import build_sft

    sft = build_sft(
        SFTDataConfig(
            inputs=(),
            out=str(root / "sft"),
            agents=("solver",),
            heldout=0.0,
            play=PlaySpec("tic_tac_toe", ("solver", "random"), games=200),
        )
    )
    prefs = build_prefs(
        PrefsDataConfig(
            inputs=(),
            out=str(root / "prefs"),
            method="solver",
            heldout=0.0,
            play=PlaySpec("tic_tac_toe", ("random", "random"), games=100),
        )
    )
    return sft.paths["train"], prefs.paths["train"]


def run(stage: str, base: Path, data: Path, out: Path, extra: list[str]) -> dict:
    argv = [sys.executable, "-m", "arena", "train", stage, "--data", str(data)]
    argv += ["--base", str(base), "--out", str(out), "--overwrite", *extra]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    tokens = manifest["dataset"]["tokens"] / manifest["dataset"]["rows"]
    train_s = manifest["stages"]["train"]
    batch = int(extra[extra.index("--batch-size") + 1])
    return {
        "process_s": wall,
        "load_s": manifest["stages"]["load_model"],
        "train_s": train_s,
        "steps": manifest["steps"],
        "tokens_per_s": manifest["steps"] * batch * tokens / train_s,
        "rss": manifest["metrics"]["peak_rss_mib"],
        "first": manifest["metrics"]["first_loss"],
        "final": manifest["metrics"]["final_loss"],
        "argv": argv,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work", default="arena-data/bench-training", help="scratch folder")
    parser.add_argument("--tiny", default=None, help="tiny base folder (built if missing)")
    parser.add_argument("--small", default=None, help="small base folder (built if missing)")
    parser.add_argument("--out", default=str(DEFAULT))
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    bases = {
        name: ensure_base(name, Path(getattr(args, name) or work / f"base-{name}"))
        for name in ("tiny", "small")
    }
    sft_data, prefs_data = build_data(work / "data")
    budget = ["--max-steps", str(args.steps), "--batch-size", str(args.batch_size)]
    budget += ["--lora-r", "16", "--logging-steps", "5"]
    rows = []
    for name, base in bases.items():
        for quant in ("nf4", "fp32"):
            for threads in ("1", "2") if name == "small" else ("1",):
                flags = [*budget, "--threads", threads] + (
                    ["--no-quant"] if quant == "fp32" else []
                )
                sft_out = work / f"{name}-{quant}-t{threads}-sft"
                sft = run("sft", base, sft_data, sft_out, [*flags, "--lr", "5e-3"])
                dpo_out = work / f"{name}-{quant}-t{threads}-dpo"
                dpo = run("dpo", base, prefs_data, dpo_out, [*flags, "--adapter", str(sft_out)])
                for stage, result in (("SFT", sft), ("DPO", dpo)):
                    rows.append((name, stage, quant, threads, result))
                    print(
                        name,
                        stage,
                        quant,
                        threads,
                        json.dumps({k: v for k, v in result.items() if k != "argv"}),
                        flush=True,
                    )
    accuracy = []
    for name, base in bases.items():
        for label, adapter in (("base", None), ("+SFT", "sft"), ("+SFT+DPO", "dpo")):
            spec = f"llm:{base}" + (f"@{work / f'{name}-nf4-t1-{adapter}'}" if adapter else "")
            accuracy.append((name, label, dev_accuracy(spec, work / f"eval-{name}-{label}")))
            print(name, label, accuracy[-1][2], flush=True)
    write_markdown(Path(args.out), rows, accuracy, args, sft_data, prefs_data)
    return 0


def dev_accuracy(spec: str, out: Path) -> dict:
    """Optimal-move accuracy on the frozen tic_tac_toe dev set (no games)."""
    argv = [sys.executable, "-m", "arena", "eval", "--game", "tic_tac_toe", "--agent", spec]
    argv += ["--pairs", "0", "--out", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "eval.json").read_text())["devset"]


def write_markdown(path: Path, rows, accuracy, args, sft_data: Path, prefs_data: Path) -> None:
    def count(p: Path) -> int:
        return sum(1 for _ in p.open())

    lines = [
        "## Training: SFT and DPO on CPU (tiny and small bases)",
        "",
        f"Command: `python scripts/bench_training.py --steps {args.steps} --batch-size "
        f"{args.batch_size}` on {time.strftime('%Y-%m-%d')}; machine: {os.cpu_count()} CPU cores "
        f"({platform.processor() or platform.machine()}), no GPU. Other engineers' jobs shared "
        "the 2 cores during the run, so absolute times are pessimistic; every row ran in the "
        "same session, so the ratios (4-bit vs full precision, 1 vs 2 threads) are fair.",
        "",
        f"Data: {count(sft_data)} SFT rows (solver moves, tic_tac_toe) and {count(prefs_data)} "
        f"preference pairs (solver method); {args.steps} steps of batch {args.batch_size}, "
        "LoRA r=16 on all linear layers. DPO continues the SFT adapter (sigmoid loss, beta "
        "0.1). Each run is its own process; peak RSS is that process's maximum resident set. "
        "Bases: the `tiny` (~0.13M parameters) and `small` (~2.5M) presets of "
        "`training.base_model`, seed 0 (prebuilt folders may be passed with --tiny/--small).",
        "",
        "| base | stage | base weights | threads | train s | steps/s | tokens/s | load s | "
        "process s | peak RSS MiB | loss first -> final |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, stage, quant, threads, r in rows:
        lines.append(
            f"| {name} | {stage} | {'4-bit nf4' if quant == 'nf4' else 'fp32'} | {threads} | "
            f"{r['train_s']:.1f} | {r['steps'] / r['train_s']:.2f} | {r['tokens_per_s']:.0f} | "
            f"{r['load_s']:.1f} | {r['process_s']:.1f} | {r['rss']:.0f} | "
            f"{r['first']:.3f} -> {r['final']:.3f} |"
        )
    lines += [
        "",
        "Did it learn? Optimal-move accuracy on the frozen tic_tac_toe dev set (200 positions, "
        "95% Wilson interval; score-mode LLM agent) of the 4-bit, 1-thread runs above:",
        "",
        "| base | model | accuracy | 95% CI | policy mass on optimal moves |",
        "|---|---|---:|---|---:|",
    ]
    for name, label, dev in accuracy:
        lines.append(
            f"| {name} | {label} | {dev['accuracy']:.3f} | [{dev['ci95'][0]:.3f}, "
            f"{dev['ci95'][1]:.3f}] | {dev['policy_mass_on_optimal']:.3f} |"
        )
    example = rows[0][4]["argv"]
    lines += [
        "",
        "One run by hand: `" + " ".join(["arena", *example[3:]]).replace(str(ROOT) + "/", "") + "`",
        "",
        "GPU: the QLoRA run on CUDA was skipped: no GPU device was lent to this session.",
        "",
    ]
    update_section(path, "training", "\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
