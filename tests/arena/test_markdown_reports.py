"""The markdown reports rendered from Jinja2 templates (arena/reporting/templates/): the gate
and tournament reports from fixed numbers, an undefined name fails, and the templates ship with
the package (pyproject's package-data)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import jinja2
import pytest

from arena.execution.driver import RunStats
from arena.reporting.markdown import TEMPLATES, render
from arena.runs.gate import GateRunConfig, GateRunResult, SequentialGate
from arena.runs.tournament import TournamentConfig, TournamentResult, _report
from ratings import GateConfig


def _gate(
    candidate: str, counts: list[int], max_pairs: int | None = None, champion: str = "solver"
) -> GateRunResult:
    config = GateRunConfig(
        game="tic_tac_toe", candidate=candidate, champion=champion,
        gate=GateConfig(min_pairs=10, max_pairs=40),
    )  # fmt: skip
    gate = SequentialGate(config.gate_config(max_pairs))
    gate.add([k / 2 for k, n in enumerate(counts) for _ in range(n)])
    return GateRunResult("g1", config, gate, 40, RunStats())


def test_the_gate_report_shows_the_decision_and_every_statistic():
    run = _gate("random", [0, 0, 0, 0, 40])
    text, n = run.markdown(), run.gate.result.pairs
    lines = text.splitlines()
    assert lines[0] == "# Gate g1: **ACCEPT**" and text.endswith(" |\n") and 10 < n < 40
    assert "`random` (candidate) vs `solver` (champion) on `tic_tac_toe`." in lines
    assert f"| pairs decided on | {n} (played 40) |" in lines  # where the SPRT stopped
    assert f"| pentanomial 0/½/1/1½/2 | 0/0/0/0/{n} |" in lines
    assert "| Elo | +inf [" in text and "| alpha / beta | 0.05 / 0.05 |" in lines
    assert "| min / max pairs | 10 / 40 |" in lines and "deterministic" not in text
    # LLMs play argmax on tic_tac_toe: deterministic, one pair per distinct opening
    deterministic = _gate("llm:tiny@v2", [4, 3, 20, 3, 4], 33, "llm:tiny@v1").markdown()
    assert "`llm:tiny@v2,temperature=0` (candidate)" in deterministic
    assert deterministic.splitlines()[-1] == (
        "| deterministic players | yes: one pair per distinct opening (33 available) |"
    )


def test_the_tournament_report_has_the_ratings_only_with_three_players_or_more():
    config = TournamentConfig(game="tic_tac_toe", players=("random", "solver"), pairs=3)
    entry = {"player": "random", "opponent": "solver", "games": 6, "wins": 0, "draws": 1,
             "losses": 5, "score": 1 / 12, "pentanomial": [2, 1, 0, 0, 0]}  # fmt: skip
    result = TournamentResult("t1", config, [entry], None, RunStats(scheduled=6, resumed=2))
    text = _report(result)
    assert text.startswith("# Tournament t1\n\nround-robin on `tic_tac_toe`, 3 seat-swapped ")
    assert "6 games (2 resumed from earlier sessions)" in text and "Bradley-Terry" not in text
    row = {"player": "solver", "rating": 1200.0, "ci_low": 1100.0, "ci_high": 1300.0, "rank": 1,
           "games": 6, "score": 0.9}  # fmt: skip
    result.leaderboard = {"ratings": [row]}
    rated = _report(result)
    assert rated.startswith(text.rstrip("\n")) and rated.endswith("```\n")
    assert "Bradley-Terry ratings (bootstrap 95% CI):" in rated and "[1100, 1300]" in rated


def test_an_undefined_name_fails_rather_than_printing_nothing():
    with pytest.raises(jinja2.UndefinedError):
        render("tournament.md", run_id="t1")


def test_the_templates_ship_with_the_package():
    data = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]["arena.reporting"]
    names = sorted(p.name for p in TEMPLATES.iterdir())
    assert names == ["gate.md", "night.md", "tournament.md"]
    assert all(any(fnmatch(f"templates/{n}", p) for p in patterns) for n in names)
