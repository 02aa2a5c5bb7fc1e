"""Smoke tests of every training command and script with tiny budgets, end to end on CPU:
match logs -> datasets -> SFT adapter -> DPO adapter -> dev-set eval -> reproduce."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from arena.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TINY = ["--max-steps", "2", "--batch-size", "4", "--lora-r", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def flow(tmp_path_factory, tiny_base):
    """The whole loop through the CLI, once; tests below check its pieces."""
    root = tmp_path_factory.mktemp("flow")
    ws = ["--workspace", str(root / "ws")]
    logs = root / "logs.jsonl"
    codes = {
        "match": main(
            [*ws, "match", "--game", "tic_tac_toe", "--agents", "solver", "random"]
            + ["--games", "8", "--out", str(logs)]
        ),
        "sft-data": main([*ws, "data", "sft", str(logs), "--agents", "solver", "--run", "d1"]),
        "prefs-data": main(
            [*ws, "data", "prefs", str(logs), "--method", "solver", "--heldout", "0"]
            + ["--run", "d1"]
        ),
    }
    data = root / "ws" / "datasets" / "d1"
    codes["sft"] = main(
        [*ws, "train", "sft", "--data", str(data / "sft.jsonl"), "--base", str(tiny_base)]
        + ["--version", "v1", *TINY]
    )
    codes["dpo"] = main(
        [*ws, "train", "dpo", "--data", str(data / "prefs.jsonl"), "--base", str(tiny_base)]
        + ["--adapter", "v1", "--version", "v2", "--loss", "ipo", "--no-quant", *TINY]
    )
    return root, ws, data, codes


def test_the_loop_runs_from_the_cli(flow):
    root, _, data, codes = flow
    assert codes == {k: 0 for k in codes}
    for version in ("v1", "v2"):
        folder = root / "ws" / "adapters" / "tic_tac_toe" / version
        assert (folder / "adapter_model.safetensors").exists()
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["kind"] == ("sft" if version == "v1" else "dpo")
        assert manifest["steps"] == 2
    assert (data / "sft.manifest.json").exists() and (data / "prefs.manifest.json").exists()


def test_data_commands_report_kept_and_dropped(flow, tmp_path, capsys):
    root, ws, _, _ = flow
    argv = ["data", "sft", str(root / "logs.jsonl"), "--agents", "random", "--out", str(tmp_path)]
    code = main([*ws, *argv])
    out = capsys.readouterr().out
    assert code == 0 and "kept" in out and "dropped" in out and "seat or agent not selected" in out


def test_eval_of_the_trained_adapter(flow, tiny_base, tmp_path, capsys):
    root, ws, _, _ = flow
    adapter = root / "ws" / "adapters" / "tic_tac_toe" / "v2"
    code = main(
        [*ws, "eval", "--game", "tic_tac_toe", "--agent", f"llm:{tiny_base}@{adapter}"]
        + ["--limit", "12", "--pairs", "1", "--opponents", "random", "--out", str(tmp_path)]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["devset"]["positions"] == 12
    assert 0.0 <= report["devset"]["accuracy"] <= 1.0
    assert report["devset"]["policy_mass_on_optimal"] is not None  # score mode has a policy
    assert report["opponents"][0]["games"] == 2


def test_reproduce_cli_matches(flow, tmp_path, capsys):
    root, ws, data, _ = flow
    adapter = root / "ws" / "adapters" / "tic_tac_toe" / "v1"
    assert main([*ws, "reproduce", str(adapter), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "final_loss" in out
    assert main([*ws, "reproduce", "d1", "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.count("REPRODUCED") == 2  # sft and prefs manifests


def test_bad_input_is_one_line(flow, tiny_base, tmp_path, capsys):
    root, ws, data, _ = flow
    cases = [
        [*ws, "train", "dpo", "--data", str(data / "prefs.jsonl"), "--base", str(tiny_base)]
        + ["--adapter", "v9", "--version", "v3"],
        [*ws, "train", "sft", "--data", str(tmp_path / "missing.jsonl"), "--base", "x"],
        [*ws, "train", "sft", "--data", str(data / "sft.jsonl"), "--base", str(tiny_base)],
        [*ws, "train", "sft", "--data", str(data / "sft.jsonl"), "--base", str(tiny_base)]
        + ["--version", "v1"],
        [*ws, "data", "sft", "--agents", "solver"],
        [*ws, "reproduce", str(tmp_path)],
    ]
    messages = ["no adapter folder", "no such dataset", "give --version", "already holds"]
    messages += ["give match logs", "no run manifest"]
    for argv, message in zip(cases, messages, strict=True):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("arena: error: ") and message in err and err.count("\n") == 1


def test_scripts_are_thin_entry_points(tmp_path):
    sft = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_sft_jsonl.py"), "--play", "tic_tac_toe"]
        + ["--play-games", "4", "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert sft.returncode == 0, sft.stderr
    assert "kept" in sft.stdout and (tmp_path / "s" / "sft.jsonl").exists()
    prefs = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_prefs_jsonl.py"), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert prefs.returncode == 2 and "error: no such match log" in prefs.stderr


def test_dpo_budget_defaults_reach_the_cli():
    """The tuned DPO budget (LEARNING.md section 4) is what `arena train dpo` runs without
    flags, and the precomputed reference can be switched off."""
    from arena.cli import build_parser
    from training.config import DPO_EPOCHS, DPO_LR, DPORunConfig

    argv = ["train", "dpo", "--adapter", "a", "--data", "d", "--base", "b"]
    args = build_parser().parse_args(argv)
    assert (args.lr, args.epochs, args.precompute_ref) == (DPO_LR, DPO_EPOCHS, True)
    assert build_parser().parse_args([*argv, "--no-precompute-ref"]).precompute_ref is False
    default = DPORunConfig(data="d", base="b", adapter="a", out="o")
    assert default.train.learning_rate == DPO_LR and default.train.epochs == DPO_EPOCHS
    assert default.precompute_ref and default.sft_weight > 0
