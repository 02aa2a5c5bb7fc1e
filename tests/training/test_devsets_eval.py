"""Frozen dev sets (hash lock, labels, deterministic regeneration) and ``arena eval``."""

from __future__ import annotations

import json
import shutil

import pytest

from agents import make_agent
from agents.solver import AlphaBetaSolver
from arena.cli import main
from games import InputError, load_game
from training import devsets
from training.devsets import DEVSET_DIR, generate_connect_four, generate_tic_tac_toe, verify_lock
from training.evaluate import evaluate, policy_exploitability, position_accuracy
from training.manifest import sha256_file


def test_committed_dev_sets_match_their_lock():
    assert verify_lock() == []


def test_lock_catches_a_change_without_its_hash(tmp_path):
    root = tmp_path / "devsets"
    shutil.copytree(DEVSET_DIR, root)
    assert verify_lock(root) == []
    path = root / "tic_tac_toe.jsonl"
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["optimal"] = row["legal"]  # a relabelled position
    path.write_text("\n".join([json.dumps(row, sort_keys=True), *lines[1:]]) + "\n")
    assert verify_lock(root) == ["tic_tac_toe.jsonl: content changed without its hash in lock.json"]
    (root / "extra.jsonl").write_text("{}\n")
    assert "extra.jsonl: not in the lock" in verify_lock(root)
    with pytest.raises(InputError, match="does not match lock.json"):
        devsets.load_devset("tic_tac_toe", root)
    devsets.write_lock(root)
    assert verify_lock(root) == []


def test_regeneration_is_deterministic():
    committed = (DEVSET_DIR / "tic_tac_toe.jsonl").read_text().splitlines()
    regenerated = [json.dumps(r, sort_keys=True) for r in generate_tic_tac_toe(200)]
    assert regenerated == committed
    first_c4 = [json.dumps(r, sort_keys=True) for r in generate_connect_four(2)]
    assert first_c4 == (DEVSET_DIR / "connect_four.jsonl").read_text().splitlines()[:2]


def test_tic_tac_toe_labels_are_every_optimal_move():
    handle = load_game("tic_tac_toe")
    solver = AlphaBetaSolver(handle)
    rows, _ = devsets.load_devset("tic_tac_toe")
    assert len(rows) == 200 and {r["player"] for r in rows} == {0, 1}
    for row in rows:
        state = handle.game.new_initial_state()
        for action in row["history"]:
            state.apply_action(action)
        values = solver.action_values(state)
        best = max(values.values())
        optimal = {
            row["legal"][i] for i, a in enumerate(state.legal_actions()) if values[a] == best
        }
        assert set(row["optimal"]) == optimal and len(optimal) < len(row["legal"])


def test_connect_four_labels_leave_a_worse_move():
    rows, _ = devsets.load_devset("connect_four")
    assert len(rows) == 60
    for row in rows:
        assert row["optimal"] and set(row["optimal"]) < set(row["legal"])
        worst = min(row["values"].values())
        assert all(row["values"][m] > worst for m in row["optimal"])


def test_solver_is_perfect_and_random_is_not_on_positions():
    handle = load_game("tic_tac_toe")
    perfect = position_accuracy(make_agent("solver", handle), "tic_tac_toe")
    assert perfect["accuracy"] == 1.0 and perfect["policy_mass_on_optimal"] == pytest.approx(1.0)
    random = position_accuracy(make_agent("random", handle), "tic_tac_toe")
    assert 0.1 < random["accuracy"] < 0.7 and random["ci95"][0] < random["accuracy"]
    assert random["policy_mass_on_optimal"] < 0.6


def test_exploitability_is_exact():
    kuhn = load_game("kuhn_poker")
    uniform = policy_exploitability(make_agent("random", kuhn), "kuhn_poker")
    assert uniform["exploitability"] == pytest.approx(0.458333, abs=1e-6)
    cfr = policy_exploitability(make_agent("solver", kuhn), "kuhn_poker")
    assert cfr["exploitability"] < 0.01
    assert cfr["exploitability"] == pytest.approx(cfr["reference"]["cfr_plus"], abs=1e-3)


def test_evaluate_reports_win_rates_with_intervals():
    report = evaluate("tic_tac_toe", "solver", opponents=("random",), pairs=4, seed=1)
    (entry,) = report["opponents"]
    assert entry["games"] == 8 and entry["losses"] == 0
    low, high = entry["score_ci95"]
    assert low < entry["score"] <= high <= 1.0
    assert sum(entry["pentanomial"]) == 4


def test_eval_cli_writes_a_report(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        ["eval", "--game", "kuhn_poker", "--agent", "random", "--pairs", "2", "--out", str(out)]
    )
    assert code == 0
    report = json.loads((out / "eval.json").read_text())
    assert report["devset"]["metric"] == "exploitability"
    assert [o["opponent"] for o in report["opponents"]] == ["solver"]
    assert "exploitability 0.4583" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "eval" and manifest["outputs"][0]["sha256"] == sha256_file(
        out / "eval.json"
    )


def test_eval_and_devsets_cli_errors(capsys):
    assert main(["eval", "--game", "chess_960", "--agent", "random"]) == 2
    assert "unknown game" in capsys.readouterr().err
    assert main(["devsets", "check"]) == 0
    assert "match their lock" in capsys.readouterr().out
