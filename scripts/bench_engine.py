"""Benchmark the batched LLM engine against a naive loop and against the forward-pass bound.

Three measurements on the same model, machine and game states, interleaved per repeat so that
load from other processes hits all of them alike:

- naive loop: one game at a time, ``model.generate`` per move (greedy, stops at the newline),
  then parse the text; the way an LLM agent is usually written first;
- engine: ``LLMAgent.act_batch`` over all states at once (score mode: one prompt pass with KV
  cache + one pass over every legal move's tokens), policy and sampling included;
- forward-pass bound: tokens/s of one large batched forward (random ids, mean prompt length,
  no padding, no KV cache written, logits of the last position only: the cheapest forward over
  those tokens; the best of batch sizes 32..1024) divided by the tokens one move needs (prompt
  + all candidates).

With a CUDA device it also runs a randomly initialised Qwen2-0.5B-shaped model in bf16 and
reports achieved FLOP/s against the card's dense bf16 peak.

    python scripts/bench_engine.py --base arena-data/base/small --out BENCHMARKS.md
    python scripts/bench_engine.py --base B --dtypes "" --out gpu.md    # the GPU section only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchmarks_md import DEFAULT, update_section

from agents.llm import LLMAgent, LLMOptions, extract_answer
from agents.llm.engine import Engine
from agents.llm.model_io import pick_device, resolve_base
from games import CURATED_GAMES, load_game, observe, sample_chance

# Dense bf16 tensor-core peaks (FLOP/s) from the vendors' datasheets (SXM parts).
BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def random_states(count: int, seed: int) -> list:
    """``count`` observations, spread evenly over the curated games, from random play."""
    rng, out = np.random.default_rng(seed), []
    per_game = -(-count // len(CURATED_GAMES))
    for game in CURATED_GAMES:
        handle, mine = load_game(game), []
        while len(mine) < per_game:
            state = handle.game.new_initial_state()
            while not state.is_terminal() and len(mine) < per_game:
                if state.is_chance_node():
                    state.apply_action(sample_chance(state, rng))
                    continue
                obs = observe(handle, state)
                mine.append(obs)
                state.apply_action(obs.actions[rng.integers(len(obs.actions))])
        out += mine
    return out[:count]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def naive_loop(engine: Engine, states: list) -> tuple[float, int]:
    """Moves/s of generate-then-parse, one game at a time; also how many were legal."""
    import torch

    model, tok = engine.base, engine.tokenizer
    stops = engine.codec.stop_ids(newline=True)
    legal = 0
    sync(engine.device)
    start = time.perf_counter()
    for obs in states:
        batch = tok(obs.prompt, return_tensors="pt").to(engine.device)
        with torch.inference_mode():
            out = model.generate(
                **batch,
                max_new_tokens=8,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tok.pad_token_id,
            )
        text = tok.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        legal += isinstance(obs.parse(extract_answer(text, chat=False)), int)
    sync(engine.device)
    return len(states) / (time.perf_counter() - start), legal


def engine_run(agent: LLMAgent, states: list) -> float:
    rngs = [np.random.default_rng(i) for i in range(len(states))]
    sync(agent.engine.device)
    start = time.perf_counter()
    decisions = agent.act_batch(states, rngs)
    sync(agent.engine.device)
    assert all(d.action in s.actions for d, s in zip(decisions, states, strict=True))
    return len(states) / (time.perf_counter() - start)


def forward_bound(engine: Engine, batch: int, length: int) -> float:
    """Tokens/s of one plain batched forward of ``batch`` x ``length`` tokens."""
    import torch

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2, len(engine.tokenizer), (batch, length), generator=gen)
    ids = ids.to(engine.device)
    sync(engine.device)
    start = time.perf_counter()
    with torch.inference_mode():  # logits of the last position only, as the engine needs
        engine.base(input_ids=ids, use_cache=False, logits_to_keep=1)
    sync(engine.device)
    return batch * length / (time.perf_counter() - start)


def tokens_per_move(engine: Engine, states: list) -> tuple[float, float]:
    agent = LLMAgent("bench", engine, None, LLMOptions())
    requests = agent.requests(states)
    prompts = engine.codec.prompts([r.prompt for r in requests])
    cands = [
        engine.codec.candidates(r.prompt, p, r.candidates)
        for r, p in zip(requests, prompts, strict=True)
    ]
    prompt = float(np.mean([len(p) for p in prompts]))
    cand = float(np.mean([sum(map(len, c)) for c in cands]))
    return prompt, cand


def measure(engine: Engine, states: list, naive_moves: int, repeats: int) -> dict:
    agent = LLMAgent("bench", engine, None, LLMOptions(temperature=1.0))
    prompt_tokens, cand_tokens = tokens_per_move(engine, states)
    per_move = prompt_tokens + cand_tokens
    length = max(1, round(prompt_tokens))
    sizes = [b for b in (32, 64, 128, 256, 512, 1024) if b <= len(states)] or [len(states)]
    engine_run(agent, states[:32])  # warm-up (allocator, kernels)
    forward_bound(engine, sizes[0], length)
    naive, eng, bound_tps, single, legal = [], [], [], [], 0
    for _ in range(repeats):
        rate, legal = naive_loop(engine, states[:naive_moves])
        naive.append(rate)
        engine.stats.clear()
        eng.append(engine_run(agent, states))
        computed = (engine.stats["stem_tokens"] + engine.stats["candidate_tokens"]) / len(states)
        # the bound is the best batch size's throughput: a plain forward at its fastest
        bound_tps.append(max(forward_bound(engine, b, length) for b in sizes))
        single.append(statistics.median(forward_bound(engine, 1, length) for _ in range(5)))
    tps = statistics.median(bound_tps)
    # ratios are paired within a repeat (the same load hit both), then the median is taken
    pair_speedup = [e / n for e, n in zip(eng, naive, strict=True)]
    pair_share = [e * per_move / b for e, b in zip(eng, bound_tps, strict=True)]
    return {
        "speedup": statistics.median(pair_speedup),
        "share": statistics.median(pair_share),
        "naive": statistics.median(naive),
        "naive_legal": legal / naive_moves,
        "engine": statistics.median(eng),
        "bound_tps": tps,
        "bound": tps / per_move,
        "prompt_tokens": prompt_tokens,
        "cand_tokens": cand_tokens,
        "computed": computed,
        "chunks": engine.stats["chunks"],
        "single_tps": statistics.median(single),
        "runs": {"naive": naive, "engine": eng, "bound_tps": bound_tps, "one_sequence_tps": single},
    }


def params_of(model) -> int:
    return sum(p.numel() for p in model.parameters())


def table(label: str, m: dict, extra: list[str] | None = None) -> list[str]:
    speedup, share = m["speedup"], m["share"]
    rows = [
        f"### {label}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| naive loop (generate + parse, 1 game at a time) | {m['naive']:.1f} moves/s "
        f"({m['naive_legal']:.0%} legal) |",
        f"| engine (score mode, all states batched) | {m['engine']:.1f} moves/s |",
        f"| engine / naive (median of per-repeat ratios) | **{speedup:.1f}x** (target >= 10x) |",
        f"| forward-pass bound | {m['bound_tps']:,.0f} tokens/s / "
        f"{m['prompt_tokens'] + m['cand_tokens']:.1f} tokens per move "
        f"({m['prompt_tokens']:.1f} prompt + {m['cand_tokens']:.1f} candidates) = "
        f"{m['bound']:.1f} moves/s |",
        f"| engine / bound (median of per-repeat ratios) | **{share:.0%}** (target >= 60%) |",
        f"| one-sequence forward (what the naive loop's prefill gets) | "
        f"{m['single_tps']:,.0f} tokens/s |",
        f"| tokens the engine computed per move | {m['computed']:.1f} (shared game headers once "
        f"per group; {m['chunks']} micro-batches) |",
        *(extra or []),
        "",
        "Per-repeat values: "
        + "; ".join(f"{k}: " + ", ".join(f"{v:,.1f}" for v in vs) for k, vs in m["runs"].items()),
        "",
    ]
    return rows


def cpu_section(args, dtype: str) -> list[str]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ref = resolve_base(args.base, args.workspace)
    engine = Engine(ref, "cpu", max_batch=args.max_batch, dtype=dtype)
    states = random_states(args.states, seed=0)
    m = measure(engine, states, args.naive_moves, args.repeats)
    label = (
        f"CPU, {dtype}: `{Path(engine.ident).name}` base, {params_of(engine.base) / 1e6:.2f}M "
        f"parameters, {len(states)} states ({', '.join(CURATED_GAMES)}); naive loop in {dtype} too"
    )
    return table(label, m)


# Qwen2-0.5B's shape (its config.json), and a miniature with the same vocabulary that runs the
# same code path on a CPU in seconds (``--gpu-shape mini --gpu-device cpu``: a check, no numbers).
QWEN_SHAPES = {
    "0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
             "num_attention_heads": 14, "num_key_value_heads": 2},
    "mini": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2},
}  # fmt: skip


def qwen_config(shape: str):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=151936,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        **QWEN_SHAPES[shape],
    )


def gpu_section(args) -> list[str]:
    """Qwen2-0.5B-shaped, randomly initialised, bf16 (no weights are downloaded)."""
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    device = args.gpu_device
    if device.startswith("cuda") and not torch.cuda.is_available():
        return [
            "### GPU",
            "",
            "Skipped: no CUDA device in this run. " + (args.gpu_note or ""),
            "",
        ]
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    config = qwen_config(args.gpu_shape)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        with torch.device(device):  # initialise where it runs: seconds on a GPU for 0.5B
            model = Qwen2ForCausalLM(config)
        model.to(torch.bfloat16).save_pretrained(tmp)
        del model
        tok = AutoTokenizer.from_pretrained(resolve_base(args.base, args.workspace).ident)
        tok.save_pretrained(tmp)
        engine = Engine(resolve_base(tmp), pick_device(device), max_batch=args.gpu_states,
                        dtype="bf16")  # fmt: skip
        states = random_states(args.gpu_states, seed=0)
        m = measure(engine, states, args.naive_moves, args.repeats)
        # FLOPs per token: 2 per non-embedding weight (the lm_head runs on one position per
        # sequence only; attention over ~100 positions adds < 1% at this width).
        flops = 2 * (params_of(engine.base) - config.vocab_size * config.hidden_size)
        bound_flops = m["bound_tps"] * flops
        engine_flops = m["engine"] * (m["prompt_tokens"] + m["cand_tokens"]) * flops
        of_peak = ""
        if peak:
            of_peak = f" ({bound_flops / peak:.0%} of the {peak / 1e12:.0f} TFLOP/s bf16 peak)"
        extra = [
            f"| achieved, forward bound | {bound_flops / 1e12:.1f} TFLOP/s{of_peak} |",
            f"| achieved, engine | {engine_flops / 1e12:.1f} TFLOP/s |",
        ]
        if device.startswith("cuda"):
            extra.append(
                f"| peak GPU memory (torch allocated) | "
                f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB |"
            )
        label = (
            f"GPU ({name}): Qwen2-{args.gpu_shape}-shaped random init "
            f"({params_of(engine.base) / 1e6:.0f}M parameters), bf16, {len(states)} states"
        )
        return table(label, m, extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="small", help="base folder or workspace name")
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--states", type=int, default=256, help="states per engine batch")
    parser.add_argument("--naive-moves", type=int, default=48, help="moves timed in the loop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-batch", type=int, default=256, help="engine micro-batch rows")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--dtypes", default="fp32,bf16", help='CPU precisions to measure ("" for none)'
    )
    parser.add_argument("--gpu-states", type=int, default=1024)
    parser.add_argument("--gpu-shape", choices=sorted(QWEN_SHAPES), default="0.5b")
    parser.add_argument(
        "--gpu-device", default="cuda", help="device of the Qwen2 section (cpu: a code check)"
    )
    parser.add_argument("--gpu-note", default="", help="text added when the GPU run is skipped")
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file (its section)")
    args = parser.parse_args(argv)
    import torch

    command = "python scripts/bench_engine.py " + " ".join(argv or sys.argv[1:])
    lines = [
        "## LLM engine: batched scoring vs a naive loop (scripts/bench_engine.py)",
        "",
        f"- command: `{command.strip()}`",
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}",
        f"- machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads"
        if not args.threads
        else f"- machine: {os.cpu_count()} CPU cores, torch {torch.__version__} with "
        f"{args.threads} threads",
        "- other engineers' jobs may have shared the CPU cores during the run; the three "
        "measurements are interleaved in every repeat, so their ratios stay fair",
        "",
        *(
            line
            for dtype in filter(None, args.dtypes.split(","))
            for line in cpu_section(args, dtype)
        ),
        *gpu_section(args),
    ]
    text = "\n".join(lines) + "\n"
    update_section(args.out, "engine", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
