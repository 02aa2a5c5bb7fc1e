"""Benchmark the arena's Ray runs: games per second on 1 and 2 workers against a plain
sequential loop in one process, for scripted and LLM players, and the overhead Ray adds.

Every mode plays the same games (same run configuration: same seeds and openings) and writes
every record to JSONL. Two timings per mode:

* end to end ("cold"): the sequential loop including building its agents (loading the model);
  the whole Ray tournament run (actors started, model loaded in each, driver, shards, summary).
* warm: games only, with the agents built (sequential) or the actors started and their agents
  loaded by a 2-game warm-up (Ray: ``Driver.run`` over the same jobs into fresh shards).

The difference of the warm times per game is what Ray adds per game (scheduling, pickling the
jobs and records, validating and writing them in the driver). Ray itself starts once, before
the timings (reported on its own).

    .venv/bin/python scripts/bench_arena.py                 # updates its section of BENCHMARKS.md
    .venv/bin/python scripts/bench_arena.py --quick --out -  # smaller, prints the section
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ray
from benchmarks_md import DEFAULT, update_section

from agents import make_agent
from arena.execution.cluster import connect, disconnect
from arena.execution.runner import RayRunner
from arena.execution.session import ExecOptions
from arena.reporting.tables import format_table
from arena.runs.tournament import TournamentConfig, run_tournament
from games import load_game
from games.jsonl import JsonlWriter
from games.runner import LocalRunner
from games.workspace import Workspace


@dataclass
class Workload:
    name: str
    game: str
    players: tuple[str, str]
    pairs: int
    batch: int


@dataclass
class Timing:
    cold_s: float
    warm_s: float


def sequential(config: TournamentConfig, batch: int, out: Path, threads: int | None) -> Timing:
    """The baseline: one process, no Ray, the same lockstep batches, records to JSONL.

    ``threads`` pins torch's intra-op threads (as Ray does for a 1-CPU worker); None leaves
    torch's default (all cores). Engines are cleared first, so the model loads every time.
    """
    import torch

    try:
        from agents.llm import clear_engines

        clear_engines()
    except ImportError:
        pass
    default = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        handle = load_game(config.game)
        agents = {spec: make_agent(spec, handle, device="cpu") for spec in config.players}
        built = time.perf_counter()
        jobs = config.jobs("bench")
        with JsonlWriter(out, mode="w") as writer:
            LocalRunner(agents, batch)(jobs, lambda record: writer.write(record.to_dict()))
        done = time.perf_counter()
    finally:
        torch.set_num_threads(default)
    return Timing(done - started, done - built)


def ray_cold(config: TournamentConfig, workers: int, batch: int, root: Path) -> float:
    """The whole tournament run, actors and models started from nothing."""
    started = time.perf_counter()
    run_tournament(config, Workspace(root), ExecOptions(workers=workers, batch=batch), "bench")
    return time.perf_counter() - started


def ray_warm(config: TournamentConfig, workers: int, batch: int, root: Path) -> float:
    """Only the games: every worker has played a 2-game warm-up (agents built) first."""
    with RayRunner(workers, root / "shards", workspace=root, batch=batch) as runner:
        warmup = config.jobs("warmup")[:2]
        ray.get([slot.handle.play.remote(warmup) for slot in runner.pool.slots])
        started = time.perf_counter()
        runner(config.jobs("bench"))
        return time.perf_counter() - started


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file, '-': stdout")
    parser.add_argument("--quick", action="store_true", help="fewer games (smoke run)")
    parser.add_argument("--llm-base", default=None, help="a built base folder (default: build)")
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM workload")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode; the fastest counts")
    args = parser.parse_args(argv)

    scale = 0.1 if args.quick else 1.0
    root = Path(tempfile.mkdtemp(prefix="bench-arena-"))
    workloads = [
        Workload("light: tic_tac_toe random vs mcts:1", "tic_tac_toe", ("random", "mcts:1"),
                 max(10, int(1000 * scale)), 32),
        Workload("heavy: connect_four mcts:1000 vs random", "connect_four",
                 ("mcts:1000", "random"), max(4, int(100 * scale)), 8),
    ]  # fmt: skip
    llm_note = ""
    if not args.no_llm:
        base = Path(args.llm_base) if args.llm_base else None
        if base is None:
            from training.base_model import build_base

            t0 = time.perf_counter()
            base = build_base("tiny", root / "tiny", seed=0, progress=False)
            llm_note = f" (The tiny base was built in {time.perf_counter() - t0:.0f}s, untimed.)"
        workloads.append(
            Workload("LLM: tic_tac_toe llm:tiny vs random", "tic_tac_toe",
                     (f"llm:{base}", "random"), max(8, int(200 * scale)), 32)
        )  # fmt: skip

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    info = connect(num_cpus=2)
    ray_start = time.perf_counter() - t0
    counter = iter(range(10**6))

    def fresh() -> Path:
        return root / f"run{next(counter)}"

    def best(fn) -> float | Timing:
        """Fastest of ``--repeats`` runs (the least disturbed by other jobs on the cores)."""
        runs = [fn() for _ in range(args.repeats)]
        if isinstance(runs[0], Timing):
            return Timing(min(r.cold_s for r in runs), min(r.warm_s for r in runs))
        return min(runs)

    rows, notes = [], []
    try:
        tiny = TournamentConfig("tic_tac_toe", ("random", "mcts:1"), pairs=1)
        fixed = best(lambda: ray_cold(tiny, 1, 32, fresh()))
        for load in workloads:
            config = TournamentConfig(load.game, load.players, pairs=load.pairs)
            games = 2 * load.pairs
            print(f"{load.name}: {games} games", file=sys.stderr)
            llm = load.name.startswith("LLM")
            results: dict[str, tuple[Timing, bool]] = {}
            if llm:
                results["sequential, torch default threads"] = (
                    best(lambda c=config, b=load.batch: sequential(c, b, fresh(), None)),
                    False,
                )
            results["sequential" + (", 1 torch thread" if llm else "")] = (
                best(lambda c=config, b=load.batch: sequential(c, b, fresh(), 1)),
                False,
            )
            for workers in (1, 2):
                cold = best(lambda c=config, w=workers, b=load.batch: ray_cold(c, w, b, fresh()))
                warm = best(lambda c=config, w=workers, b=load.batch: ray_warm(c, w, b, fresh()))
                results[f"Ray, {workers} worker{'s' if workers > 1 else ''}"] = (
                    Timing(cold, warm),
                    True,
                )
            base = min(t.warm_s for t, on_ray in results.values() if not on_ray)
            for mode, (t, on_ray) in results.items():
                rows.append(
                    [load.name, mode, games, round(t.cold_s, 2), round(t.warm_s, 2)]
                    + [round(games / t.warm_s, 1), f"{base / t.warm_s:.2f}x"]
                    + [f"{1000 * (t.warm_s - base) / games:+.2f}" if on_ray else "-"]
                )
            one = results["Ray, 1 worker"][0].warm_s
            notes.append(
                f"{load.name}: Ray adds {1000 * (one - base) / games:+.2f} ms per game on one "
                f"worker (warm); 2 workers play {(one / results['Ray, 2 workers'][0].warm_s):.2f}x "
                "as fast as 1."
            )
    finally:
        load_after = os.getloadavg()[0]
        disconnect(info)
        shutil.rmtree(root, ignore_errors=True)

    headers = ["workload", "mode", "games", "end-to-end s", "warm s", "warm games/s"]
    table = format_table([*headers, "warm vs sequential", "Ray ms/game"], rows)
    command = "python scripts/bench_arena.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    section = "\n".join(
        [
            "## arena: Ray runs (self-play, tournament and gate throughput)",
            "",
            f"Command: `{command}`  ",
            f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}  ",
            f"Machine: {os.cpu_count()} CPU cores ({cpu_model()}), no GPU, Python "
            f"{platform.python_version()}, Ray {ray.__version__}. Other engineers' jobs may have "
            "shared the cores during the run (1-minute load average "
            f"{load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} cores); every "
            "baseline ran in the same run, so the ratios stay fair, but a second worker only "
            "helps as far as a core is free.",
            "",
            "Each workload plays the same seat-swapped games: a plain loop in one process "
            "(`play_matches` in the same batches, records to JSONL) and Ray with 1 and 2 workers "
            "of 1 CPU each. *End-to-end*: the sequential loop including building its agents "
            "(loading the model), and the whole `run_tournament` (actors, model load in each "
            "worker, driver, shards, summary). *Warm*: the games only (agents built; for Ray, "
            "actors started and warmed up with 2 games, then `Driver.run` into fresh shards). "
            f"Fastest of {args.repeats} runs each. The embedded Ray instance took "
            f"{ray_start:.1f}s to start (once, not included); a 2-game Ray run end to end took "
            f"{fixed:.2f}s.{llm_note}",
            "",
            "```",
            table,
            "```",
            "",
            *[f"- {note}" for note in notes],
            "- 'Ray ms/game' = (Ray warm - best sequential warm) / games; negative: Ray was "
            "faster.",
            "- A 1-CPU Ray worker runs torch with one thread (OMP_NUM_THREADS=1); the LLM "
            "baseline is shown with torch's default threads and with one thread.",
            "",
        ]
    )
    print(section)
    if args.out != "-":
        update_section(args.out, "arena", section)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
