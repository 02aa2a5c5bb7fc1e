"""`arena leaderboard` (table, json, csv), the plots, and the night report's rating-history PNG."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from arena.cli import main
from arena.nightly.report import history_plots
from arena.registry.store import Registry
from arena.registry.view import RatingPoint
from arena.reporting.leaderboard import build_leaderboard, player_label
from arena.reporting.plots import history_figure, matrix_figure, ratings_figure, to_svg
from games.records import SeatRecord
from games.workspace import Workspace

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path) -> np.ndarray:
    """The decoded RGB pixels (height x width x 3, floats in [0, 1]) of a plot's PNG."""
    import matplotlib.image

    assert path.read_bytes().startswith(PNG_MAGIC)
    return matplotlib.image.imread(path)[..., :3]


def drawn_in(image: np.ndarray, color: str) -> tuple[np.ndarray, np.ndarray]:
    """Column and row of every pixel of ``color`` (a matplotlib colour: ``C0`` is the first
    line's), left of the legend (which sits right of the axes, in the last fifth)."""
    import matplotlib.colors

    target = np.array(matplotlib.colors.to_rgb(color))
    rows, cols = np.nonzero(np.abs(image - target).max(axis=2) < 0.05)
    keep = cols < 0.8 * image.shape[1]
    return cols[keep], rows[keep]


def test_player_label_names_the_version_that_played():
    assert player_label(SeatRecord("llm:/data/base/small@champion", "v3")) == "llm:small@v3"
    assert (
        player_label(SeatRecord("llm:tiny@v2,temperature=0", "v2")) == "llm:tiny@v2,temperature=0"
    )
    assert player_label(SeatRecord("mcts:50")) == "mcts:50"


def test_leaderboard_formats_from_real_match_logs(tmp_path, capsys, server_kit):
    workspace = Workspace(tmp_path / "ws")
    games = server_kit.write_scripted_logs(workspace, pairs=2)
    base = ["--workspace", str(workspace.root), "leaderboard", "--game", "tic_tac_toe"]
    assert main([*base, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(r["games"] for r in data["ratings"]) == 2 * games
    assert {r["player"] for r in data["ratings"]} == {"random", "mcts:10", "solver"}
    assert main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["player"] for r in rows] == [r["player"] for r in data["ratings"]]
    assert all(float(r["ci_low"]) <= float(r["rating"]) <= float(r["ci_high"]) for r in rows)
    png = tmp_path / "h.png"
    server_kit.snapshot(workspace, "tic_tac_toe", "night-1")
    assert main([*base, "--history-png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "solver" in out
    image = read_png(png)  # one night's snapshot: a point per player, each in its own colour
    assert image.shape[0] > 250 and image.shape[1] > 600 and image.std() > 0.05
    for color in ("C0", "C1", "C2"):
        assert len(drawn_in(image, color)[0]) > 20, color
    assert main([*base[:-1], "no_such_game"]) == 2
    assert "unknown game" in capsys.readouterr().err


def test_unreadable_logs_are_listed_not_skipped_silently(tmp_path, server_kit):
    workspace = Workspace(tmp_path / "ws")
    server_kit.write_scripted_logs(workspace, pairs=1)
    bad = workspace.matches("broken") / "m.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema_version": 1}\n')
    board = build_leaderboard(workspace, "tic_tac_toe", bootstrap=0)
    assert len(board.ratings) == 3
    (reason,) = board.sources["unreadable"]
    assert reason.startswith("matches/broken/m.jsonl") and "missing field" in reason


def test_plots_are_svg_without_external_fetches():
    ratings = [
        {"player": "a", "rating": 1050.0, "ci_low": 1000.0, "ci_high": 1100.0, "rank": 1},
        {"player": "b", "rating": 950.0, "ci_low": 900.0, "ci_high": 1000.0, "rank": 2},
    ]
    points = [RatingPoint(f"n{i}", p, 1000 + i, 990, 1010) for i in range(3) for p in "ab"]
    for svg in (
        to_svg(ratings_figure(ratings)),
        to_svg(history_figure(points)),
        to_svg(matrix_figure(["a", "b"], [[None, 0.7], [0.3, None]], [[0, 10], [10, 0]])),
    ):
        assert svg.startswith("<svg") and svg.count("<path") > 5
        assert 'href="http' not in svg and "<metadata>" not in svg
    assert "no rated games" in to_svg(ratings_figure([]))


@pytest.mark.parametrize("nights", [1, 3])
def test_night_report_rating_history_png(tmp_path, nights):
    with Registry.open(tmp_path / "registry.sqlite") as reg:
        reg.init_base("tic_tac_toe", "tiny", actor="test")
        for n in range(nights):
            rows = [
                {"player": p, "rank": 1, "rating": 1000.0 + s * n, "ci_low": 950.0 + s * n,
                 "ci_high": 1050.0 + s * n, "games": 10, "score": 0.5}
                for p, s in (("llm:tiny@v0", 10), ("random", -10))
            ]  # fmt: skip
            reg.snapshot_ratings(f"n{n}", "tic_tac_toe", "tiny", rows)
        plots = history_plots(reg, tmp_path)
    (name,) = plots["tic_tac_toe"]
    image = read_png(tmp_path / name)
    assert image.shape[0] > 250 and image.shape[1] > 600 and image.std() > 0.05
    if nights == 1:
        return
    # the model's line (the first colour) climbs, random's falls: rows count downwards
    for color, direction in (("C0", -1), ("C1", 1)):
        cols, rows = drawn_in(image, color)
        assert len(cols) > 200 and np.corrcoef(cols, rows)[0, 1] * direction > 0.5, color


def test_tournament_history_reads_both_interval_namings(tmp_path):
    """Tournament summaries written before the interval names were unified carry
    ``"ci": [low, high]``; newer ones ``ci_low``/``ci_high`` (as every rating table)."""
    import os

    from arena.reporting.leaderboard import tournament_history
    from arena.reporting.tables import ratings_table

    workspace = Workspace(tmp_path / "ws")
    old = {"player": "a", "rating": 1010.0, "ci": [980.0, 1040.0], "rank": 1, "games": 8}
    new = {"player": "a", "rating": 1020.0, "ci_low": 990.0, "ci_high": 1050.0, "rank": 1,
           "games": 8, "score": 0.6}  # fmt: skip
    for when, (run, row) in enumerate((("t-old", old), ("t-new", new))):
        path = workspace.root / "runs" / run / "summary.json"
        path.parent.mkdir(parents=True)
        summary = {"config": {"game": "tic_tac_toe"}, "leaderboard": {"ratings": [row]}}
        path.write_text(json.dumps(summary))
        os.utime(path, (1000 + when, 1000 + when))
    points = tournament_history(workspace, "tic_tac_toe")
    assert [(p.night, p.ci_low, p.ci_high) for p in points] == [
        ("t-old", 980.0, 1040.0), ("t-new", 990.0, 1050.0)
    ]  # fmt: skip
    assert ratings_table([new]).splitlines()[-1].split() == ["1", "a", "1020", "[990,", "1050]",
                                                            "8", "0.600"]  # fmt: skip
