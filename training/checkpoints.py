"""Resumable training runs: periodic checkpoints in the run's scratch folder, and resumption
when the same run is started again after a kill (a night killed inside training resumes its
training where it stopped instead of starting over).

The trainer's own checkpoint machinery does the saving and loading (``Trainer._save_checkpoint``
writes the adapter, optimiser, scheduler, RNG and trainer state; ``train(resume_from_checkpoint=)``
restores them and skips the batches already seen); this module decides when to save and whether
a checkpoint on disk belongs to the run being started.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from training.config import to_dict
from training.manifest import Manifest, file_entry, sha256_file

CHECKPOINT_PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR
RUN_IDENTITY = "run.json"


class Checkpoints:
    """Resumable training: the trainer saves a checkpoint (adapter, optimiser, scheduler, RNG
    and trainer state) into the scratch folder ``out/trainer`` (``out``: the adapter's final
    folder, which the finished adapter replaces whole) at least every ``every_s``
    seconds of training (``TrainOptions.checkpoint_s``; the last one only is kept), and a run
    killed before ``finalize`` resumes from it when it is started again with the same
    configuration and inputs (``identity``); a scratch folder of any other run is cleared.

    A checkpoint counts once its ``trainer_state.json`` exists (the trainer writes it after
    the weights and the optimiser), so a kill in the middle of a save resumes from the one
    before, which the trainer deletes only after the new one is complete.
    """

    def __init__(self, out: Path, identity: dict, every_s: float):
        self.scratch = Path(out) / "trainer"
        self.every_s = every_s
        self.resume_from = self._prepare(json.loads(json.dumps(identity, default=str)))

    def _prepare(self, identity: dict) -> str | None:
        marker = self.scratch / RUN_IDENTITY
        try:
            same = json.loads(marker.read_text()) == identity
        except (OSError, ValueError):
            same = False
        if not same and self.scratch.exists():
            shutil.rmtree(self.scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(identity, sort_keys=True))
        done = [
            (int(c.name[len(CHECKPOINT_PREFIX) :]), c)
            for c in self.scratch.glob(f"{CHECKPOINT_PREFIX}*")
            if c.name[len(CHECKPOINT_PREFIX) :].isdigit() and (c / "trainer_state.json").is_file()
        ]
        return str(max(done)[1]) if done else None

    @property
    def resumed_step(self) -> int:
        """The step the run resumes from (0: a fresh start)."""
        return int(Path(self.resume_from).name[len(CHECKPOINT_PREFIX) :]) if self.resume_from else 0

    def callback(self):
        """A TrainerCallback asking for a save once ``every_s`` seconds have passed since the
        start or the last save (never at the last step: ``finalize`` saves the adapter)."""
        from transformers import TrainerCallback

        every_s = self.every_s

        class SaveOnTime(TrainerCallback):
            def __init__(self) -> None:
                self.last = time.monotonic()

            def on_train_begin(self, args, state, control, **kwargs):
                self.last = time.monotonic()

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step < state.max_steps and time.monotonic() - self.last >= every_s:
                    control.should_save = True

            def on_save(self, args, state, control, **kwargs):
                self.last = time.monotonic()

        return SaveOnTime()

    def trainer_args(self, args: dict) -> dict:
        """``trainer_args`` with the trainer's output folder in the scratch folder, beside the
        adapter's final path (the run itself writes into a staging folder whose name changes
        from one process to the next: ``train_common.staged_adapter``)."""
        return {**args, "output_dir": str(self.scratch)}

    def record(self, manifest: Manifest) -> None:
        manifest.metrics["resumed_from_step"] = self.resumed_step

    def finish(self, staging: Path) -> None:
        """After a finished run: TensorBoard's logs go to the staging folder's scratch (where
        ``finalize`` keeps them); the checkpoints go when the adapter replaces ``out``."""
        if (self.scratch / "runs").exists():
            (staging / "trainer").mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.scratch / "runs"), str(staging / "trainer" / "runs"))


def run_identity(config, manifest: Manifest) -> dict:
    """What makes a restarted run the same run (``Checkpoints``): its configuration (less the
    checkpoint interval, which changes no result), the content of its inputs, of the adapter
    it continues, and of the base."""
    settings = to_dict(config)
    settings["train"].pop("checkpoint_s", None)
    adapters = [getattr(config, "init_adapter", None), getattr(config, "adapter", None)]
    weights = [file_entry(Path(a) / "adapter_model.safetensors") for a in adapters if a]
    return {"config": settings, "inputs": manifest.inputs + weights, "base": manifest.base}


def finished_run(config) -> bool:
    """Whether ``config.out`` holds this very run, finished: its manifest records the same
    configuration and every output file still has its recorded hash. A night resumed after a
    kill inside its DPO run then keeps the SFT adapter it trained before, instead of training
    it again."""
    path = Path(config.out) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        same = manifest["config"] == json.loads(json.dumps(to_dict(config)))
        return same and all(
            sha256_file(entry["path"]) == entry["sha256"] for entry in manifest["outputs"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
