"""Benchmark: CPU-seconds per SFT step of the default trainer, a plain PyTorch loop and the
matmul bound, on one base, one data set and one batch size, in one run.

Variants (each a fresh process of this script, ``--variant NAME``):

- ``default``: ``training.sft.train_sft`` with the default configuration (TRL's SFTTrainer,
  LoRA on every linear layer, the base held as ``train_precision`` decides: fp32 on CPU).
- ``trl-dropout``: the same with LoRA dropout 0.05 (the default before issue 17).
- ``trl-nf4``: the same with a 4-bit nf4 base (QLoRA; TRL casts the adapter to bf16).
- ``trl-bf16``: the same with the base in bf16 (how the dtype default was picked).
- ``before``: the default before issue 17: nf4 base and LoRA dropout 0.05.
- ``plain-lora``: a plain loop (AdamW, clip 1.0) over the same peft LoRA on the same base.
- ``plain-full``: a plain loop, full fine-tune of the fp32 base.

Each variant trains ``--warmup`` + ``--steps`` steps of ``--batch-size`` rows sampled from the
same rows (the base's prompt view, loss on the completion only) and reports the CPU time of
its process per step (``time.process_time`` between step ends, after the warm-up), the median
over steps, then the median over ``--rounds`` (each round runs every variant once, in order,
so other jobs' load falls on all of them alike). CPU-seconds rather than wall time: the
machine is shared with other engineers, whose jobs stretch our wall time but not our CPU time.

The bound is the FLOPs a step needs divided by the FLOP/s of dense matmuls of the model's
shapes (forward, input-gradient and weight-gradient products of every linear layer at the
step's token count) on the same threads, measured here. FLOPs are counted as in Kaplan et al.
2020 (section 2.1: forward 2N per token plus attention, backward twice the forward) with
causal attention's real context: see ``step_flops``.

    python scripts/bench_training.py --base arena-data/base/small --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks_md import DEFAULT, update_section

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = (
    "default", "trl-dropout", "trl-nf4", "trl-bf16", "before", "plain-lora", "plain-full",
)  # fmt: skip
LABELS = {
    "default": "default: TRL SFTTrainer, LoRA, base as `train_precision` picks",
    "trl-dropout": "TRL, LoRA dropout 0.05 (the old default), fp32 base",
    "trl-nf4": "TRL, LoRA, 4-bit nf4 base (`QuantOptions(enabled=True)`)",
    "trl-bf16": "TRL, LoRA, bf16 base (`compute_dtype='bfloat16'`)",
    "before": "before issue 17: TRL, LoRA dropout 0.05, nf4 base (the old default)",
    "plain-lora": "plain PyTorch loop, the same peft LoRA",
    "plain-full": "plain PyTorch loop, full fine-tune (fp32)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", nargs="+", default=None, help="base folder(s), one table each (default: small)"
    )
    parser.add_argument("--data", default=None, help="sft.jsonl (default: the nightly's data)")
    parser.add_argument("--work", default="arena-data/bench-training", help="scratch folder")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--variant", choices=(*VARIANTS, "bound"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--report-only", action="store_true", help="write the table of WORK/results.json again"
    )
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file ('-': print)")
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args)))
        return 0
    work = Path(args.work).resolve()
    bases = [Path(b).resolve() for b in args.base] if args.base else [ensure_small(work)]
    data = Path(args.data).resolve() if args.data else nightly_data(work / "data")
    tables = []
    if args.report_only:  # re-render the last run's measurements (WORK/results.json)
        raw = json.loads((work / "results.json").read_text())
        tables = [(Path(t["base"]), t["shape"], t["results"]) for t in raw]
        bases = []
    for base in bases:
        shape = data_shape(base, data, args.batch_size)
        results: dict[str, list[dict]] = {v: [] for v in (*args.variants, "bound")}
        for round_ in range(args.rounds):
            for variant in results:
                result = child(args, variant, base, data, work)
                results[variant].append(result)
                done = result.get("cpu_s") or result["float32"] / 1e9
                print(f"{base.name} round {round_ + 1} {variant}: {done:.4f}", flush=True)
        tables.append((base, shape, results))
        raw = [{"base": str(b), "shape": sh, "results": r} for b, sh, r in tables]
        (work / "results.json").write_text(json.dumps(raw, indent=1))  # every measurement
    write_markdown(Path(args.out), args, data, tables)
    return 0


def child(args, variant: str, base: Path, data: Path, work: Path) -> dict:
    """Run one variant (or the matmul-rate measurement) in a fresh process."""
    argv = [sys.executable, __file__, "--variant", variant, "--base", str(base)]
    argv += ["--data", str(data), "--work", str(work), "--steps", str(args.steps)]
    argv += ["--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
    argv += ["--threads", str(args.threads)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{variant} on {base} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- data and model shape ---


def ensure_small(work: Path) -> Path:
    from training.base_model import build_base

    folder = work / "base-small"
    if not (folder / "model.safetensors").exists():
        print(f"building the small base in {folder} ...", flush=True)
        build_base("small", folder, seed=0, progress=False)
    return folder


def nightly_data(root: Path) -> Path:
    """configs/nightly.toml's SFT data: positions of 4,000 random games, solver labels."""
    from training.config import PlaySpec, SFTDataConfig
    from training.sft_data import build_sft

    path = root / "sft.jsonl"
    if not path.exists():
        play = PlaySpec("tic_tac_toe", ("random", "random"), games=4000)
        build_sft(SFTDataConfig(inputs=(), out=str(root), label="solver", play=play))
    return path


def training_rows(base: Path, data: Path, tokenizer) -> list[tuple[list[int], int]]:
    """(token ids of prompt + completion + EOS, prompt length) per row, in the base's view,
    tokenized as TRL does for prompt-completion rows."""
    from training.rows import SFTRow, read_rows
    from training.train_common import in_view

    rows = in_view(read_rows(str(data), SFTRow.from_dict), str(base))
    out = []
    for row in rows:
        prompt = tokenizer(row.prompt)["input_ids"]
        full = tokenizer(row.prompt + row.completion)["input_ids"] + [tokenizer.eos_token_id]
        out.append((full, len(prompt)))
    return out


def data_shape(base: Path, data: Path, batch: int) -> dict:
    """Model and data dimensions that the FLOP count needs (means per step)."""
    from transformers import AutoConfig

    from agents.llm.model_io import load_tokenizer
    from training.base_model import read_manifest

    config = AutoConfig.from_pretrained(str(base))
    rows = training_rows(base, data, load_tokenizer(base))
    lengths = [len(ids) for ids, _ in rows]
    completions = [len(ids) - prompt for ids, prompt in rows]
    h, i = config.hidden_size, config.intermediate_size
    kv = config.num_key_value_heads * (h // config.num_attention_heads)
    linears = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]  # q k v o gate up down
    rng = random.Random(0)
    padded = statistics.mean(
        batch * max(rng.choices(lengths, k=batch)) for _ in range(500)
    )  # batches padded to their longest row, as TRL's collator and the plain loop do
    manifest = read_manifest(base) or {}
    return {
        "pretokenizer": manifest.get("config", {}).get("pretokenizer", "gpt2"),
        "padded_tokens_per_step": padded,
        "rows": len(rows),
        "layers": config.num_hidden_layers,
        "hidden": h,
        "vocab": config.vocab_size,
        "linears": linears,
        "params_linear": config.num_hidden_layers * sum(a * b for a, b in linears),
        "params_total": config.num_hidden_layers * sum(a * b for a, b in linears)
        + config.vocab_size * h,
        "mean_tokens": statistics.mean(lengths),
        "mean_completion": statistics.mean(completions),
        "mean_causal_pairs": statistics.mean(n * (n + 1) / 2 for n in lengths),
        "tokens_per_step": batch * statistics.mean(lengths),
        "batch": batch,
    }


def step_flops(shape: dict, lora_r: int | None) -> float:
    """FLOPs one step needs, real tokens only (padding is waste, not need).

    Forward: 2 FLOPs per linear weight per token (Kaplan et al. 2020, Table 1), causal attention
    4 * hidden per (query, key) pair per layer (QK^T and AV over the keys a token sees), the LM
    head 2 * hidden * vocab on completion tokens only (the loss needs no other logits).
    Full fine-tune: backward = 2 x forward (gradients of inputs and weights): 6N per token,
    the "6ND" rule. LoRA: the frozen base needs input gradients only (2 x its forward, no weight
    gradients), attention still 3 x forward, the head 2 x, plus the adapters' own 6 * (in*r +
    r*out) per token for every adapted layer.
    """
    b = shape["batch"]
    tokens = shape["tokens_per_step"]
    dense = 2 * shape["params_linear"] * tokens
    attention = 4 * shape["hidden"] * shape["layers"] * shape["mean_causal_pairs"] * b
    head = 2 * shape["hidden"] * shape["vocab"] * shape["mean_completion"] * b
    if lora_r is None:
        return 3 * (dense + attention + head)
    adapters = shape["layers"] * sum(lora_r * (a + c) for a, c in shape["linears"])
    return 2 * dense + 3 * attention + 2 * head + 6 * adapters * tokens


def matmul_rate(shape: dict, dtype: str, threads: int, repeats: int = 7) -> float:
    """FLOP/s of the step's dense matmuls (forward, input and weight gradients of every linear
    layer, M = the step's tokens), best CPU-time median over ``repeats`` rounds."""
    import torch

    torch.set_num_threads(threads)
    kind = getattr(torch, dtype)
    m = int(round(shape["tokens_per_step"]))
    products = []
    for a, c in shape["linears"]:
        products += [((m, a), (a, c)), ((m, c), (c, a)), ((a, m), (m, c))]
    tensors = [(torch.randn(x, dtype=kind), torch.randn(y, dtype=kind)) for x, y in products]
    flops = sum(2 * x[0] * x[1] * y[1] for x, y in products)
    times = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(20):
            for x, y in tensors:
                torch.mm(x, y)
        times.append((time.process_time() - started) / 20)
    return flops / statistics.median(times)


# --- one variant, in its own process ---


def run_variant(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    base, data = Path(args.base[0]), Path(args.data)
    args.base = str(base)
    if args.variant == "bound":
        shape = data_shape(base, data, args.batch_size)
        return {d: matmul_rate(shape, d, args.threads) for d in ("float32", "bfloat16")}
    if args.variant.startswith("plain"):
        return plain_loop(args)
    return trl_run(args)


def step_stats(marks: list[tuple[float, float]], warmup: int) -> dict:
    """Median CPU and wall seconds between consecutive step ends after the warm-up."""
    timed = marks[max(warmup - 1, 0) :]
    cpu = [b[0] - a[0] for a, b in zip(timed, timed[1:], strict=False)]
    wall = [b[1] - a[1] for a, b in zip(timed, timed[1:], strict=False)]
    return {"cpu_s": statistics.median(cpu), "wall_s": statistics.median(wall), "steps": len(cpu)}


def trl_run(args) -> dict:
    from transformers import TrainerCallback

    from training.config import LoraOptions, QuantOptions, SFTRunConfig, TrainOptions
    from training.sft import train_sft

    marks: list[tuple[float, float]] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, *_, **__):
            marks.append((time.process_time(), time.perf_counter()))

    quant, lora = QuantOptions(), LoraOptions()
    if args.variant == "trl-nf4":
        quant = QuantOptions(enabled=True)
    elif args.variant == "trl-bf16":
        quant = QuantOptions(compute_dtype="bfloat16")
    elif args.variant == "trl-dropout":
        lora = LoraOptions(dropout=0.05)
    elif args.variant == "before":
        quant, lora = QuantOptions(enabled=True), LoraOptions(dropout=0.05)
    train = TrainOptions(
        max_steps=args.warmup + args.steps, batch_size=args.batch_size, threads=args.threads
    )
    config = SFTRunConfig(
        data=args.data,
        base=args.base,
        out=str(Path(args.work) / "runs" / args.variant),
        lora=lora,
        quant=quant,
        train=train,
    )
    result = train_sft(config, overwrite=True, callbacks=[StepClock()])
    metrics = result.manifest.metrics
    stats = step_stats(marks, args.warmup)
    return {**stats, "loss": metrics["final_loss"], "precision": metrics["precision"]}


def plain_loop(args) -> dict:
    """AdamW (lr 3e-3, no weight decay, clip 1.0: the trainer's settings) on batches padded
    to their longest row, loss on the completion tokens (the model's own cross-entropy)."""
    import torch

    from agents.llm.model_io import load_tokenizer, load_train_base, new_adapter
    from training.config import LoraOptions, QuantOptions

    base = Path(args.base)
    tokenizer = load_tokenizer(base)
    rows = training_rows(base, Path(args.data), tokenizer)
    model = load_train_base(base, QuantOptions(), "cpu", gradient_checkpointing=False)
    if args.variant == "plain-lora":
        model = new_adapter(model, LoraOptions())
    else:
        model.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    pad = tokenizer.pad_token_id
    model.train()
    marks = []
    for _ in range(args.warmup + args.steps):
        picks = torch.randint(len(rows), (args.batch_size,), generator=generator).tolist()
        batch = [rows[i] for i in picks]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100)
        for r, (row, prompt) in enumerate(batch):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
            labels[r, prompt : len(row)] = torch.tensor(row[prompt:])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        marks.append((time.process_time(), time.perf_counter()))
    return {**step_stats(marks, args.warmup), "loss": float(loss), "precision": None}


# --- report ---


def write_markdown(path: Path, args, data: Path, tables) -> None:
    command = f"python scripts/bench_training.py --base {' '.join(str(b) for b, _, _ in tables)}"
    command += f" --data {data} --steps {args.steps} --warmup {args.warmup}"
    command += f" --rounds {args.rounds} --batch-size {args.batch_size} --threads {args.threads}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Training: the default SFT step against a plain loop and the matmul bound",
        "",
        f"Command: `{command}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; machine: {os.cpu_count()} CPU cores "
        f"({_cpu_name()}), {args.threads} torch thread(s), no GPU; 1-minute load average "
        f"{load:.1f} at the end (other engineers' jobs shared the cores).",
        "",
        f"Every variant trains {args.warmup} + {args.steps} steps of batch {args.batch_size} on "
        f"the same rows ({data}); CPU-s/step is the median over its steps, then over "
        f"{args.rounds} rounds (the rounds' range in brackets). The bound is measured in every "
        "round too (a process of its own between the variants), and its median used.",
    ]
    for base, shape, results in tables:
        lines += ["", *table(base, shape, results, args)]
    lines += ["", *READING, ""]
    update_section(path, "training", "\n".join(lines))
    print(f"wrote {path}")


def table(base: Path, shape: dict, results: dict, args) -> list[str]:
    from training.config import LoraOptions

    r = LoraOptions().r
    flops_lora, flops_full = step_flops(shape, r), step_flops(shape, None)
    rates = {d: statistics.median(b[d] for b in results["bound"]) for d in ("float32", "bfloat16")}
    fp32 = rates["float32"]
    bound_full = flops_full / fp32  # issue 17's bound: the full fine-tune's FLOPs, fp32 rate
    padding = shape["padded_tokens_per_step"] / shape["tokens_per_step"] - 1
    lines = [
        f"### `{base.name}` base (pre-tokenizer `{shape['pretokenizer']}`)",
        "",
        f"{shape['params_total']:,} parameters ({shape['params_linear']:,} in the decoder's "
        f"linear layers), vocabulary {shape['vocab']}; {shape['rows']} rows of "
        f"{shape['mean_tokens']:.1f} tokens ({shape['mean_completion']:.1f} of them completion): "
        f"{shape['tokens_per_step']:.0f} real tokens a step, {100 * padding:.0f}% more with "
        "the padding to the batch's longest row.",
        "",
        f"FLOPs a step needs (`step_flops`): full fine-tune {flops_full / 1e9:.2f} GFLOP; LoRA "
        f"r={r} on the frozen base {flops_lora / 1e9:.2f} GFLOP. Dense matmuls of the model's "
        f"shapes (M = {shape['tokens_per_step']:.0f}) ran at {fp32 / 1e9:.1f} GFLOP/s in fp32 "
        f"and {rates['bfloat16'] / 1e9:.1f} GFLOP/s in bf16. **Bound**: the full fine-tune's "
        f"FLOPs at the fp32 rate, {bound_full:.4f} s/step; **own bound**: the FLOPs that "
        "variant needs at the rate of its dtype.",
        "",
        "| variant | base / adapter precision | CPU-s/step | % of bound | % of own bound "
        "| wall s/step | last logged loss |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for variant, runs in results.items():
        if variant == "bound":
            continue
        cpu = [run["cpu_s"] for run in runs]
        mid = statistics.median(cpu)
        precision = runs[0]["precision"]
        if precision is None:
            what = "fp32 / fp32" if variant == "plain-lora" else "fp32 (all trained)"
        else:
            quant = precision["quantize"] or precision["dtype"]
            what = f"{quant} / {precision['adapter_dtype']}"
        rate = rates["bfloat16"] if variant == "trl-bf16" else fp32
        own = (flops_full if variant == "plain-full" else flops_lora) / rate
        lines.append(
            f"| {LABELS[variant]} | {what} | {mid:.4f} [{min(cpu):.4f}, {max(cpu):.4f}] | "
            f"{100 * bound_full / mid:.0f}% | {100 * own / mid:.0f}% | "
            f"{statistics.median(run['wall_s'] for run in runs):.3f} | "
            f"{statistics.median(run['loss'] for run in runs):.3f} |"
        )
    cpu = {
        v: statistics.median(run["cpu_s"] for run in runs)
        for v, runs in results.items()
        if v != "bound"
    }
    pairs = [
        ("before", "default", "the old default over the new"),
        ("trl-dropout", "default", "LoRA dropout 0.05 over none"),
        ("trl-nf4", "default", "nf4 base over fp32"),
        ("trl-bf16", "default", "bf16 base over fp32"),
        ("default", "plain-lora", "TRL over the plain loop, same LoRA"),
        ("plain-lora", "plain-full", "LoRA over a full fine-tune, plain loops"),
    ]
    ratios = [f"{what} {cpu[a] / cpu[b]:.2f}x" for a, b, what in pairs if a in cpu and b in cpu]
    if ratios:
        lines += ["", "CPU-time ratios: " + "; ".join(ratios) + "."]
    return lines


READING = [
    "Reading the numbers:",
    "- CPU-seconds, not wall time: other engineers' jobs share the cores, so the wall column "
    "is stretched by their load; the CPU time of our process is what the step costs. Rounds "
    "interleave the variants, so a busy minute falls on all of them. CPU time is not immune "
    "to load (a busy sibling core shares caches and memory bandwidth): the rounds' ranges show "
    "how much it moved.",
    "- % of bound: the bound over the step's CPU time. The bound counts real tokens only, so "
    "padding is part of the gap; the `words` base's tic_tac_toe rows all have the same length "
    "and need none. The plain loops compute the loss over every position's logits (the model's "
    "own cross-entropy); TRL 1.16's fused LM head scores every position on a CPU too (it keeps "
    "only the completion's positions on Triton devices) and computes entropy and token "
    "accuracy in the same pass, which its SFTTrainer cannot switch off without subclassing.",
    "- The losses are not comparable across tables: a move is one token on the `words` base "
    "and two on the `gpt2` one, so the mean over completion tokens differs.",
    "- Not variants here, measured once by hand on the `words` base (same machine, one thread, "
    "CPU time): `torch.compile` (SFTConfig `torch_compile`) ran a step in 0.079 CPU-s against "
    "0.104 uncompiled, after about 60 CPU-s of compilation, more than a default night's whole "
    "SFT (464 steps); eager attention instead of SDPA, LoRA rank 8 or 32 and length grouping "
    "changed nothing beyond the noise (rows have one length); LoRA on q_proj and v_proj only "
    "was 15% cheaper a step but its loss fell more slowly, so all-linear stays (QLoRA, "
    "Dettmers et al. 2023, found every layer needed to match full fine-tuning).",
]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
