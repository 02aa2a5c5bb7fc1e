"""Time each stage of demo nights (``configs/nightly.toml``) and write the BENCHMARKS.md section.

    python scripts/bench_nightly.py --workspace /tmp/bench-ws --nights 2
    python scripts/bench_nightly.py --base /path/to/base --workspace /tmp/bench-ws   # another base

Runs the nights through the library (``arena.nightly.pipeline.run_night``) on a local Ray instance,
then reads every stage's wall-clock time from the registry. The machine's load average is
recorded beside the numbers: on a shared machine wall-clock times are inflated by other work.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from benchmarks_md import DEFAULT, update_section  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "nightly.toml"))
    parser.add_argument("--workspace", required=True, help="a fresh folder (or a previous one)")
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--base", default=None, help="override [night] base (a folder)")
    parser.add_argument("--out", default=str(DEFAULT), help="BENCHMARKS.md, or - to print")
    args = parser.parse_args()

    from arena.registry import resolve

    resolve.install()
    from arena.nightly.config import load_config
    from arena.nightly.pipeline import run_night
    from arena.registry.store import Registry
    from games.workspace import Workspace

    config = load_config(args.config)
    if args.base:
        night = dataclasses.replace(config.night, base=args.base, build_preset="")
        config = dataclasses.replace(config, night=night)
    workspace = Workspace.resolve(args.workspace)
    load_before = os.getloadavg()
    started = time.perf_counter()
    outcomes = []
    for k in range(1, args.nights + 1):
        result = run_night(config, workspace, f"bench-{k}", say=print)
        outcomes.append((result.night, result.outcome, result.error))
    total = time.perf_counter() - started
    load_after = os.getloadavg()
    with Registry.open(workspace.registry, readonly=True) as reg:
        stages = {night: reg.stages(night) for night, _, _ in outcomes}
    names = list(dict.fromkeys(s.stage for rows in stages.values() for s in rows))
    header = "| stage | " + " | ".join(n for n, _, _ in outcomes) + " |"
    lines = [header, "|---|" + "---|" * len(outcomes)]
    for name in names:
        cells = []
        for night, _, _ in outcomes:
            row = next((s for s in stages[night] if s.stage == name), None)
            cells.append("-" if row is None or row.seconds is None else f"{row.seconds:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    sums = [sum(s.seconds or 0 for s in stages[n]) for n, _, _ in outcomes]
    lines.append("| **total** | " + " | ".join(f"**{x:.1f}**" for x in sums) + " |")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    cmd = "python scripts/bench_nightly.py --workspace WS --nights " + str(args.nights)
    cmd += f" --base {args.base}" if args.base else ""
    text = "\n".join(
        [
            "## Nightly cycle: seconds per stage of a demo night (scripts/bench_nightly.py)",
            "",
            f"`{cmd}` with `configs/nightly.toml` (base `{config.night.base}`), commit {commit}, "
            f"{platform.machine()} with {os.cpu_count()} CPU(s); load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other work shared the "
            f"machine: wall-clock times are inflated accordingly). Outcomes: "
            + ", ".join(f"{n} {o}" + (f" ({e})" if e else "") for n, o, e in outcomes)
            + f". Total {total:.0f} s including Ray start-up per night.",
            "",
            *lines,
            "",
            "Ray runs (selfplay, gate, tournament) include starting their worker actors, which "
            "import torch and load the base; `train` includes starting the Ray task process.",
        ]
    )
    update_section(args.out, "nightly", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
