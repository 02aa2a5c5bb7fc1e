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


def night_entries(report: dict, game: str) -> dict | None:
    """One night's eval entries of ``game``: candidate, champion before the night, champion
    after it (the candidate when promoted and not rolled back), and the gate's verdict."""
    stages = (report.get("games") or {}).get(game)
    if not stages or not isinstance(stages.get("eval"), dict) or "candidate" not in stages["eval"]:
        return None
    ev = stages["eval"]
    decided = (stages.get("decide") or {}).get("decision") == "promoted"
    rolled = bool((stages.get("regression") or {}).get("rolled_back"))
    return {
        "night": report["night"],
        "candidate": ev["candidate"],
        "before": ev["champion"],
        "after": ev["candidate"] if decided and not rolled else ev["champion"],
        "gate": stages.get("gate") or {},
        "promoted": decided and not rolled,
        "rolled_back": rolled,
    }


def entry_metrics(entry: dict, positions: int | None) -> dict[str, tuple[float, float, float]]:
    """metric -> (value, low, high) of one ``devset_score`` entry of a night report."""
    from ratings import wilson_interval

    value = entry["value"]
    if entry["metric"] == "exploitability" or not positions:
        out = {entry["metric"]: (value, value, value)}  # exact: no band
    else:
        out = {"accuracy": (value, *wilson_interval(round(value * positions), positions))}
    for o in entry.get("opponents") or []:
        name = o["opponent"].replace(":", "")
        out[f"score_vs_{name}"] = (o["score"], *o["score_ci95"])
        if entry["metric"] == "exploitability" and o.get("mean_return_ci95"):
            out[f"chips_vs_{name}"] = (o["mean_return"], *o["mean_return_ci95"])
    return out


def devset_positions(game: str) -> int | None:
    from training.devsets import load_devset

    rows, _ = load_devset(game)
    return len(rows) if isinstance(rows, list) else None


def night_series(nights: list[dict], positions: int | None):
    """x labels, the champion's series (one point more than nights) and the candidates'."""
    labels = [f"start ({nights[0]['before']['version']})"] + [n["night"] for n in nights]
    champ = [entry_metrics(nights[0]["before"], positions)]
    champ += [entry_metrics(n["after"], positions) for n in nights]
    cands = [None] + [entry_metrics(n["candidate"], positions) for n in nights]
    metrics = list(champ[0])
    as_series = lambda rows: {m: [r.get(m) if r else None for r in rows] for m in metrics}  # noqa: E731
    return labels, as_series(champ), as_series(cands)


def night_table(nights: list[dict], positions: int | None) -> str:
    """The per-night markdown table (LEARNING.md): every number from the night reports."""
    first = entry_metrics(nights[0]["candidate"], positions)
    poker = nights[0]["candidate"]["metric"] == "exploitability"
    shown = [m for m in first if not (poker and m.startswith("score_vs_"))]  # chips, not wins
    head = ["night", "candidate", *shown, "gate", "promoted?", "champion after"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    start = entry_metrics(nights[0]["before"], positions)
    row = [f"(start) {nights[0]['before']['version']}", "-", *[_fmt(start.get(m)) for m in shown]]
    lines.append("| " + " | ".join(row + ["-", "-", nights[0]["before"]["version"]]) + " |")
    for n in nights:
        got = entry_metrics(n["candidate"], positions)
        gate = n["gate"]
        verdict = gate.get("decision", "-")
        if gate.get("by") != "exploitability" and "score" in gate:
            verdict += f" ({gate['pairs']} pairs, {_fmt((gate['score'], *gate['ci']))})"
        promoted = "yes" if n["promoted"] else ("rolled back" if n["rolled_back"] else "no")
        cells = [n["night"], n["candidate"]["version"], *[_fmt(got.get(m)) for m in shown]]
        cells += [verdict, promoted, n["after"]["version"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(point) -> str:
    if point is None:
        return "-"
    value, low, high = point
    return f"{value:.3f}" if low == high == value else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _present(points: list) -> tuple[list[int], list]:
    """The x positions and values of the points a report has (None: the metric is missing)."""
    xs = [i for i, p in enumerate(points) if p is not None]
    return xs, [points[i] for i in xs]


def _save(plt, fig, ax, labels, metric: str, title: str, path: Path, fontsize: int) -> Path:
    """Ticks, labels, grid and legend shared by every plot, then write ``path``."""
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_nights(labels, champ: dict, cands: dict, out: Path, name: str) -> list[Path]:
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, points in champ.items():
        xs, vals = _present(points)
        if len(xs) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5.4, 3.4), dpi=110)
        exact = all(v[1] == v[0] == v[2] for v in vals)
        line = "champion after the night" + (" (exact)" if exact else "")
        ax.plot(xs, [v[0] for v in vals], marker="o", label=line)
        if not exact:
            ax.fill_between(xs, [v[1] for v in vals], [v[2] for v in vals], alpha=0.25,
                            label="95% CI")  # fmt: skip
        cx = [i for i, p in enumerate(cands.get(metric, [])) if p is not None]
        if cx:
            cv = [cands[metric][i] for i in cx]
            err = [[v[0] - v[1] for v in cv], [v[2] - v[0] for v in cv]]
            label = "candidate" + ("" if exact else " (95% CI)")
            ax.errorbar([x + 0.08 for x in cx], [v[0] for v in cv], yerr=err, fmt="s", ms=4,
                        capsize=3, alpha=0.7, label=label)  # fmt: skip
        title, path = f"{name}: {metric} by night", out / f"{name}_{metric}.png"
        written.append(_save(plt, fig, ax, labels, metric, title, path, fontsize=7))
    return written


def plot(labels: list[str], data: dict, out: Path, name: str) -> list[Path]:
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
        written.append(_save(plt, fig, ax, labels, metric, f"{name}: {metric}", path, fontsize=8))
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
        nights = []
        for night in args.nights:
            path = Path(args.workspace, "nights", night, "report.json")
            if not path.is_file():
                parser.error(f"no night report at {path}")
            entry = night_entries(json.loads(path.read_text()), args.game)
            if entry is None:
                parser.error(f"{path}: no {args.game} candidate was evaluated that night")
            nights.append(entry)
        positions = devset_positions(args.game)
        labels, champ, cands = night_series(nights, positions)
        for path in plot_nights(labels, champ, cands, Path(args.out), args.name):
            print(path)
        if args.table:
            print(night_table(nights, positions))
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
