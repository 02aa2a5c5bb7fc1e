"""Benchmark how long a run takes to start on a worker node in each artifact mode.

A two-node Ray cluster on 127.0.0.1, started by this script: a head with 0 CPUs (where this
driver and the artifact server live) and one worker node with 1 CPU and its own artifact cache.
For each base, one short tournament run (one seat-swapped pair, ``llm:BASE,temperature=0``
against ``random``, one worker) is timed end to end from the driver in three conditions,
interleaved in every repeat:

* ``shared``: the worker loads the base from the workspace path (the baseline: the node sees it);
* ``ship, cold``: the worker's cache is emptied first, so the base travels from the driver's
  node through Ray's object store (byte ranges), is hashed and written into the cache;
* ``ship, warm``: the base is in the cache; the new worker process re-hashes it once.

Every run also starts a worker process (Python, torch, transformers) and loads the model; the
differences to ``shared`` are what shipping costs. The driver hashes each base once per
process (timed separately: a night hashes its base once). Bases: the ``small`` preset
(``--small``, built when absent) and a randomly initialised Llama of about ``--big-mb`` MB
(the small base's tokenizer and view), which plays legal moves, badly.

    .venv/bin/python scripts/bench_artifacts.py --small arena-data/base/small
    .venv/bin/python scripts/bench_artifacts.py --repeats 1 --big-mb 20 --out -   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray
from benchmarks_md import DEFAULT, update_section

from arena.execution.artifacts import describe
from arena.execution.cluster import connect, disconnect
from arena.execution.session import ExecOptions
from arena.reporting.tables import format_table
from arena.runs.tournament import TournamentConfig, run_tournament
from games.workspace import Workspace

MODES = (("shared", "shared", False), ("ship, cold", "ship", True), ("ship, warm", "ship", False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


def start_node(ray_bin: str, temp: Path, env: dict, head_port: int, cpus: int, log) -> tuple:
    manager = free_port()
    cmd = [ray_bin, "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}"]
    cmd += ["--num-gpus=0", "--object-store-memory=300000000", "--disable-usage-stats"]
    cmd += [f"--node-manager-port={manager}", "--include-dashboard=false"]
    if cpus == 0:
        cmd += ["--head", f"--port={head_port}", f"--temp-dir={temp}"]
    else:
        cmd += [f"--address=127.0.0.1:{head_port}"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    wait_port(head_port if cpus == 0 else manager)
    return proc


def build_big(small: Path, out: Path, megabytes: float) -> Path:
    """A random Llama with the small base's tokenizer and view, about ``megabytes`` of fp32."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    if (out / "model.safetensors").is_file():
        return out
    layers, hidden = 6, 512
    inter = int((megabytes * 1e6 / 4 / layers - 4 * hidden * hidden) / (3 * hidden))
    config = json.loads((small / "config.json").read_text())
    config.update(
        hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=8, num_key_value_heads=8, head_dim=64,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**config))
    model.save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "arena_base.json"):
        shutil.copy(small / name, out / name)
    return out


def timed_run(ws: Workspace, address: str, base: Path, mode: str, run_id: str) -> float:
    config = TournamentConfig("tic_tac_toe", (f"llm:{base},temperature=0", "random"), pairs=1)
    options = ExecOptions(address=address, workers=1, artifacts=mode)
    started = time.perf_counter()
    run_tournament(config, ws, options, run_id)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default=None, help="the small base folder (default: build)")
    parser.add_argument("--big-mb", type=float, default=100.0, help="size of the random base")
    parser.add_argument("--repeats", type=int, default=3, help="runs per condition")
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file, '-': stdout")
    args = parser.parse_args(argv)
    command = "python scripts/bench_artifacts.py " + " ".join(argv or sys.argv[1:])
    scratch = Path(tempfile.mkdtemp(prefix="bench-artifacts-"))
    ws = Workspace(scratch / "ws")
    small = Path(args.small) if args.small else ws.base("small")
    if not (small / "model.safetensors").is_file():
        from training.base_model import build_base

        build_base("small", small, seed=0, progress=False)
    big = build_big(small, ws.base("random-big"), args.big_mb)
    temp = Path(tempfile.mkdtemp(prefix="rbench", dir="/tmp"))
    cache = scratch / "worker-cache"
    env = {**os.environ, "RAY_TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.pop("RAY_ADDRESS", None)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=env["RAY_AUTH_TOKEN"])
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head_port = free_port()
    log = (scratch / "ray.log").open("w")
    procs = [start_node(ray_bin, temp, env, head_port, 0, log)]
    worker_env = {**env, "ARENA_ARTIFACT_CACHE": str(cache)}
    procs.append(start_node(ray_bin, temp, worker_env, head_port, 1, log))
    address = f"127.0.0.1:{head_port}"
    rows, hashing = [], {}
    try:
        info = connect(address)
        deadline = time.monotonic() + 120
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            assert time.monotonic() < deadline, "the worker node did not join"
            time.sleep(0.5)
        for label, base in (("small", small), (f"random ~{args.big_mb:g} MB", big)):
            started = time.perf_counter()
            nbytes = describe(base).nbytes
            hashing[label] = (nbytes, time.perf_counter() - started)
            times: dict[str, list[float]] = {name: [] for name, _, _ in MODES}
            for repeat in range(args.repeats):
                for name, mode, cold in MODES:
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    run = f"{base.name}-{mode}-{int(cold)}-{repeat}"
                    times[name].append(timed_run(ws, address, base, mode, run))
            shared = statistics.mean(times["shared"])
            for name, _, _ in MODES:
                t = times[name]
                rows.append(
                    [label, f"{nbytes / 1e6:.1f}", name, f"{statistics.mean(t):.1f}",
                     f"{min(t):.1f}-{max(t):.1f}", f"{statistics.mean(t) - shared:+.1f}"]
                )  # fmt: skip
        disconnect(info)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
    table = format_table(["base", "MB", "condition", "mean s", "min-max s", "vs shared"], rows)
    hashed = "; ".join(f"{k}: {b / 1e6:.1f} MB in {s:.2f} s" for k, (b, s) in hashing.items())
    text = f"""## Artifacts: a run starting on a worker node, shared vs shipped (bench_artifacts.py)

Command: `{command}`
Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), other
engineers' jobs sharing them; {time.strftime("%Y-%m-%d")}.

Two Ray nodes on 127.0.0.1: a head with 0 CPUs (the driver and the artifact server) and a
worker node with 1 CPU and its own cache. Each number is the wall time of one tournament run
(one seat-swapped pair of `llm:BASE,temperature=0` vs `random`, one worker on the worker node)
from the driver: manifest, worker process start (Python, torch), the base (from the workspace,
fetched, or verified in the cache), model load, two games, shutdown. {args.repeats} runs per
condition, interleaved; "vs shared" is the difference of the means. The driver hashed each base
once ({hashed}); later runs reuse the hashes.

```
{table}
```
"""
    update_section(args.out, "artifacts", text)
    print(text if args.out != "-" else "")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
