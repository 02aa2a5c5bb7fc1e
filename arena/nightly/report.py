"""The night's report: ``nights/<night>/report.md`` (people), ``report.json`` and
``manifest.json`` (machines): per game and stage its time, dataset sizes, the decision and the
numbers behind it, the regression check and the rating snapshot; the resolved configuration
and the environment in the manifest. ``report.json`` also keeps the registry's history as of
the night's end, from which ``arena registry rebuild`` restores a lost registry."""

from __future__ import annotations

import re
from pathlib import Path

from arena.execution.session import environment
from arena.nightly.results import (
    DatasetsResult,
    DecideResult,
    DevScore,
    EvalResult,
    GateResult,
    PlanResult,
    RegressionResult,
    Result,
    SelfplayResult,
    TournamentResult,
    TrainResult,
)
from arena.registry.rebuild import history_for_report
from arena.reporting.markdown import render
from arena.reporting.tables import ratings_table
from games.files import atomic_write, json_safe, write_json


def stage_summary(stage: str, r: Result | None) -> str:
    """One line of numbers per stage (the markdown table and the terminal)."""
    if r is None:
        return ""
    if getattr(r, "skipped", None):
        return f"skipped: {r.skipped}"
    if isinstance(r, PlanResult):
        trains = [k for k in ("sft", "prefs") if getattr(r, k)]
        return f"champion {r.champion}, train on {'+'.join(trains) or 'nothing'}" + (
            f"; {'; '.join(r.notes)}" if r.notes else ""
        )
    if isinstance(r, SelfplayResult):
        return f"{r.games} games ({r.played} played now, {r.games_per_s} games/s)"
    if isinstance(r, DatasetsResult):
        parts = []
        for k in ("sft", "prefs"):
            v = getattr(r, k)
            if v is None:
                continue
            parts.append(f"{k}: {v.train} train / {v.heldout} held out")
            if v.replay:
                m = v.replay
                old = ", ".join(f"{n} from {night}" for night, n in m.replayed.items())
                parts[-1] += f" + replay ({old or 'nothing earlier'}) = {m.rows} rows"
        return "; ".join(parts + list(r.no_data or ()))
    if isinstance(r, TrainResult):
        runs = ", ".join(
            f"{x.kind} {x.steps} steps loss {_num(x.first_loss)}->{_num(x.final_loss)}"
            for x in r.runs
        )
        return f"{runs}; {r.version or r.rejected}"
    if isinstance(r, EvalResult):
        return "; ".join(eval_summary(e) for _, e in r.scores())
    if isinstance(r, GateResult) and r.exploitability:
        return f"{r.decision} by exploitability: {r.reason}"
    if isinstance(r, GateResult):
        g = r.sprt
        return (
            f"{g.decision} after {g.pairs} pairs: score {g.score:.3f} "
            f"[{g.ci[0]:.3f}, {g.ci[1]:.3f}], LLR {g.llr:.2f} in "
            f"({g.bounds[0]:.2f}, {g.bounds[1]:.2f})"
        )
    if isinstance(r, DecideResult):
        return f"{r.decision}: {r.reason}; champion {r.champion}"
    if isinstance(r, RegressionResult):
        verdict = "ROLLED BACK" if r.rolled_back else "ok"
        return f"{verdict}: {r.reason}"
    if isinstance(r, TournamentResult):
        return f"{len(r.players)} players, {len(r.leaderboard)} rated"
    return ""


def eval_summary(e: DevScore) -> str:
    """``v1 optimal_move_accuracy 0.595 [0.526, 0.661], vs random 0.700 [0.640, 0.760]``;
    poker (exploitability) adds the mean chips per game, ``chips/game +0.125 [-0.050, +0.300]``."""
    text = f"{e.version} {e.metric} {e.value:.3f}{_ci(e.ci95)}"
    for o in e.opponents:
        text += f", vs {o.opponent} {o.score:.3f}{_ci(o.score_ci95)}"
        if e.metric == "exploitability" and o.mean_return is not None:
            text += f" chips/game {o.mean_return:+.3f}{_ci(o.mean_return_ci95, '+')}"
    return text


def _ci(ci, sign: str = "") -> str:
    return "" if not ci else f" [{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def history_plots(registry, folder: Path) -> dict[str, list[str]]:
    """One rating-history PNG per (game, base) with snapshots, beside the report; returns the
    file names per game (the report embeds them)."""
    from arena.registry.view import RatingPoint
    from arena.reporting.plots import rating_history_png

    plots: dict[str, list[str]] = {}
    for game, base in registry.keys():
        rows = registry.ratings(game, base)
        if not rows:
            continue
        points = [
            RatingPoint(r.night, r.player, r.rating, r.ci_low, r.ci_high, r.games, r.base)
            for r in rows
        ]
        name = "ratings-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{game}-{base}") + ".png"
        rating_history_png(points, folder / name, f"{game} (base {base}): ratings by night")
        plots.setdefault(game, []).append(name)
    return plots


def learning_curves(registry, night: str, folder: Path) -> dict[str, dict]:
    """Per game evaluated so far: the per-night table and one PNG per metric of the champion
    across every night up to ``night`` (``arena.reporting.curves``), beside the report."""
    from arena.registry.store import folder_name
    from arena.reporting.curves import (
        curve,
        devset_positions,
        night_table,
        plot_curve,
        registry_points,
    )

    out = {}
    for game in sorted({g for g, _ in registry.keys()}):
        points = registry_points(registry, game, until=night)
        if not points:
            continue
        positions = devset_positions(game)
        c = curve(points, positions)
        pngs = plot_curve(c, folder, f"curve-{folder_name(game)}", title=f"{game} champion")
        out[game] = {"table": night_table(points, positions), "plots": [p.name for p in pngs]}
    return out


def markdown(
    result, registry, plots: dict[str, list[str]] | None = None, curves: dict | None = None
) -> str:
    """``report.md`` (template ``arena/reporting/templates/night.md``): per game a line of
    numbers per stage, the champion, the rating snapshot, its history and learning curve."""
    games = []
    for game, stages in result.games.items():
        seconds = result.seconds.get(game) or {}
        tournament = stages.tournament
        games.append(
            {
                "name": game,
                "stages": [
                    (
                        stage,
                        "" if seconds.get(stage) is None else f"{seconds[stage]:.1f}",
                        stage_summary(stage, r),
                    )
                    for stage, r in stages.items()
                ],  # fmt: skip
                "champions": [
                    (key, registry.champion(game, key).version)
                    for key in {v.base for v in registry.versions(game)}
                ],
                "ratings": ratings_table(tournament.to_dict()["leaderboard"])
                if tournament and tournament.leaderboard
                else None,
                "plots": (plots or {}).get(game, []),
                "curve": (curves or {}).get(game),
            }
        )
    return render(
        "night.md", night=result.night, outcome=result.outcome, error=result.error,
        artifacts=result.artifacts, games=games,
    )  # fmt: skip


def write_report(result, registry, workspace, config) -> dict[str, str]:
    folder: Path = workspace.root / "nights" / result.night
    folder.mkdir(parents=True, exist_ok=True)
    if not result.artifacts:  # a finished night's report printed again: keep what it used
        result.artifacts = _previous(folder / "report.json").get("artifacts") or {}
    report = {
        "night": result.night,
        "outcome": result.outcome,
        "error": result.error,
        "games": {game: results.to_dict() for game, results in result.games.items()},
        "seconds": result.seconds,
        "artifacts": result.artifacts,
        "champions": [c.to_dict() for c in registry.champions()],
        # what `arena registry rebuild` needs should registry.sqlite be lost
        "registry": history_for_report(registry, result.night),
    }
    paths = {
        "report_md": str(folder / "report.md"),
        "report_json": str(folder / "report.json"),
        "manifest": str(folder / "manifest.json"),
    }
    write_json(Path(paths["report_json"]), json_safe(report))
    plots = history_plots(registry, folder)
    curves = learning_curves(registry, result.night, folder)
    atomic_write(Path(paths["report_md"]), markdown(result, registry, plots, curves))
    row = registry.night(result.night)
    write_json(
        Path(paths["manifest"]),
        {
            "kind": "night",
            "night": result.night,
            "config": json_safe(config.to_dict()),
            "status": row.status if row else None,
            "started_at": row.started_at if row else None,
            "finished_at": row.finished_at if row else None,
            "stages": [s.to_dict() for s in registry.stages(result.night)],
            "artifacts": result.artifacts,
            "environment": environment(),
        },
    )
    return paths


def _previous(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
