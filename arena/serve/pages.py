"""HTML pages: play, the leaderboard per game, a page per adapter version, gate reports.

Pages are Jinja2 templates rendered on the server; plots are inline SVG from
``arena.reporting.plots``, and the only script is the app's own ``static/play.js``: nothing is
fetched from outside.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from arena.reporting import plots
from arena.serve.opponents import NotFound
from arena.serve.public import scrub

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _render(request: Request, name: str, **context) -> HTMLResponse:
    app = request.app.state.arena
    base = app.pool.base_key  # the base's name, never its folder
    return templates.TemplateResponse(request, name, {"games": app.games, "base": base, **context})


@router.get("/", response_class=HTMLResponse)
def play_page(request: Request):
    return _render(request, "play.html")


@router.get("/leaderboard")
def leaderboard_first(request: Request):
    return RedirectResponse(f"/leaderboard/{request.app.state.arena.games[0]}")


@router.get("/leaderboard/{game}", response_class=HTMLResponse)
def leaderboard_page(request: Request, game: str):
    app = request.app.state.arena
    app.check_game(game)
    board = app.leaderboard(game)
    players, score, games = board.matrix()
    curve_svgs, curve_rows = app.learning_curve(game)
    return _render(
        request,
        "leaderboard.html",
        game=game,
        board=board,
        sources=scrub(board.sources, app.workspace.root),
        note=scrub(board.note, app.workspace.root),
        history_source=scrub(board.history_source, app.workspace.root),
        ratings_svg=plots.to_svg(plots.ratings_figure(board.ratings)),
        history_svg=plots.to_svg(plots.history_figure(board.history)),
        matrix_svg=plots.to_svg(plots.matrix_figure(players, score, games)),
        champion=app.pool.champion_version(game),
        curve_svgs=curve_svgs,
        curve_rows=curve_rows,
    )


@router.get("/versions/{game}/{version}", response_class=HTMLResponse)
def version_page(request: Request, game: str, version: str):
    info = request.app.state.arena.version_info(game, version)
    return _render(request, "version.html", info=info, dumps=_dumps)


@router.get("/reports/gate/{gate_id}", response_class=HTMLResponse)
def gate_report(request: Request, gate_id: int):
    app = request.app.state.arena
    report = app.registry.gate_report(gate_id)
    if report is None:
        raise NotFound(f"no gate decision {gate_id}")
    return _render(request, "report.html", report=scrub(report, app.workspace.root), dumps=_dumps)


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
