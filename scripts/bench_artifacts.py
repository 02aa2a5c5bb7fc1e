"""Benchmark how long a run takes to start on a worker node in each artifact mode.

A two-node Ray cluster on 127.0.0.1, started by this script: a head with 0 CPUs (where this
driver and the artifact server live) and one worker node with 1 CPU and its own artifact cache.
Three conditions, interleaved in every repeat:

* ``shared``: the worker loads the base from the workspace path (the baseline: the node sees it);
* ``ship, cold``: the worker's cache is emptied first, so the base travels from the driver's
  node through Ray's object store (byte ranges), is hashed and written into the cache;
* ``ship, warm``: the base is in the cache; a new worker process re-hashes it once.

Two measurements per condition and base:

* ``agent ready``: on the worker node, in a fresh process with torch and transformers already
  imported, the seconds from asking for the base to having its engine loaded (the artifact
  step, timed on its own, plus the model load): what the mode adds, without the noise of
  process start-up;
* ``run``: one whole tournament run from the driver (one seat-swapped pair of
  ``llm:BASE,temperature=0`` against ``random``, one worker on the worker node): manifest,
  worker process start, the base, model load, two games, shutdown.

The driver hashes each base once per process (timed separately: a night hashes its base once).
Bases: the ``small`` preset (``--small``, built when absent) and a randomly initialised Llama of
about ``--big-mb`` MB (the small base's tokenizer and view), which plays legal moves, badly.

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

from benchmarks_md import DEFAULT, update_section

from arena.execution.artifacts import describe
from arena.execution.cluster import connect
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
    cmd += [f"--node-manager-port={manager}"]
    if cpus == 0:
        cmd += ["--head", f"--port={head_port}", f"--temp-dir={temp}", "--include-dashboard=false"]
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
    layers = 6
    per_layer = megabytes * 1e6 / 4 / layers  # fp32 parameters per layer
    hidden = max(64, int((per_layer / 8) ** 0.5) // 64 * 64)  # attention: half of it
    inter = int((per_layer - 4 * hidden * hidden) / (3 * hidden))
    config = json.loads((small / "config.json").read_text())
    config.update(
        hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, head_dim=64,
    )  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(LlamaConfig(**config))
    model.save_pretrained(out, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "arena_base.json"):
        shutil.copy(small / name, out / name)
    return out


def timed_run(ws: Workspace, base: Path, mode: str, run_id: str) -> float:
    config = TournamentConfig("tic_tac_toe", (f"llm:{base},temperature=0", "random"), pairs=1)
    options = ExecOptions(workers=1, artifacts=mode)  # the cluster this process joined
    started = time.perf_counter()
    run_tournament(config, ws, options, run_id)
    return time.perf_counter() - started


def agent_ready(base: str, ref, server, cache_root: str | None) -> tuple[float, float]:
    """On the worker node: (artifact seconds, model load seconds) for one condition."""
    import peft  # noqa: F401  imported before the clock starts, as in a running worker
    import torch  # noqa: F401
    import transformers.models.llama.modeling_llama  # noqa: F401

    from agents.llm import get_engine
    from arena.execution.cache import ArtifactCache, cache_limit

    started = time.perf_counter()
    if ref is not None:
        base = str(ArtifactCache(cache_root, cache_limit()).fetch(ref, server))
    fetched = time.perf_counter()
    get_engine(base, None, "cpu")
    return fetched - started, time.perf_counter() - fetched


def _spread(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.mean(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"
    )


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
    import ray  # after the token is in the environment: Ray reads it once

    ray_bin = str(Path(sys.executable).with_name("ray"))
    head_port = free_port()
    log = (scratch / "ray.log").open("w")
    procs = [start_node(ray_bin, temp, env, head_port, 0, log)]
    worker_env = {**env, "ARENA_ARTIFACT_CACHE": str(cache)}
    procs.append(start_node(ray_bin, temp, worker_env, head_port, 1, log))
    address = f"127.0.0.1:{head_port}"
    rows, hashing = [], {}
    try:
        connect(address)
        deadline = time.monotonic() + 120
        while sum(n["Alive"] for n in ray.nodes()) < 2:
            assert time.monotonic() < deadline, "the worker node did not join"
            time.sleep(0.5)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from arena.execution.artifacts import Publisher

        worker = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU"))
        on_worker = NodeAffinitySchedulingStrategy(worker, soft=False)
        ready = ray.remote(num_cpus=1, max_calls=1, scheduling_strategy=on_worker)(agent_ready)
        publisher = Publisher.get()
        for label, base in (("small", small), (f"random ~{args.big_mb:g} MB", big)):
            started = time.perf_counter()
            ref = describe(base)  # what publishing costs the driver once: hashing
            hashing[label] = (ref.nbytes, time.perf_counter() - started)
            publisher.publish(base)
            parts: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in MODES}
            runs: dict[str, list[float]] = {name: [] for name, _, _ in MODES}
            for repeat in range(args.repeats):
                for name, mode, cold in MODES:
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    shipped = ref if mode == "ship" else None
                    parts[name].append(
                        ray.get(ready.remote(str(base), shipped, publisher.server, str(cache)))
                    )
                for name, mode, cold in MODES:
                    if cold:
                        shutil.rmtree(cache, ignore_errors=True)
                    run = f"{base.name}-{mode}-{int(cold)}-{repeat}"
                    runs[name].append(timed_run(ws, base, mode, run))
            shared = statistics.mean(a + b for a, b in parts["shared"])
            for name, _, _ in MODES:
                artifact = [a for a, _ in parts[name]]
                total = [a + b for a, b in parts[name]]
                rows.append(
                    [label, f"{ref.nbytes / 1e6:.1f}", name, _spread(artifact), _spread(total),
                     f"{statistics.mean(total) - shared:+.2f}", _spread(runs[name], 1)]
                )  # fmt: skip
    finally:
        if ray.is_initialized():  # before the nodes stop: a driver without its GCS aborts
            ray.shutdown()
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
    headers = ["base", "MB", "condition", "artifact s", "agent ready s", "vs shared", "run s"]
    table = format_table(headers, rows)
    hashed = "; ".join(f"{k}: {b / 1e6:.1f} MB in {s:.2f} s" for k, (b, s) in hashing.items())
    cpu, day = platform.processor() or platform.machine(), time.strftime("%Y-%m-%d")
    text = f"""## Artifacts: a run starting on a worker node, shared vs shipped (bench_artifacts.py)

Command: `{command}`
Machine: {os.cpu_count()} CPU cores ({cpu}), other engineers' jobs sharing them; {day}.

Two Ray nodes on 127.0.0.1: a head with 0 CPUs (the driver and the artifact server) and a
worker node with 1 CPU and its own cache. "artifact s": on the worker node, getting the base
(nothing to do with a shared path; download, hash and write when cold; re-hash when warm);
"agent ready s": that plus loading the model, in a fresh process with torch imported; "vs
shared": the difference of the agent-ready means; "run s": one whole tournament run from the
driver (one pair of `llm:BASE,temperature=0` vs `random`, worker process start included), whose
spread on these shared cores is larger than the differences. Mean [min, max] of {args.repeats}
interleaved repeats. The driver hashed each base once ({hashed}); later runs reuse the hashes.

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
