"""The nightly's knobs for kuhn_poker and connect_four (LEARNING.md section 5): the
exploitability gate, chips per game with their interval in the night report, and the
experiment configs under configs/ that reproduce the curves."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest

from arena.cli import main
from arena.nightly.config import parse_config
from arena.nightly.decisions import exploitability_gate
from arena.nightly.report import stage_summary
from arena.nightly.results import (
    DevScore,
    EvalResult,
    NightResults,
    OpponentScore,
    PlanResult,
    TrainResult,
)
from arena.nightly.stages import OPPONENT_KEYS, stage_gate


def _score(version: str, value: float, metric: str = "exploitability", **extra) -> DevScore:
    data = {"version": version, "metric": metric, "value": value, **extra}
    return DevScore.from_dict({**data, "higher_is_better": metric != "exploitability"})


def test_exploitability_gate_needs_the_margin():
    champ = _score("v1", 0.120)
    accepted = exploitability_gate(_score("v2", 0.100), champ, 0.005)
    assert accepted.decision == "accept" and "v1" in accepted.reason
    assert exploitability_gate(_score("v2", 0.118), champ, 0.005).decision == "reject"
    assert exploitability_gate(_score("v2", 0.130), champ, 0.0).decision == "reject"
    assert exploitability_gate(_score("v2", 0.120), champ, 0.0).decision == "accept"


def _night(text: str, game: str, candidate: DevScore, champion: DevScore):
    said = []
    plan = PlanResult(champion.version, None, True, False, (), 0)
    gn = SimpleNamespace(
        config=parse_config(text),
        game=game,
        results=NightResults(
            plan=plan,
            train=TrainResult(runs=(), version=candidate.version),
            eval=EvalResult(candidate=candidate, champion=champion),
        ),
        say=said.append,
    )
    return gn, said


def test_the_night_gates_poker_by_exploitability_when_asked():
    text = "[night]\ngames = ['kuhn_poker']\n[gate]\nby = 'exploitability'\n"
    gn, said = _night(text, "kuhn_poker", _score("v2", 0.05), _score("v1", 0.30))
    result = stage_gate(gn)
    report = result.to_dict()
    assert report["by"] == "exploitability" and report["decision"] == "accept"
    assert report["candidate"] == 0.05 and report["champion"] == 0.30 and said
    assert "accept by exploitability" in stage_summary("gate", result)


def test_gate_section_errors_are_one_line(tmp_path, capsys):
    cases = {
        "[gate]\nby = 'vibes'": "by must be one of games, exploitability",
        "[gate]\nexploitability_margin = 2.0": "exploitability_margin must be in [0, 1)",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        assert main(["--workspace", str(tmp_path / "ws"), "nightly", "--config", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert parse_config("").gating.by == "games"  # the default gate plays games


def test_eval_summary_shows_chips_with_their_interval_for_poker_only():
    opp = {"opponent": "solver", "games": 400, "score": 0.52, "score_ci95": [0.48, 0.56],
           "mean_return": -0.041, "mean_return_ci95": [-0.12, 0.038]}  # fmt: skip
    poker = stage_summary("eval", EvalResult(candidate=_score("v2", 0.031, opponents=[opp])))
    assert (
        "chips/game -0.041 [-0.120, +0.038]" in poker and "vs solver 0.520 [0.480, 0.560]" in poker
    )
    board = _score("v2", 0.6, metric="optimal_move_accuracy", opponents=[opp])
    assert "chips" not in stage_summary("eval", EvalResult(candidate=board))


def test_eval_reports_every_field_the_night_keeps():
    from training.evaluate import evaluate

    report = evaluate("kuhn_poker", "random", opponents=("solver",), pairs=4, seed=1)
    entry = report["opponents"][0]
    assert set(OPPONENT_KEYS) <= set(entry)
    assert set(OPPONENT_KEYS) == {f.name for f in fields(OpponentScore)}  # the typed result
    low, high = entry["mean_return_ci95"]
    assert low <= entry["mean_return"] <= high


@pytest.mark.parametrize("name", sorted(p.name for p in Path("configs").glob("learning-*.toml")))
def test_learning_configs_parse(name):
    config = parse_config(Path("configs", name).read_text(), name)
    assert config.night.threads == 1 and config.eval_config(game="g", agent="a", out="o").pairs > 0
    if "kuhn" in name:
        assert config.gating.by == "exploitability"
        assert config.sft_data_config(inputs=(), out="o").dedup == "none"  # frequencies kept
        assert config.datasets.prefs == "never"  # DPO raised exploitability (LEARNING.md)
    if name in ("learning-ttt.toml", "learning-ttt-dpo.toml", "learning-kuhn.toml"):
        sft = config.sft_run_config(data="d", base="b", out="o")  # nights continue the champion
        assert config.datasets.sft == "always" and sft.continue_lr == 3e-4
    if "search" in name:  # expert iteration: the search over the champion is the only teacher
        d = config.datasets
        assert d.games == 0 and d.selfplay_sft and d.teacher.startswith("search:{champion}")
        assert config.prefs_data_config(inputs=("x",), out="o").method == "search"


def _report(night: str, cand: DevScore, champ: DevScore, promoted: bool) -> dict:
    gate = exploitability_gate(cand, champ, 0.0)
    decision = "promoted" if promoted else "rejected"
    return {
        "night": night,
        "games": {
            "kuhn_poker": {
                "eval": {"candidate": cand.to_dict(), "champion": champ.to_dict()},
                "gate": gate.to_dict(),
                "decide": {"decision": decision, "reason": "test", "champion": "v1"},
                "regression": {"rolled_back": False},
            }
        },
    }


def test_learning_plots_read_the_night_reports(tmp_path, capsys):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("learning_plots", "scripts/learning_plots.py")
    plots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plots)
    opp = {"opponent": "solver", "games": 400, "score": 0.5, "score_ci95": [0.45, 0.55],
           "mean_return": -0.1, "mean_return_ci95": [-0.2, 0.0]}  # fmt: skip
    v0, v1, v2 = (_score(v, x, opponents=[opp]) for v, x in (("v0", 0.5), ("v1", 0.1), ("v2", 0.2)))
    for night, report in (
        ("n1", _report("n1", v1, v0, True)),
        ("n2", _report("n2", v2, v1, False)),
    ):
        (tmp_path / "ws" / "nights" / night).mkdir(parents=True)
        (tmp_path / "ws" / "nights" / night / "report.json").write_text(json.dumps(report))
    argv = ["--name", "k", "--out", str(tmp_path / "png"), "--workspace", str(tmp_path / "ws"),
            "--game", "kuhn_poker", "--nights", "n1", "n2", "--table"]  # fmt: skip
    assert plots.main(argv) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "png" / "k_exploitability.png").is_file()
    assert (tmp_path / "png" / "k_chips_vs_solver.png").is_file()
    rows = [line for line in out.splitlines() if line.startswith(("| n1 ", "| n2 "))]
    assert rows[0].split(" | ")[1:3] == ["v1", "0.100"] and "| yes | v1 |" in rows[0]
    assert "| reject | no | v1 |" in rows[1] and "-0.100 [-0.200, 0.000]" in rows[1]
    with pytest.raises(SystemExit):
        plots.main(["--name", "k", "--workspace", str(tmp_path / "ws"), "--nights", "n9"])
