"""What SFT and DPO runs share: seeding, the length check, trainer arguments, the manifest.

Rows longer than ``max_length`` tokens are never truncated silently (truncating a prompt
would cut the board, truncating a completion would teach half a move): they are counted, and
either dropped with a report (``long_rows="drop"``) or refused (``long_rows="error"``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from games import InputError
from games.files import StorageError, atomic_dir, atomic_write
from training.config import TrainOptions
from training.manifest import Manifest

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A finished run: the adapter folder and its manifest (and the model, when kept)."""

    out: Path
    manifest: Manifest
    model: object | None = None

    def summary(self) -> str:
        m = self.manifest
        data = m.dataset
        lines = [
            f"{m.kind}: {m.steps} steps in {m.stages.get('train', 0):.1f}s; "
            f"rows {data.get('rows')} ({data.get('dropped_long', 0)} over max length dropped), "
            f"tokens {data.get('tokens')}",
            "losses: first {first}, final {final}".format(
                first=_fmt(m.metrics.get("first_loss")), final=_fmt(m.metrics.get("final_loss"))
            ),
        ]
        if "margin_before" in m.metrics:
            lines.append(
                f"chosen-rejected log-prob margin on training pairs: "
                f"{m.metrics['margin_before']:.3f} -> {m.metrics['margin_after']:.3f}"
            )
        if m.metrics.get("eval_loss") is not None:
            lines.append(f"held-out loss {m.metrics['eval_loss']:.4f}")
        lines.append(f"adapter: {self.out} (peak RSS {m.metrics.get('peak_rss_mib')} MiB)")
        return "\n".join(lines)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def in_view(rows: list, base) -> list:
    """Rows with their prompts in the view the base reads (``agents.llm.views``): datasets
    keep the canonical full prompt; a compact base trains on the compact one, as it plays."""
    import dataclasses

    from agents.llm.views import base_view, model_prompt

    view = base_view(base)
    if view == "full":
        return rows
    return [dataclasses.replace(r, prompt=model_prompt(r.prompt, view)) for r in rows]


def count_and_filter(
    rows: list, tokenizer, max_length: int, completions: tuple[str, ...], policy: str, where: str
) -> tuple[list, dict]:
    """Keep rows whose prompt + every completion (+ EOS) fits ``max_length`` tokens.

    Returns:
        (kept rows, {"rows", "tokens", "prompt_tokens", "completion_tokens", "dropped_long"}).
    """
    kept, too_long, longest = [], 0, 0
    prompt_tokens = completion_tokens = 0
    for row in rows:
        n_prompt = len(tokenizer(row.prompt)["input_ids"])
        n_full = [
            len(tokenizer(row.prompt + getattr(row, c))["input_ids"]) + 1 for c in completions
        ]
        longest = max(longest, *n_full)
        if max(n_full) > max_length:
            too_long += 1
            continue
        kept.append(row)
        prompt_tokens += n_prompt
        completion_tokens += sum(n - n_prompt for n in n_full)
    if too_long and policy == "error":
        raise InputError(
            f"{where}: {too_long} of {len(rows)} rows exceed the {max_length}-token limit "
            f"(--max-length, capped by the base's positions; longest {longest}); "
            "raise --max-length or pass --long-rows drop"
        )
    if too_long:
        log.warning("%s: dropped %d rows longer than %d tokens", where, too_long, max_length)
    if not kept:
        raise InputError(
            f"{where}: every row exceeds the {max_length}-token limit (longest {longest})"
        )
    stats = {
        "rows": len(kept),
        "tokens": prompt_tokens + completion_tokens,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "dropped_long": too_long,
        "longest_tokens": longest,
        "max_length": max_length,
    }
    return kept, stats


def trainer_args(train: TrainOptions, out: Path, device: str, has_eval: bool) -> dict:
    """Keyword arguments shared by ``trl.SFTConfig`` and ``trl.DPOConfig``."""
    import torch

    if train.threads is not None:  # ranges: TrainOptions.__post_init__
        torch.set_num_threads(train.threads)
    if train.report_to == "tensorboard" and not _importable("tensorboard", "tensorboardX"):
        raise InputError("--report-to tensorboard needs `pip install tensorboard` (optional)")
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    return {
        "output_dir": str(out / "trainer"),
        "num_train_epochs": train.epochs,
        "max_steps": train.max_steps,
        "per_device_train_batch_size": train.batch_size,
        "per_device_eval_batch_size": train.batch_size,
        "gradient_accumulation_steps": train.grad_accum,
        "learning_rate": train.learning_rate,
        "warmup_steps": train.warmup,
        "lr_scheduler_type": "linear",
        "logging_steps": train.logging_steps,
        "logging_first_step": True,
        # checkpoints are taken on time by ``Checkpoints.callback`` (bounded lost work)
        "save_strategy": "no",
        "save_total_limit": 1,
        "eval_strategy": "no",
        "report_to": [] if train.report_to in ("", "none") else [train.report_to],
        "seed": train.seed,
        "data_seed": train.seed,
        "bf16": bf16,
        "fp16": False,
        "use_cpu": device == "cpu",
        "gradient_checkpointing": train.gradient_checkpointing,
        "max_length": train.max_length,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
    }


def precision_record(quant, device: str, model) -> dict:
    """What the manifest records of a run's precision: the base's quantization and dtype (as
    ``agents.llm.model_io.train_precision`` decided them) and the trained adapter's dtype (TRL
    casts QLoRA adapters to bfloat16, QLoRA paper section 3)."""
    from agents.llm.model_io import train_precision

    record = train_precision(quant, device).to_dict()
    trained = next((p for p in model.parameters() if p.requires_grad), None)
    dtype = None if trained is None else str(trained.dtype).removeprefix("torch.")
    record["adapter_dtype"] = dtype
    return record


def _importable(*names: str) -> bool:
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in names)


def loss_metrics(log_history: list[dict], key: str = "loss") -> dict:
    """First and final logged training loss, the curve, and the trainer's mean loss."""
    curve = [(e["step"], float(e[key])) for e in log_history if key in e and "step" in e]
    summary = next((e for e in reversed(log_history) if "train_loss" in e), {})
    return {
        "first_loss": curve[0][1] if curve else None,
        "final_loss": curve[-1][1] if curve else None,
        "mean_train_loss": summary.get("train_loss"),
        "loss_curve": curve,
    }


PROGRESS_FILE = "progress.json"


def progress_path(out: str | Path) -> Path:
    """Where a running training of adapter folder ``out`` writes its progress: a hidden file
    beside it (the adapter is trained in a staging folder until complete), which a driver on
    another node reads from the shared workspace."""
    out = Path(out)
    return out.parent / f".{out.name}.{PROGRESS_FILE}"


def read_progress(out: str | Path) -> dict | None:
    """The last progress a training wrote to ``progress_path(out)``; None before the first."""
    try:
        data = json.loads(progress_path(out).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def progress_callback(out: Path, every_s: float = 2.0):
    """A TrainerCallback that writes step, total steps, elapsed time, ETA and the last loss to
    ``progress_path(out)`` at most every ``every_s`` seconds (atomically: write, then rename),
    so a night can show training progress whatever node the training runs on."""
    from transformers import TrainerCallback

    path = progress_path(out)

    class ProgressFile(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.monotonic()
            self.written = 0.0
            self.loss: float | None = None
            self.first = 0  # the step training (re)started from: a resumed run's ETA

        def on_train_begin(self, args, state, control, **kwargs):
            self.first = int(state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

        def on_step_end(self, args, state, control, **kwargs):
            now = time.monotonic()
            if now - self.written < every_s and state.global_step < state.max_steps:
                return
            self.written = now
            elapsed = now - self.started
            step, total = int(state.global_step), int(state.max_steps)
            eta = elapsed / (step - self.first) * (total - step) if step > self.first else None
            record = {"step": step, "max_steps": total, "elapsed_s": round(elapsed, 1)}
            record.update(eta_s=None if eta is None else round(eta, 1), loss=self.loss)
            atomic_write(path, json.dumps(record), fsync=False)  # scratch: loss costs nothing

    return ProgressFile()


def finalize(manifest: Manifest, out: Path, adapter_files: list[Path], final: Path) -> Path:
    """Hash the adapter, remove the trainer's scratch folder, write ``manifest.json`` (into
    the staging folder ``out``; its outputs are named by their ``final`` paths)."""
    scratch = out / "trainer"
    if (scratch / "runs").exists():  # TensorBoard logs (report_to tensorboard): keep them
        shutil.move(str(scratch / "runs"), str(out / "tensorboard"))
    if scratch.exists():
        shutil.rmtree(scratch, ignore_errors=True)
    manifest.add_outputs(adapter_files)
    for entry in manifest.outputs:
        entry["path"] = str(final / Path(entry["path"]).name)
    return manifest.write(out / "manifest.json")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse to overwrite an existing adapter unless asked (versions are immutable)."""
    if (out / "adapter_model.safetensors").exists() and not overwrite:
        raise InputError(f"{out} already holds an adapter; choose another --out or --overwrite")


@contextmanager
def staged_adapter(out: Path, overwrite: bool) -> Iterator[Path]:
    """``with staged_adapter(out, overwrite) as work:`` train and save into ``work``, a
    hidden folder beside ``out``, renamed to ``out`` only once complete (``atomic_dir``): a
    crash or a full disk never leaves a half-written adapter, and the error is one line."""
    check_out(out, overwrite)
    try:
        with atomic_dir(out, overwrite=True) as work:
            yield work
    except StorageError:
        # A full or failing disk: the checkpoint scratch in ``out`` (Checkpoints) cannot be
        # trusted or resumed from there, and leaving it would leave an ``out`` folder that is
        # not an adapter. Other failures keep it, so that a rerun resumes.
        shutil.rmtree(Path(out) / "trainer", ignore_errors=True)
        if Path(out).is_dir() and not any(Path(out).iterdir()):
            Path(out).rmdir()
        raise
    finally:
        progress_path(out).unlink(missing_ok=True)


def completion_logprobs(model, tokenizer, prompts: list[str], completions: list[str], batch=16):
    """Sum of log-probabilities of each completion given its prompt (eval mode, no grad).

    Tokenised as TRL does: the completion starts where the tokens of the prompt and of
    prompt + completion diverge.
    """
    import torch

    if len(prompts) != len(completions):
        raise ValueError("prompts and completions differ in length")
    device = next(model.parameters()).device
    out: list[float] = []
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(prompts), batch):
            chunk = list(
                zip(prompts[start : start + batch], completions[start : start + batch], strict=True)
            )
            seqs, starts = [], []
            for prompt, completion in chunk:
                p_ids = tokenizer(prompt)["input_ids"]
                full = tokenizer(prompt + completion)["input_ids"]
                same = 0
                while same < min(len(p_ids), len(full)) and p_ids[same] == full[same]:
                    same += 1
                seqs.append(full)
                starts.append(max(1, same))
            width = max(len(s) for s in seqs)
            pad = tokenizer.pad_token_id
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for i, seq in enumerate(seqs):
                ids[i, : len(seq)] = torch.tensor(seq)
                mask[i, : len(seq)] = 1
            with torch.no_grad():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logps = torch.log_softmax(logits.float(), dim=-1)
            for i, seq in enumerate(seqs):
                targets = torch.tensor(seq[starts[i] :], device=device)
                rows = logps[i, starts[i] - 1 : len(seq) - 1]
                out.append(float(rows.gather(1, targets[:, None]).sum()))
    finally:
        model.train(was_training)
    return out
