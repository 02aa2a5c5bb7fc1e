"""The typed stage results of a night (arena/nightly/results.py): the JSON they write is the JSON
the nights wrote before (the committed night reports under docs/ read back and write the same
dicts), and a stored result of the wrong shape fails in one line naming the stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.nightly.report import stage_summary
from arena.nightly.results import (
    DecideResult,
    GateResult,
    NightResults,
    RegressionResult,
    read_result,
)
from arena.registry.store import Registry
from games import InputError
from games.files import json_safe

REPORTS = sorted(Path("docs").glob("**/nights/*/report.json"))


def test_committed_night_reports_read_back_typed_and_write_the_same_json():
    assert len(REPORTS) >= 8  # connect_four and kuhn_poker nights (LEARNING.md)
    seen = set()
    for path in REPORTS:
        for game, stages in json.loads(path.read_text())["games"].items():
            results = NightResults.from_dict(stages, f"{path} {game}")
            assert results.to_dict() == stages, path
            seen |= {type(r.gate.report).__name__ for r in [results] if r.gate}
            for stage, r in results.items():
                assert stage_summary(stage, r), (path, stage)  # every stage has its line
    assert seen == {"SprtGate", "ExploitabilityGate"}  # both kinds of gate are covered


def test_an_sprt_report_with_infinite_elo_reads_back_as_floats():
    stages = json.loads(next(p for p in REPORTS if "connect4" in str(p)).read_text())["games"]
    gate = dict(stages["connect_four"]["gate"], elo="inf", elo_ci=[12.5, "inf"])
    typed = GateResult.from_dict(gate)
    assert typed.sprt.elo == float("inf") and typed.sprt.elo_ci == (12.5, float("inf"))
    assert json_safe(typed.to_dict()) == gate


@pytest.mark.parametrize(
    ("stage", "data", "message"),
    [
        ("decide", {"decision": "promoted", "reason": "r", "champion": "v1", "colour": 1},
         "unknown key(s) ['colour']"),
        ("decide", {"decision": "maybe", "reason": "r", "champion": "v1"}, "must be one of"),
        ("decide", {"decision": "promoted", "reason": "r"}, "missing key 'champion'"),
        ("train", {"runs": [{"kind": "sft"}], "version": None}, "missing key 'out'"),
        ("eval", {"candidate": {"version": "v1", "metric": "m", "value": "high",
                                "higher_is_better": True}}, "value: expected float, got str"),
        ("gate", {"by": "exploitability", "decision": "accept"}, "missing key"),
        ("plan", [1, 2], "expected a table"),
        ("datasets", {"sft": {"dir": "d", "train": 1, "heldout": 0, "considered": 1, "replay": {
            "file": "f", "rows": 1, "new": 1, "replayed": {"n0": "all"}, "duplicates": 0,
            "capped": 0}}}, "replay.replayed.n0: expected int, got str"),
    ],
)  # fmt: skip
def test_a_stored_result_of_the_wrong_shape_fails_in_one_line(stage, data, message):
    with pytest.raises(InputError) as error:
        read_result(stage, data, f"night n1 g stage {stage}")
    text = str(error.value)
    assert f"night n1 g stage {stage}" in text and message in text and "\n" not in text


def test_results_keep_their_stage():
    results = NightResults()
    with pytest.raises(TypeError, match="stage gate returned DecideResult"):
        results.set("gate", DecideResult("rejected", None, "v0"))
    assert [s for s, _ in NightResults.from_dict({}).items()] == []
    # a rollback that a rerun found committed reports only the rollback ("match" belongs to a
    # completed check); a completed check keeps "match" even when no games were played
    assert RegressionResult(rolled_back=True, reason="r", to="v1").to_dict() == {
        "rolled_back": True, "reason": "r", "to": "v1"
    }  # fmt: skip
    kuhn = next(p for p in REPORTS if "kuhn" in str(p))
    checked = json.loads(kuhn.read_text())["games"]["kuhn_poker"]["regression"]
    assert checked["match"] is None and RegressionResult.from_dict(checked).to_dict() == checked


def test_a_resumed_night_with_a_damaged_stage_result_fails_naming_it(tmp_path):
    from arena.nightly.pipeline import _from_registry

    with Registry.open(tmp_path / "registry.sqlite") as reg:
        reg.begin_night("n1", {})
        reg.stage_started("n1", "tic_tac_toe", "decide")
        reg.stage_done("n1", "tic_tac_toe", "decide", 0.1, {"decision": "promoted"})
        with pytest.raises(InputError, match="night n1 tic_tac_toe stage decide: missing key"):
            _from_registry(reg, "n1", "promoted")


def test_intervals_over_too_few_games_read_back():
    """An eval over one pair can give infinite or undefined intervals: json_safe stores them as
    "inf" and null, and they read back as the floats they were (the first real night failed
    on this before)."""
    from arena.nightly.results import EvalResult

    opponent = {"opponent": "random", "games": 2, "score": 0.5, "score_ci95": [None, None],
                "mean_return": 0.0, "mean_return_ci95": ["-inf", "inf"]}  # fmt: skip
    stored = {"candidate": {"version": "v1", "metric": "m", "value": 0.5,
                            "higher_is_better": True, "opponents": [opponent],
                            "seconds": {"devset": 1.0, "matches": 2.0}}}  # fmt: skip
    typed = EvalResult.from_dict(stored)
    low, high = typed.candidate.opponents[0].mean_return_ci95
    assert (low, high) == (float("-inf"), float("inf"))
    assert json_safe(typed.to_dict()) == stored


def test_a_shipped_training_run_keeps_its_node_and_cache():
    """In ship mode the training task answers with its node and cache statistics
    (arena.execution.tasks); the night records them (the cluster test found them refused)."""
    from arena.nightly.results import TrainRun

    cache = {"hits": 1, "fetched": 2, "fetched_bytes": 30, "corrupt": 0, "evicted": 0}
    run = {"kind": "sft", "out": "o", "steps": 2, "seconds": 1.0, "rows": 3, "tokens": 9,
           "first_loss": 1.0, "final_loss": 0.5, "eval_loss": None}  # fmt: skip
    run |= {"node": "abc", "cache": cache}
    typed = TrainRun.from_dict(run, "the SFT task")
    assert typed.node == "abc" and typed.cache["fetched"] == 2
    assert typed.to_dict() == run
    shared = {k: v for k, v in run.items() if k not in ("node", "cache")}
    assert TrainRun.from_dict(shared).to_dict() == shared  # shared mode: no placement keys
