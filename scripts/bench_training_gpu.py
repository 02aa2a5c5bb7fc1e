"""Benchmark: QLoRA SFT then DPO on CUDA, on the `small` base and on a ~0.5B Qwen2-shaped model.

The CUDA counterpart of ``bench_training.py`` (same data builders, same ``python -m arena train``
processes, one per run, so each peak is its own): a 4-bit nf4 base (bitsandbytes), LoRA r=16 on
every linear layer (peft), TRL's trainers. The Qwen2-0.5B-shaped model is randomly initialised
and saved as a local folder with the `small` base's tokenizer (no downloads): it measures time,
memory and that the whole path runs at that size, not learning. Per run it reports steps/s,
tokens/s (rows' tokens x batch x steps / train seconds), peak GPU memory (the manifest's
``peak_gpu_mib``: ``torch.cuda.max_memory_allocated`` of the run's process), and whether the
adapter's weights moved: after SFT every LoRA B matrix (peft starts them at zero) and after DPO
the distance to the SFT adapter it started from. Writes the ``training-gpu`` section of --out
and copies every run's manifest.json into --manifests (one JSON file).

    python scripts/bench_training_gpu.py --small arena-data/base/small --out BENCHMARKS.md
    python scripts/bench_training_gpu.py --small B --device cpu --qwen-shape mini --no-quant \\
        --steps 2 --out -     # the same code path on a CPU in a minute (a check, no numbers)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench_engine import qwen_config
from bench_training import build_data, ensure_base
from benchmarks_md import DEFAULT, update_section

ROOT = Path(__file__).resolve().parents[1]


def build_qwen(folder: Path, shape: str, tokenizer_from: Path, device: str) -> Path:
    """A randomly initialised Qwen2 of ``shape`` in bf16, with the small base's tokenizer.

    No ``arena_base.json``: like any hub model, it reads the full prompt view."""
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    if (folder / "model.safetensors").exists():
        return folder
    torch.manual_seed(0)
    with torch.device(device):  # seconds on a GPU; minutes for 0.5B on one CPU core
        model = Qwen2ForCausalLM(qwen_config(shape))
    model.to(torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(tokenizer_from)).save_pretrained(folder)
    return folder


def train(stage: str, base: Path, data: Path, out: Path, flags: list[str], batch: int) -> dict:
    argv = [sys.executable, "-m", "arena", "train", stage, "--data", str(data)]
    argv += ["--base", str(base), "--out", str(out), "--overwrite", *flags]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", flush=True)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-400:]}", "argv": argv}
    manifest = json.loads((out / "manifest.json").read_text())
    train_s = manifest["stages"]["train"]
    per_row = manifest["dataset"]["tokens"] / manifest["dataset"]["rows"]
    metrics = manifest["metrics"]
    return {
        "process_s": wall,
        "load_s": manifest["stages"]["load_model"],
        "train_s": train_s,
        "steps": manifest["steps"],
        "steps_per_s": manifest["steps"] / train_s,
        "tokens_per_s": manifest["steps"] * batch * per_row / train_s,
        "gpu_mib": metrics.get("peak_gpu_mib"),
        "gpu_reserved_mib": metrics.get("peak_gpu_reserved_mib"),
        "rss": metrics["peak_rss_mib"],
        "first": metrics["first_loss"],
        "final": metrics["final_loss"],
        "device": metrics.get("device"),
        "argv": argv,
        "manifest": manifest,
    }


def weight_change(out: Path, parent: Path | None) -> str:
    """How far the adapter moved: the largest |B| after a fresh SFT (B starts at zero), or the
    largest difference to the parent adapter for DPO; with the count of tensors that moved."""
    from safetensors.torch import load_file

    mine = load_file(str(out / "adapter_model.safetensors"))
    if parent is None:
        moved = {k: float(v.float().abs().max()) for k, v in mine.items() if "lora_B" in k}
        what = "LoRA B tensors non-zero"
    else:
        old = load_file(str(parent / "adapter_model.safetensors"))
        moved = {k: float((v.float() - old[k].float()).abs().max()) for k, v in mine.items()}
        what = "tensors changed from the SFT adapter"
    count = sum(1 for v in moved.values() if v > 0)
    return f"{count}/{len(moved)} {what}, max {max(moved.values(), default=0.0):.2e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", required=True, help="the small base folder (built if missing)")
    parser.add_argument("--work", default="arena-data/bench-training-gpu", help="scratch folder")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda", help="cuda, or cpu for a check of the path")
    parser.add_argument("--qwen-shape", choices=("0.5b", "mini"), default="0.5b")
    parser.add_argument("--no-quant", action="store_true", help="full precision (CPU checks)")
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file (its section), - prints")
    parser.add_argument("--manifests", default=None, help="write every run's manifest here")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    small = ensure_base("small", Path(args.small).resolve())
    started = time.perf_counter()
    qwen = build_qwen(work / f"qwen2-{args.qwen_shape}", args.qwen_shape, small, args.device)
    build_s = time.perf_counter() - started
    sft_data, prefs_data = build_data(work / "data")
    flags = ["--max-steps", str(args.steps), "--batch-size", str(args.batch_size)]
    flags += ["--lora-r", "16", "--logging-steps", "5", "--device", args.device]
    flags += ["--no-quant"] if args.no_quant else []
    rows, manifests = [], {}
    # the 0.5B model first: if the time runs out, its rows are the ones that matter
    for name, base, lr in ((f"qwen2-{args.qwen_shape}", qwen, "2e-4"), ("small", small, "5e-3")):
        sft_out, dpo_out = work / f"{name}-sft", work / f"{name}-dpo"
        sft = train("sft", base, sft_data, sft_out, [*flags, "--lr", lr], args.batch_size)
        if "error" not in sft:
            sft["moved"] = weight_change(sft_out, None)
            dpo_flags = [*flags, "--adapter", str(sft_out)]
            dpo = train("dpo", base, prefs_data, dpo_out, dpo_flags, args.batch_size)
            if "error" not in dpo:
                dpo["moved"] = weight_change(dpo_out, sft_out)
        else:
            dpo = {"error": "skipped: SFT failed"}
        for stage, result in (("SFT", sft), ("DPO", dpo)):
            rows.append((name, stage, result))
            manifests[f"{name}-{stage}"] = result.pop("manifest", None)
            print(name, stage, json.dumps({k: v for k, v in result.items() if k != "argv"}))
        # written after every base, so a run cut short still leaves what it measured
        if args.manifests:
            Path(args.manifests).write_text(json.dumps(manifests, indent=1))
        md = markdown(rows, args, build_s, sft_data, prefs_data)
        update_section(args.out, "training-gpu", md)
    return 1 if any("error" in r for _, _, r in rows) else 0


def markdown(rows, args, build_s: float, sft_data: Path, prefs_data: Path) -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    quant = "full-precision" if args.no_quant else "4-bit nf4 (QLoRA)"
    lines = [
        "## Training: QLoRA SFT and DPO on CUDA (scripts/bench_training_gpu.py)",
        "",
        f"Command: `python scripts/bench_training_gpu.py {' '.join(sys.argv[1:])}` on "
        f"{time.strftime('%Y-%m-%d')}; device: {device}; torch {torch.__version__}. "
        f"{args.steps} steps of batch {args.batch_size}, LoRA r=16 on all linear layers, "
        f"{quant} base, bf16 autocast on CUDA; DPO (sigmoid, beta 0.1, NLL term) continues the "
        f"SFT adapter. Data: {sum(1 for _ in sft_data.open())} SFT rows and "
        f"{sum(1 for _ in prefs_data.open())} preference pairs (tic_tac_toe, solver labels). "
        f"The Qwen2-{args.qwen_shape} model is random (built in {build_s:.0f} s), so its losses "
        "mean nothing; the small base is the arena's own.",
        "",
        "| base | stage | train s | steps/s | tokens/s | peak GPU MiB (alloc / reserved) | "
        "load s | process s | loss first -> final | weights moved |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for name, stage, r in rows:
        if "error" in r:
            lines.append(f"| {name} | {stage} | failed: {r['error'][-200:]!r} |")
            continue
        gpu = "n/a" if r["gpu_mib"] is None else f"{r['gpu_mib']:.0f} / {r['gpu_reserved_mib']:.0f}"
        lines.append(
            f"| {name} | {stage} | {r['train_s']:.1f} | {r['steps_per_s']:.2f} | "
            f"{r['tokens_per_s']:,.0f} | {gpu} | {r['load_s']:.1f} | {r['process_s']:.1f} | "
            f"{r['first']:.3f} -> {r['final']:.3f} | {r.get('moved', '')} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
