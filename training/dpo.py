"""``arena train dpo``: preference optimisation (DPO or IPO) with TRL's ``DPOTrainer``.

The run continues the previous adapter version, and that version is also the reference
policy: we load it as a trainable ``PeftModel`` and pass no ``ref_model``; TRL 1.16 then adds
a frozen adapter named ``ref`` holding a copy of the loaded weights and computes reference
log-probs with it active (``DPOTrainer.__init__`` and ``compute_ref_log_probs``, checked in the
installed source). We verify that the copy exists before training, and save only the trained
``default`` adapter.

Losses, with the log-ratio difference D = [log pi(y_w|x) - log ref(y_w|x)] - [log pi(y_l|x) -
log ref(y_l|x)] (log-probs summed over the completion tokens):
* ``sigmoid`` (DPO; Rafailov et al. 2023, Eq. 7): L = -log sigmoid(beta * D).
* ``ipo`` (IPO; Azar et al. 2023, Eq. 17): L = (D_avg - 1 / (2 * tau))^2 with tau = beta and
  D_avg the same difference with log-probs averaged per completion token (TRL's form).
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
    pick_device,
    save_adapter,
)
from games import InputError
from training.checkpoints import Checkpoints, run_identity
from training.config import DPORunConfig, to_dict
from training.manifest import Manifest
from training.rows import PrefRow, read_rows
from training.train_common import (
    TrainResult,
    completion_logprobs,
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
MARGIN_SAMPLE = 128


def preference_margin(model, tokenizer, rows: list[PrefRow]) -> float:
    """Mean of log pi(chosen) - log pi(rejected) over ``rows`` (the DPO objective's direction)."""
    prompts = [r.prompt for r in rows]
    chosen = completion_logprobs(model, tokenizer, prompts, [r.chosen for r in rows])
    rejected = completion_logprobs(model, tokenizer, prompts, [r.rejected for r in rows])
    return sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(rows)


def train_dpo(
    config: DPORunConfig, overwrite: bool = False, keep_model: bool = False
) -> TrainResult:
    """Continue ``config.adapter`` on preference pairs; write the new adapter and manifest.

    Args:
        config: the run (see ``training.config``).
        overwrite: replace an adapter already at ``config.out``.
        keep_model: return the trained model in the result (tests inspect its weights).

    Raises:
        InputError: missing or empty data, rows over the length limit with
            ``long_rows="error"``, a base without safetensors, or an adapter that is
            incomplete, pickle-based or trained on another base.
    """
    final = Path(config.out)
    with staged_adapter(final, overwrite) as work:  # never a half-written adapter folder
        result = _train_dpo(config, work, final, keep_model)
    return dataclasses.replace(result, out=final)


def _train_dpo(config, out: Path, final: Path, keep_model: bool) -> TrainResult:
    """The run itself, writing into the staging folder ``out`` (renamed to ``final``)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer

    if final.resolve() == Path(config.adapter).resolve():
        raise InputError("--out must differ from the adapter being continued")
    device = pick_device(config.train.device)
    fingerprint = base_fingerprint(config.base)
    parent = check_adapter(config.adapter, config.base)
    manifest = Manifest(
        kind="dpo", run_id=final.name, config=to_dict(config), seeds={"train": config.train.seed}
    )
    manifest.base = fingerprint
    manifest.metrics["parent_adapter"] = {
        "path": str(config.adapter),
        "run_id": parent.get("run_id"),
    }
    inputs = [config.data] + ([config.eval_data] if config.eval_data else [])
    manifest.add_inputs(inputs)
    manifest.add_inputs(Path(config.adapter) / name for name in ("adapter_model.safetensors",))
    set_seed(config.train.seed)
    completions = ("chosen", "rejected")
    with manifest.stage("load_data"):
        tokenizer = load_tokenizer(config.base)
        limit = length_limit(config.base, config.train.max_length)
        rows, stats = count_and_filter(
            in_view(read_rows(config.data, PrefRow.from_dict), config.base),
            tokenizer,
            limit,
            completions,
            config.train.long_rows,
            config.data,
        )
        eval_rows = None
        if config.eval_data:
            eval_rows, stats["eval"] = count_and_filter(
                in_view(read_rows(config.eval_data, PrefRow.from_dict), config.base),
                tokenizer,
                limit,
                completions,
                config.train.long_rows,
                config.eval_data,
            )
    manifest.dataset = stats
    checkpoints = Checkpoints(final, run_identity(config, manifest), config.train.checkpoint_s)
    with manifest.stage("load_model"):
        model = load_train_base(
            config.base, config.quant, device, config.train.gradient_checkpointing
        )
        model = load_adapter(model, config.adapter, trainable=True)
    sample = rows[:MARGIN_SAMPLE]
    with manifest.stage("margin_before"):
        manifest.metrics["margin_before"] = preference_margin(model, tokenizer, sample)

    def to_dataset(items):
        return Dataset.from_list(
            [{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in items]
        )

    args = DPOConfig(
        **checkpoints.trainer_args(trainer_args(config.train, out, device, eval_rows is not None)),
        loss_type=[config.loss, "sft"] if config.sft_weight > 0 else [config.loss],
        loss_weights=[1.0, config.sft_weight] if config.sft_weight > 0 else None,
        beta=config.beta,
        precompute_ref_log_probs=config.precompute_ref,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        callbacks=[progress_callback(final), checkpoints.callback()],
        train_dataset=to_dataset(rows),
        eval_dataset=to_dataset(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
    )
    if "ref" not in trainer.model.peft_config:
        raise RuntimeError(
            "TRL did not create the frozen 'ref' adapter copy; the reference policy would be "
            "the bare base instead of the previous adapter. Refusing to train."
        )
    with manifest.stage("train"):
        result = trainer.train(resume_from_checkpoint=checkpoints.resume_from)
    manifest.steps = int(trainer.state.global_step)
    checkpoints.record(manifest)
    manifest.metrics.update(loss_metrics(trainer.state.log_history))
    manifest.metrics["mean_train_loss"] = float(result.training_loss)
    for key in ("rewards/margins", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        values = [e[key] for e in trainer.state.log_history if key in e]
        if values:
            manifest.metrics[f"final_{key.replace('/', '_')}"] = float(values[-1])
    trainer.model.set_adapter("default")
    with manifest.stage("margin_after"):
        manifest.metrics["margin_after"] = preference_margin(trainer.model, tokenizer, sample)
    manifest.metrics["margin_rows"] = len(sample)
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
