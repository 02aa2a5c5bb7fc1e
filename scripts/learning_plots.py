"""Plot learning curves for LEARNING.md from the product's own ``arena eval`` reports.

Each curve is a list of points ``LABEL=PATH`` where PATH is an ``eval.json`` (or the folder
holding it) written by ``arena eval``; the x axis is the order given (nights, or training
budgets). One PNG per metric, with the 95% interval as a band:

* ``accuracy``: argmax optimal-move accuracy on the dev set (Wilson interval);
* ``score_vs_<opponent>``: score in seat-swapped pairs (Wilson interval over games);
* ``exploitability``: poker (exact; no band).

Example::

    python scripts/learning_plots.py --out docs/learning --name ttt_sft \\
        base=runs/eval-base 200steps=runs/eval-a 600steps=runs/eval-b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(path: str) -> dict:
    p = Path(path)
    return json.loads((p / "eval.json" if p.is_dir() else p).read_text())


def series(reports: list[dict]) -> dict[str, list[tuple[float, float, float] | None]]:
    """metric -> per point (value, low, high), None where a report lacks the metric."""
    out: dict[str, list] = {}
    for i, report in enumerate(reports):
        dev = report["devset"]
        entries = {}
        if "accuracy" in dev:
            entries["accuracy"] = (dev["accuracy"], *dev["ci95"])
        if dev.get("policy_mass_on_optimal") is not None:
            mass = dev["policy_mass_on_optimal"]
            entries["policy_mass_on_optimal"] = (mass, mass, mass)
        if "exploitability" in dev:
            value = dev["exploitability"]
            entries["exploitability"] = (value, value, value)
        for opp in report.get("opponents", []):
            entries[f"score_vs_{opp['opponent']}"] = (opp["score"], *opp["score_ci95"])
        for key, value in entries.items():
            out.setdefault(key, [None] * len(reports))[i] = value
    return out


def plot(labels: list[str], data: dict, out: Path, name: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, points in data.items():
        xs = [i for i, p in enumerate(points) if p is not None]
        if len(xs) < 2:
            continue
        vals = [points[i] for i in xs]
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
        ax.plot(xs, [v[0] for v in vals], marker="o")
        ax.fill_between(xs, [v[1] for v in vals], [v[2] for v in vals], alpha=0.25, label="95% CI")
        ax.set_xticks(range(len(labels)), labels, rotation=20)
        ax.set_ylabel(metric)
        ax.set_title(f"{name}: {metric}")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = out / f"{name}_{metric.replace(':', '')}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("points", nargs="+", help="LABEL=PATH (eval.json or its folder)")
    parser.add_argument("--out", default="docs/learning", help="folder for the PNGs")
    parser.add_argument("--name", required=True, help="file name prefix of the plots")
    args = parser.parse_args(argv)
    labels, reports = [], []
    for point in args.points:
        label, sep, path = point.partition("=")
        if not sep:
            parser.error(f"expected LABEL=PATH, got '{point}'")
        labels.append(label)
        reports.append(load(path))
    for path in plot(labels, series(reports), Path(args.out), args.name):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
