"""Resumable training (``training.checkpoints``): a run killed inside training, started again
with the same configuration, resumes from its last checkpoint and ends where an uninterrupted
run ends; a checkpoint of another run is never resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from training.checkpoints import Checkpoints
from training.config import PlaySpec, PrefsDataConfig, SFTDataConfig

STEPS = 12


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    from training.pref_data import build_prefs
    from training.sft_data import build_sft

    root = tmp_path_factory.mktemp("rows")
    play = PlaySpec("tic_tac_toe", ("solver", "random"), games=6)
    sft = build_sft(
        SFTDataConfig(inputs=(), out=str(root / "sft"), agents=("solver",), heldout=0, play=play)
    )
    play = PlaySpec("tic_tac_toe", ("random", "random"), games=4)
    prefs = build_prefs(
        PrefsDataConfig(inputs=(), out=str(root / "prefs"), method="solver", heldout=0, play=play)
    )
    return sft.paths["train"], prefs.paths["train"]


def completed_checkpoints(out: Path) -> list[int]:
    scratch = out / "trainer"
    found = scratch.glob("checkpoint-*/trainer_state.json") if scratch.is_dir() else []
    return sorted(int(p.parent.name.split("-")[1]) for p in found)


def weight_gap(a: Path, b: Path) -> float:
    """Largest difference between two adapters' tensors, relative to the tensor's scale."""
    x, y = (load_file(str(p / "adapter_model.safetensors")) for p in (a, b))
    assert x.keys() == y.keys()
    return max(float((x[k] - y[k]).abs().max() / x[k].abs().max()) for k in x)


@pytest.fixture(scope="module")
def sft_adapter(rows, tiny_base, tmp_path_factory):
    """The config of a finished SFT run (its adapter for DPO to continue)."""
    from training.config import SFTRunConfig, TrainOptions
    from training.sft import train_sft

    out = tmp_path_factory.mktemp("sft") / "v1"
    train = TrainOptions(threads=1, max_steps=4, batch_size=4)
    config = SFTRunConfig(data=str(rows[0]), base=str(tiny_base), out=str(out), train=train)
    train_sft(config)
    return config


@pytest.mark.slow
def test_sft_killed_inside_training_resumes_from_its_checkpoint(rows, tiny_base, tmp_path):
    """`arena train sft` SIGKILLed after its third checkpoint (one per step here), then run
    again: it resumes at the checkpoint's step, keeps the killed run's logged losses, and
    ends bit for bit where a run that was never interrupted ends (optimiser, scheduler, RNG
    and data order restored). Full precision: with the 4-bit base the first step after the
    resume differs by ~3e-5 in the loss (the QLoRA path is the DPO test's)."""
    from arena.cli import main

    argv = ["--workspace", str(tmp_path / "ws"), "train", "sft", "--data", str(rows[0])]
    argv += ["--base", str(tiny_base), "--max-steps", str(STEPS), "--batch-size", "4"]
    argv += ["--lora-r", "4", "--threads", "1", "--logging-steps", "1", "--no-quant"]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "arena", *argv, "--out", str(out), "--checkpoint-s", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not [s for s in completed_checkpoints(out) if s >= 3]:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    proc.stderr.close()
    saved = completed_checkpoints(out)
    assert saved and saved[-1] < STEPS and not (out / "adapter_model.safetensors").exists()

    assert main([*argv, "--out", str(out)]) == 0  # the same run again (any interval)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["resumed_from_step"] == saved[-1] >= 3
    assert manifest["steps"] == STEPS and not (out / "trainer").exists()
    logged = [step for step, _ in manifest["metrics"]["loss_curve"]]
    assert logged == list(range(1, STEPS + 1))  # the killed run's losses kept, none twice

    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    assert whole["metrics"]["resumed_from_step"] == 0
    assert whole["metrics"]["loss_curve"] == manifest["metrics"]["loss_curve"]
    assert weight_gap(out, tmp_path / "whole") == 0.0


class Crash(Exception):
    """Raised inside training, right after a checkpoint was saved."""


@pytest.mark.slow
def test_dpo_crashed_after_a_checkpoint_resumes_with_its_reference(
    rows, tiny_base, sft_adapter, tmp_path, monkeypatch
):
    """DPO on the 4-bit base (QLoRA, as a night trains): the checkpoint holds the trained
    adapter and the frozen reference copy (``ref``); the resumed run continues from the
    saved step and ends close to an uninterrupted run (not bit for bit: see above)."""
    import training.checkpoints as checkpoints
    from training.config import DPORunConfig, TrainOptions
    from training.dpo import train_dpo

    def config(out: str, every_s: float = 120.0) -> DPORunConfig:
        train = TrainOptions(
            threads=1, max_steps=12, batch_size=4, logging_steps=1, checkpoint_s=every_s
        )
        return DPORunConfig(
            data=str(rows[1]), base=str(tiny_base), adapter=sft_adapter.out,
            out=str(tmp_path / out), train=train,
        )  # fmt: skip

    real = checkpoints.Checkpoints.callback

    def crashing(self):
        callback = real(self)
        saved = callback.on_save

        def on_save(args, state, control, **kwargs):
            saved(args, state, control, **kwargs)
            if state.global_step >= 5:
                raise Crash(state.global_step)

        callback.on_save = on_save
        return callback

    monkeypatch.setattr(checkpoints.Checkpoints, "callback", crashing)
    with pytest.raises(Crash):
        train_dpo(config("a", every_s=0))
    monkeypatch.undo()
    assert completed_checkpoints(tmp_path / "a") == [5]
    assert (tmp_path / "a/trainer/checkpoint-5/ref/adapter_model.safetensors").is_file()

    resumed = train_dpo(config("a"))
    assert resumed.manifest.metrics["resumed_from_step"] == 5 and resumed.manifest.steps == 12
    whole = train_dpo(config("b"))
    curve, whole_curve = (
        resumed.manifest.metrics["loss_curve"],
        whole.manifest.metrics["loss_curve"],
    )
    assert [s for s, _ in curve] == list(range(1, 13)) and curve[:5] == whole_curve[:5]
    assert weight_gap(resumed.out, whole.out) < 2e-2


def test_a_checkpoint_of_another_run_is_cleared_not_resumed(tmp_path):
    identity = {"config": {"seed": 0}, "inputs": [{"sha256": "aa"}]}
    Checkpoints(tmp_path, identity, 60)
    for step, complete in ((4, True), (7, False)):  # 7: killed while it was being saved
        folder = tmp_path / "trainer" / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    again = Checkpoints(tmp_path, identity, 60)
    assert again.resume_from == str(tmp_path / "trainer/checkpoint-4") and again.resumed_step == 4
    other = Checkpoints(tmp_path, {**identity, "inputs": [{"sha256": "bb"}]}, 60)
    assert other.resume_from is None and other.resumed_step == 0
    assert [p.name for p in (tmp_path / "trainer").iterdir()] == ["run.json"]


@pytest.mark.slow
def test_a_finished_run_is_kept_by_a_resumed_night(sft_adapter, tmp_path):
    """The night's training task skips a run whose adapter is there, finished, with the same
    configuration (a night killed inside DPO keeps its SFT adapter); a changed configuration
    or a damaged adapter is trained again."""
    import dataclasses
    import shutil

    from arena.nightly.stages import _train_task
    from training.checkpoints import finished_run
    from training.config import to_dict

    weights = Path(sft_adapter.out) / "adapter_model.safetensors"
    written = weights.stat().st_mtime_ns
    summary = _train_task("sft", to_dict(sft_adapter))
    assert summary["steps"] == 4 and summary["out"] == sft_adapter.out
    assert weights.stat().st_mtime_ns == written  # not trained again
    other = dataclasses.replace(sft_adapter, train=dataclasses.replace(sft_adapter.train, seed=1))
    assert finished_run(sft_adapter) and not finished_run(other)
    copy = dataclasses.replace(sft_adapter, out=str(tmp_path / "copy"))
    shutil.copytree(sft_adapter.out, copy.out)
    assert not finished_run(copy)  # its manifest is another run's (another folder)
    good = weights.read_bytes()
    try:
        weights.write_bytes(good[:-8])
        assert not finished_run(sft_adapter)
    finally:
        weights.write_bytes(good)
