"""Leaderboard pictures drawn on the server with matplotlib: SVG for pages, PNG for reports.

No page loads a plotting library or anything else from outside the machine: the SVG is
inline in the HTML. Three pictures:

- ``ratings_figure``: each player's Bradley-Terry rating with its 95% interval as a bar;
- ``history_figure``: each player's rating across nights as a line with its interval as a band
  (``rating_history_png`` writes it for the night reports);
- ``matrix_figure``: the head-to-head score matrix (row player's points per game vs column).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

from arena.registry.view import RatingPoint  # noqa: E402
from games.files import atomic_write

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9})


def to_svg(fig) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no external references)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"^.*?(<svg)", r"\1", text, count=1, flags=re.S)
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def to_png(fig, path: str | Path, dpi: int = 100) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())  # never a half-written PNG


def _empty(title: str, message: str):
    fig, ax = plt.subplots(figsize=(6, 1.4))
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666")
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def ratings_figure(ratings: Sequence[dict], title: str = "Bradley-Terry ratings"):
    """Horizontal interval bars, best player on top; ``ratings``: ``PlayerRating.to_dict()``."""
    if not ratings:
        return _empty(title, "no rated games yet")
    rows = list(reversed(ratings))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    y = range(len(rows))
    values = [r["rating"] for r in rows]
    lo = [r["rating"] - r["ci_low"] for r in rows]
    hi = [r["ci_high"] - r["rating"] for r in rows]
    ax.errorbar(values, y, xerr=[lo, hi], fmt="o", color="#1f5fa8", ecolor="#7aa6d8", capsize=4)
    ax.set_yticks(list(y), [f"#{r['rank']} {r['player']}" for r in rows])
    ax.set_xlabel("Elo (95% bootstrap interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def history_figure(points: Sequence[RatingPoint], title: str = "Rating history"):
    """One line per player across snapshots (nights), with its interval as a band."""
    if not points:
        return _empty(title, "no rating snapshots yet (arena nightly writes one per night)")
    nights = list(dict.fromkeys(p.night for p in points))
    x = {night: i for i, night in enumerate(nights)}
    fig, ax = plt.subplots(figsize=(7, 3.4))
    players = list(dict.fromkeys(p.player for p in points))
    for player in players:
        mine = sorted((p for p in points if p.player == player), key=lambda p: x[p.night])
        xs = [x[p.night] for p in mine]
        (line,) = ax.plot(xs, [p.rating for p in mine], marker="o", label=player)
        ax.fill_between(
            xs,
            [p.ci_low for p in mine],
            [p.ci_high for p in mine],
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_xticks(range(len(nights)), nights, rotation=30, ha="right")
    ax.set_ylabel("Elo (95% band)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def matrix_figure(
    players: Sequence[str],
    score: Sequence[Sequence[float | None]],
    games: Sequence[Sequence[int]],
    title: str = "Head-to-head score (row vs column)",
):
    """Heat map of points per game of the row player against the column player."""
    if len(players) < 2:
        return _empty(title, "needs two players or more")
    import numpy as np

    n = len(players)
    grid = np.array([[np.nan if v is None else v for v in row] for row in score], dtype=float)
    fig, ax = plt.subplots(figsize=(1.1 * n + 2.5, 0.8 * n + 1.5))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if score[i][j] is not None:
                ax.text(j, i, f"{score[i][j]:.2f}\n({games[i][j]})", ha="center", va="center",
                        fontsize=7)  # fmt: skip
    ax.set_xticks(range(n), players, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(n), players, fontsize=7)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="score")
    return fig


def rating_history_png(points: Sequence[RatingPoint], path: str | Path, title: str = "") -> Path:
    """Write the rating-history plot as a PNG (the night reports embed it)."""
    return to_png(history_figure(points, title or "Rating history"), path)
