"""Benchmark the arena's Ray runs: games per second on 1 and 2 workers against a plain
sequential loop in one process, for scripted and LLM players, and the overhead Ray adds.

Every mode plays the same games (same run configuration, so the same seeds and openings) and
writes every record to JSONL; the Ray modes go through the whole tournament run (driver,
workers, shards, summary). Ray itself is started once, before the timings, and its start-up
is reported on its own line.

    .venv/bin/python scripts/bench_arena.py                 # writes BENCHMARKS_arena.md
    .venv/bin/python scripts/bench_arena.py --quick --out -  # smaller, prints the section
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agents import make_agent
from arena.cluster import connect
from arena.jsonl import JsonlWriter
from arena.match import play_matches
from arena.report import format_table
from arena.runs import ExecOptions
from arena.tournament import TournamentConfig, run_tournament
from arena.workspace import Workspace
from games import load_game


@dataclass
class Workload:
    name: str
    game: str
    players: tuple[str, str]
    pairs: int
    batch: int


def sequential(
    config: TournamentConfig, batch: int, out: Path, workspace: Workspace, threads: int | None
) -> float:
    """The baseline: one process, no Ray, the same lockstep batches, records to JSONL.

    ``threads`` pins torch's intra-op threads (as Ray does for a 1-CPU worker); None leaves
    torch's default (all cores).
    """
    import torch

    default = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _sequential(config, batch, out, workspace)
    finally:
        torch.set_num_threads(default)


def _sequential(config: TournamentConfig, batch: int, out: Path, workspace: Workspace) -> float:
    started = time.perf_counter()
    handle = load_game(config.game)
    agents = {
        spec: make_agent(spec, handle, workspace=workspace, device="cpu") for spec in config.players
    }
    jobs = config.jobs("seq")
    with JsonlWriter(out, mode="w") as writer:
        for start in range(0, len(jobs), batch):
            for record in play_matches(jobs[start : start + batch], agents):
                writer.write(record.to_dict())
    for agent in agents.values():
        getattr(agent, "close", lambda: None)()
    return time.perf_counter() - started


def on_ray(config: TournamentConfig, workers: int, batch: int, root: Path, tag: str) -> tuple:
    workspace = Workspace(root / tag)
    started = time.perf_counter()
    result = run_tournament(
        config, workspace, ExecOptions(workers=workers, batch=batch), run_id="bench"
    )
    wall = time.perf_counter() - started
    return wall, result.stats


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
    parser.add_argument("--out", default="BENCHMARKS_arena.md", help="markdown file, '-': stdout")
    parser.add_argument("--quick", action="store_true", help="fewer games (smoke run)")
    parser.add_argument("--llm-base", default=None, help="a built base folder (default: build)")
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM workload")
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode; the fastest counts")
    args = parser.parse_args(argv)

    scale = 0.1 if args.quick else 1.0
    root = Path(tempfile.mkdtemp(prefix="bench-arena-"))
    workloads = [
        Workload(
            "light: tic_tac_toe random vs mcts:1",
            "tic_tac_toe",
            ("random", "mcts:1"),
            max(10, int(1000 * scale)),
            32,
        ),
        Workload(
            "heavy: connect_four mcts:1000 vs random",
            "connect_four",
            ("mcts:1000", "random"),
            max(4, int(100 * scale)),
            8,
        ),
    ]
    llm_note = ""
    workspace = Workspace(root / "seq")
    if not args.no_llm:
        base = Path(args.llm_base) if args.llm_base else None
        if base is None:
            from training.base_model import build_base

            t0 = time.perf_counter()
            base = build_base("tiny", root / "tiny", seed=0, progress=False)
            llm_note = f"(tiny base built in {time.perf_counter() - t0:.0f}s, not timed below)"
        workloads.append(
            Workload(
                "LLM: tic_tac_toe llm:tiny vs random",
                "tic_tac_toe",
                (f"llm:{base}", "random"),
                max(4, int(48 * scale)),
                32,
            )
        )

    t0 = time.perf_counter()
    info = connect(num_cpus=2)
    ray_start = time.perf_counter() - t0
    rows, notes = [], []
    counter = iter(range(10**6))

    def best(fn, repeats: int = args.repeats):
        """Fastest of ``repeats`` runs (the least disturbed by other jobs on the cores)."""
        return min((fn() for _ in range(repeats)), key=lambda out: out[0])

    def ray_run(config, workers, batch):
        return on_ray(config, workers, batch, root, f"r{next(counter)}")

    def seq_run(config, batch, threads=None):
        out = root / f"s{next(counter)}.jsonl"
        return sequential(config, batch, out, workspace, threads), None

    try:
        tiny = TournamentConfig("tic_tac_toe", ("random", "mcts:1"), pairs=1)
        fixed, _ = best(lambda: ray_run(tiny, 1, 32), 3)
        for load in workloads:
            config = TournamentConfig(load.game, load.players, pairs=load.pairs)
            games = 2 * load.pairs
            print(f"{load.name}: {games} games", file=sys.stderr)
            seq, _ = best(lambda c=config, b=load.batch: seq_run(c, b))
            results = {"sequential (1 process)": (seq, None)}
            if load.name.startswith("LLM"):
                results["sequential, 1 torch thread"] = best(
                    lambda c=config, b=load.batch: seq_run(c, b, threads=1)
                )
            for workers in (1, 2):
                results[f"Ray, {workers} worker(s)"] = best(
                    lambda c=config, w=workers, b=load.batch: ray_run(c, w, b)
                )
            base = min(wall for wall, stats in results.values() if stats is None)
            for mode, (wall, stats) in results.items():
                rows.append(
                    [load.name, mode, games, round(wall, 2), round(games / wall, 1)]
                    + [f"{base / wall:.2f}x"]
                    + [f"{1000 * (wall - base) / games:+.2f}" if stats else "-"]
                )
            if load.name.startswith("light"):
                # Marginal cost: the same workload at a tenth of the size, so that the fixed
                # cost of a run (actor start-up) cancels out of the difference.
                small = dataclasses.replace(config, pairs=max(1, load.pairs // 10))
                n_small = 2 * small.pairs
                seq_small, _ = best(lambda c=small, b=load.batch: seq_run(c, b))
                ray_small, _ = best(lambda c=small, b=load.batch: ray_run(c, 1, b))
                ray_big = results["Ray, 1 worker(s)"][0]
                per_game = ((ray_big - ray_small) - (seq - seq_small)) / (games - n_small)
                notes.append(
                    f"Ray overhead per game, marginal (light workload, 1 worker, {n_small} vs "
                    f"{games} games, fixed start-up cancelled): {1000 * per_game:+.3f} ms"
                )
    finally:
        from arena.cluster import disconnect

        disconnect(info)
        shutil.rmtree(root, ignore_errors=True)

    headers = ["workload", "mode", "games", "wall s", "games/s", "vs best sequential"]
    table = format_table([*headers, "Ray cost ms/game"], rows)
    command = "python scripts/bench_arena.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    section = "\n".join(
        [
            "## arena: Ray runs (self-play/tournament/gate throughput)",
            "",
            f"Command: `{command}`  ",
            f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}  ",
            f"Machine: {os.cpu_count()} CPU cores ({cpu_model()}), no GPU, Python "
            f"{platform.python_version()}; other engineers' jobs may have shared the cores "
            "during the run (every baseline ran in the same run, so the ratios stay fair).",
            "",
            "Each workload plays the same seat-swapped games three ways: a plain loop in one "
            "process (`play_matches` in batches, records to JSONL), and the full Ray tournament "
            "run (driver, actors, shards, summary) with 1 and 2 workers of 1 CPU each. Ray "
            "times include starting the worker actors (and loading the model, for the LLM); "
            f"the embedded Ray instance itself took {ray_start:.1f}s to start, once, not "
            f"included. A 2-game Ray run (the fixed cost per run) took {fixed:.2f}s. Each "
            f"number is the fastest of {args.repeats} runs. {llm_note}",
            "",
            "```",
            table,
            "```",
            "",
            *[f"- {note}" for note in notes],
            "- 'Ray cost ms/game': (Ray wall - best sequential wall) / games; negative: Ray "
            "was faster.",
            "- Ray gives each 1-CPU worker one torch thread (OMP_NUM_THREADS=1); the LLM "
            "baseline runs both with torch's default threads and with one thread.",
            "",
        ]
    )
    if args.out == "-":
        print(section)
    else:
        Path(args.out).write_text("# Benchmarks: arena (Ray runs)\n\n" + section)
        print(section)
        print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
