"""``arena train sft``: LoRA supervised fine-tuning with TRL's ``SFTTrainer``.

The base is loaded frozen, in 4-bit nf4 (QLoRA, Dettmers et al. 2023) on CUDA and in fp32 on a
CPU unless configured otherwise (``agents.llm.model_io.train_precision`` decides, the manifest
records it); LoRA (Hu et al. 2021) goes on every linear layer, fresh or continued from
``init_adapter``. Rows are TRL prompt-completion pairs, and TRL 1.x computes the loss on the
completion tokens only for such data; we also set ``completion_only_loss=True`` explicitly so
that a change of TRL's default cannot silently train on the prompts.

Loss (token-level NLL on the completion): L = -(1/|C|) sum_{t in C} log p(y_t | y_<t, prompt).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from agents.llm.adapters import check_adapter
from agents.llm.model_io import (
    base_fingerprint,
    length_limit,
    load_adapter,
    load_tokenizer,
    load_train_base,
    new_adapter,
    pick_device,
    save_adapter,
)
from training.checkpoints import Checkpoints, run_identity
from training.config import SFTRunConfig, to_dict
from training.manifest import Manifest
from training.rows import SFTRow, read_rows
from training.train_common import (
    TrainResult,
    count_and_filter,
    finalize,
    in_view,
    loss_metrics,
    precision_record,
    progress_callback,
    staged_adapter,
    trainer_args,
)

log = logging.getLogger(__name__)


def train_sft(
    config: SFTRunConfig,
    overwrite: bool = False,
    keep_model: bool = False,
    callbacks: list | None = None,
) -> TrainResult:
    """Train an adapter on ``config.data`` and write it with its manifest to ``config.out``.

    Args:
        config: the run (see ``training.config``).
        overwrite: replace an adapter already at ``config.out``.
        keep_model: return the trained model in the result (tests inspect its weights).
        callbacks: extra ``transformers.TrainerCallback``s (``scripts/bench_training.py``
            times the steps with one).

    Raises:
        InputError: missing or empty data, rows over the length limit with
            ``long_rows="error"``, a base without safetensors, or an adapter that is
            incomplete, pickle-based or trained on another base.
    """
    final = Path(config.out)
    with staged_adapter(final, overwrite) as work:  # never a half-written adapter folder
        result = _train_sft(config, work, final, keep_model, callbacks or [])
    return dataclasses.replace(result, out=final)


def _train_sft(config, out: Path, final: Path, keep_model: bool, callbacks: list) -> TrainResult:
    """The run itself, writing into the staging folder ``out`` (renamed to ``final``)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    device = pick_device(config.train.device)
    fingerprint = base_fingerprint(config.base)
    if config.init_adapter:
        check_adapter(config.init_adapter, config.base)
    manifest = Manifest(
        kind="sft", run_id=final.name, config=to_dict(config), seeds={"train": config.train.seed}
    )
    manifest.base = fingerprint
    inputs = [config.data] + ([config.eval_data] if config.eval_data else [])
    manifest.add_inputs(inputs)
    set_seed(config.train.seed)
    with manifest.stage("load_data"):
        tokenizer = load_tokenizer(config.base)
        limit = length_limit(config.base, config.train.max_length)
        rows, stats = count_and_filter(
            in_view(read_rows(config.data, SFTRow.from_dict), config.base),
            tokenizer,
            limit,
            ("completion",),
            config.train.long_rows,
            config.data,
        )
        eval_rows = None
        if config.eval_data:
            eval_rows, eval_stats = count_and_filter(
                in_view(read_rows(config.eval_data, SFTRow.from_dict), config.base),
                tokenizer,
                limit,
                ("completion",),
                config.train.long_rows,
                config.eval_data,
            )
            stats["eval"] = eval_stats
    manifest.dataset = stats
    checkpoints = Checkpoints(final, run_identity(config, manifest), config.train.checkpoint_s)
    with manifest.stage("load_model"):
        model = load_train_base(
            config.base, config.quant, device, config.train.gradient_checkpointing
        )
        if config.init_adapter:
            model = load_adapter(model, config.init_adapter, trainable=True)
        else:
            model = new_adapter(model, config.lora)

    def to_dataset(items):
        return Dataset.from_list([{"prompt": r.prompt, "completion": r.completion} for r in items])

    args = SFTConfig(
        **checkpoints.trainer_args(
            trainer_args(config.effective_train(), out, device, eval_rows is not None)
        ),
        completion_only_loss=True,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        callbacks=[progress_callback(final), checkpoints.callback(), *callbacks],
        train_dataset=to_dataset(rows),
        eval_dataset=to_dataset(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
    )
    with manifest.stage("train"):
        result = trainer.train(resume_from_checkpoint=checkpoints.resume_from)
    manifest.steps = int(trainer.state.global_step)
    checkpoints.record(manifest)
    manifest.metrics.update(loss_metrics(trainer.state.log_history))
    manifest.metrics["mean_train_loss"] = float(result.training_loss)
    if eval_rows:
        with manifest.stage("eval"):
            manifest.metrics["eval_loss"] = float(trainer.evaluate()["eval_loss"])
    with manifest.stage("save"):
        files = save_adapter(trainer.model, out)
    manifest.metrics["device"] = device
    manifest.metrics["precision"] = precision_record(config.quant, device, trainer.model)
    checkpoints.finish(out)
    finalize(manifest, out, files, final)
    return TrainResult(out, manifest, trainer.model if keep_model else None)
