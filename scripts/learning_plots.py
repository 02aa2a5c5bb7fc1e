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

Across nights (``--nights``): the points are read from the night reports
(``WORKSPACE/nights/ID/report.json``, the eval, gate, decide and regression stages of
``arena nightly``). The line is the champion after each night (the first point: the champion
the first night started from), with its 95% band; the night's candidate is drawn beside it
with its interval, promoted or not. Dev-set accuracy gets the Wilson interval over the dev
set's positions, scores the pairing interval of ``arena eval``, and poker also plots chips per
game (``mean_return`` with its interval over pairs). ``--table`` prints the per-night table of
LEARNING.md (night, candidate, metric [95% CI], gate, promoted?)::

    python scripts/learning_plots.py --name kuhn --workspace W --game kuhn_poker \\
        --nights kuhn-n1 kuhn-n2 kuhn-n3 --table
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
    from arena.reporting.curves import _present, _pyplot, finish_axes

    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, points in data.items():
        xs, vals = _present(points)
        if len(xs) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
        ax.plot(xs, [v[0] for v in vals], marker="o")
        ax.fill_between(xs, [v[1] for v in vals], [v[2] for v in vals], alpha=0.25, label="95% CI")
        path = out / f"{name}_{metric.replace(':', '')}.png"
        written.append(finish_axes(plt, fig, ax, labels, metric, f"{name}: {metric}", path, 8))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("points", nargs="*", help="LABEL=PATH (eval.json or its folder)")
    parser.add_argument("--out", default="docs/learning", help="folder for the PNGs")
    parser.add_argument("--name", required=True, help="file name prefix of the plots")
    parser.add_argument("--nights", nargs="+", help="night ids (reads WORKSPACE/nights/ID)")
    parser.add_argument("--workspace", default="arena-data", help="with --nights")
    parser.add_argument("--game", help="with --nights: the game whose curve to draw")
    parser.add_argument("--table", action="store_true", help="with --nights: print the table")
    args = parser.parse_args(argv)
    if args.nights:
        if not args.game:
            parser.error("--nights needs --game")
        from arena.nightly.results import NightResults
        from arena.reporting.curves import (
            curve,
            devset_positions,
            night_point,
            night_table,
            plot_curve,
        )

        points = []
        for night in args.nights:
            path = Path(args.workspace, "nights", night, "report.json")
            if not path.is_file():
                parser.error(f"no night report at {path}")
            report = json.loads(path.read_text())
            stages = (report.get("games") or {}).get(args.game) or {}
            point = night_point(night, NightResults.from_dict(stages, f"{path} {args.game}"))
            if point is None:
                parser.error(f"{path}: no {args.game} candidate was evaluated that night")
            points.append(point)
        positions = devset_positions(args.game)
        for path in plot_curve(curve(points, positions), Path(args.out), args.name):
            print(path)
        if args.table:
            print(night_table(points, positions))
        return 0
    if not args.points:
        parser.error("give LABEL=PATH points, or --nights")
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
