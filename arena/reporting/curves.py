"""Learning curves across nights: does every night make the champion better, and by how much?

The points come from what each night recorded (its eval, gate, decide and regression stages,
in the registry or in ``nights/ID/report.json``). The line is the champion after each night
(the first point: the champion the first night started from), with its 95% band; each night's
candidate is drawn beside it with its interval, promoted or not. Dev-set accuracy gets the
Wilson interval over the dev set's positions (Wilson 1927), scores the pairing interval of
``arena eval`` (pentanomial over seat-swapped pairs), poker's exploitability is exact (no band)
and poker also plots chips per game against each opponent.

Used by the night report (the curve so far), ``arena nightly --nights N``, the leaderboard
page and ``scripts/learning_plots.py``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from arena.nightly.results import DevScore, GateResult, NightResults, read_result
from games.files import atomic_write

Point = tuple[float, float, float]  # value, low, high (equal for exact metrics)


@dataclass(frozen=True)
class NightPoint:
    """One night of one game: the candidate, the champion before and after, the verdict."""

    night: str
    candidate: DevScore
    before: DevScore
    after: DevScore
    gate: GateResult
    promoted: bool
    rolled_back: bool


def night_point(night: str, stages: NightResults) -> NightPoint | None:
    """The point of one night from its stage results (None: no candidate was evaluated)."""
    ev = stages.eval
    if ev is None or ev.candidate is None:
        return None
    decided = stages.decide is not None and stages.decide.decision == "promoted"
    rolled = bool(stages.regression and stages.regression.rolled_back)
    promoted = decided and not rolled
    return NightPoint(
        night=night,
        candidate=ev.candidate,
        before=ev.champion,
        after=ev.candidate if promoted else ev.champion,
        gate=stages.gate or GateResult(),
        promoted=promoted,
        rolled_back=rolled,
    )


def registry_points(registry, game: str, until: str | None = None) -> list[NightPoint]:
    """Every evaluated night of ``game`` in the order the nights started (up to ``until``)."""
    return night_points(((n, registry.stages(n.night)) for n in registry.nights()), game, until)


def night_points(nights_with_stages, game: str, until: str | None = None) -> list[NightPoint]:
    """``registry_points`` from (night row, its stage rows) pairs, oldest first (what a
    registry or the server's read-only ``RegistryView.nights_with_stages`` gives)."""
    points = []
    for row, rows in nights_with_stages:
        stages = NightResults()
        for s in rows:
            if s.game == game and s.result is not None:
                where = f"night {row.night} {game} stage {s.stage}"
                stages.set(s.stage, read_result(s.stage, s.result, where))
        point = night_point(row.night, stages)
        if point is not None:
            points.append(point)
        if row.night == until:
            break
    return points


def devset_positions(game: str) -> int | None:
    """Positions in ``game``'s dev set (None for poker, whose dev set is every info state)."""
    from training.devsets import load_devset

    rows, _ = load_devset(game)
    return len(rows) if isinstance(rows, list) else None


def entry_metrics(entry: DevScore, positions: int | None) -> dict[str, Point]:
    """metric -> (value, low, high) of one evaluated version (``devset_score``)."""
    from ratings import wilson_interval

    value = entry.value
    if entry.metric == "exploitability" or not (positions or entry.ci95):
        out = {entry.metric: (value, value, value)}  # exact: no band
    elif entry.ci95:  # the interval the evaluation itself reported
        out = {"accuracy": (value, *entry.ci95)}
    else:
        out = {"accuracy": (value, *wilson_interval(round(value * positions), positions))}
    for o in entry.opponents:
        name = o.opponent.replace(":", "")
        out[f"score_vs_{name}"] = (o.score, *o.score_ci95)
        if entry.metric == "exploitability" and o.mean_return_ci95:
            out[f"chips_vs_{name}"] = (o.mean_return, *o.mean_return_ci95)
    return out


@dataclass(frozen=True)
class Curve:
    """x labels; the champion's series (one point more than nights) and the candidates'."""

    labels: list[str]
    champion: dict[str, list[Point | None]]
    candidates: dict[str, list[Point | None]]


def curve(points: list[NightPoint], positions: int | None) -> Curve:
    labels = [f"start ({points[0].before.version})"] + [p.night for p in points]
    champ = [entry_metrics(points[0].before, positions)]
    champ += [entry_metrics(p.after, positions) for p in points]
    cands = [None] + [entry_metrics(p.candidate, positions) for p in points]
    metrics = list(champ[0])
    as_series = lambda rows: {m: [r.get(m) if r else None for r in rows] for m in metrics}  # noqa: E731
    return Curve(labels, as_series(champ), as_series(cands))


def fmt_point(point: Point | None) -> str:
    if point is None:
        return "-"
    value, low, high = point
    return f"{value:.3f}" if low == high == value else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def night_rows(points: list[NightPoint], positions: int | None) -> list[list[str]]:
    """The per-night table as rows of cells, the header first: night, candidate, each metric
    [95% CI], gate, promoted?, champion after (the markdown table and the leaderboard page)."""
    first = entry_metrics(points[0].candidate, positions)
    poker = points[0].candidate.metric == "exploitability"
    shown = [m for m in first if not (poker and m.startswith("score_vs_"))]  # chips, not wins
    rows = [["night", "candidate", *shown, "gate", "promoted?", "champion after"]]
    start = entry_metrics(points[0].before, positions)
    row = [f"(start) {points[0].before.version}", "-", *[fmt_point(start.get(m)) for m in shown]]
    rows.append(row + ["-", "-", points[0].before.version])
    for p in points:
        got = entry_metrics(p.candidate, positions)
        verdict = p.gate.decision or "-"
        if p.gate.sprt:
            g = p.gate.sprt
            verdict += f" ({g.pairs} pairs, {fmt_point((g.score, *g.ci))})"
        promoted = "yes" if p.promoted else ("rolled back" if p.rolled_back else "no")
        cells = [p.night, p.candidate.version, *[fmt_point(got.get(m)) for m in shown]]
        rows.append(cells + [verdict, promoted, p.after.version])
    return rows


def night_table(points: list[NightPoint], positions: int | None) -> str:
    """``night_rows`` as a markdown table."""
    head, *rows = night_rows(points, positions)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _present(points: list) -> tuple[list[int], list]:
    """The x positions and values of the points that exist (None: the metric is missing)."""
    xs = [i for i, p in enumerate(points) if p is not None]
    return xs, [points[i] for i in xs]


def style_axes(fig, ax, labels, metric: str, title: str, fontsize: int) -> None:
    """Ticks, labels, grid and legend every curve shares."""
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=fontsize)
    fig.tight_layout()


def finish_axes(plt, fig, ax, labels, metric: str, title: str, path: Path, fontsize: int) -> Path:
    """``style_axes``, then write ``path`` (PNG or SVG by its suffix)."""
    style_axes(fig, ax, labels, metric, title, fontsize)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())


def curve_figures(c: Curve, title: str) -> list[tuple[str, object]]:
    """One matplotlib figure per metric: the champion's line with its band and the candidates
    with their intervals. Metrics with fewer than two points are skipped. The caller saves and
    closes them (``plot_curve`` as files, the leaderboard page as inline SVG)."""
    plt = _pyplot()
    figures = []
    for metric, points in c.champion.items():
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
        cx, cv = _present(c.candidates.get(metric, []))
        if cx:
            err = [[v[0] - v[1] for v in cv], [v[2] - v[0] for v in cv]]
            label = "candidate" + ("" if exact else " (95% CI)")
            ax.errorbar([x + 0.08 for x in cx], [v[0] for v in cv], yerr=err, fmt="s", ms=4,
                        capsize=3, alpha=0.7, label=label)  # fmt: skip
        style_axes(fig, ax, c.labels, metric, f"{title}: {metric} by night", 7)
        figures.append((metric, fig))
    return figures


def plot_curve(
    c: Curve, out: Path, name: str, suffix: str = ".png", title: str | None = None
) -> list[Path]:
    """One picture per metric (``out/NAME_METRIC.png``), from ``curve_figures``."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for metric, fig in curve_figures(c, title or name):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix.lstrip("."))
        plt.close(fig)
        written.append(atomic_write(out / f"{name}_{metric}{suffix}", buffer.getvalue()))
    return written
