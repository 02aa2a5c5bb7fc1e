"""Loading the base (4-bit or full precision) and adapters, checking that they belong together.

An adapter is only meaningful on the exact base it was trained on, so every adapter manifest
records the base's fingerprint (sha256 over its config, tokenizer and safetensors weights), and
training refuses to continue an adapter on another base. Weights are read from safetensors
only: pickle-based ``*.bin`` files can run code when loaded and are refused.

4-bit on CPU: bitsandbytes 0.50 ships a CPU backend, and nf4 QLoRA trains on CPU here
(Linear4bit layers, LoRA on top). At import it logs "Failed to load CPU gemm_4bit_forward from
kernels-community: No module named 'kernels'": the optional ``kernels`` package would provide
a faster fused kernel; without it bitsandbytes uses its own dequantise-then-matmul path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from games import InputError
from training.config import LoraOptions, QuantOptions

log = logging.getLogger(__name__)

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
_FINGERPRINTS: dict[tuple, dict] = {}


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA device is available")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"unknown device '{device}' (cpu, cuda, cuda:N or auto)")
    return device


def resolve_base(base: str, workspace=None) -> str:
    """A base folder given as a path, or as a name under the workspace's ``base/``."""
    if Path(base).exists() or workspace is None:
        return str(Path(base))
    named = workspace.base(base)
    if named.exists():
        return str(named)
    raise InputError(f"no base '{base}' (not a folder, nor {named}); `arena base build` makes one")


def check_base(base: str | Path) -> Path:
    """The base folder, refusing a missing one or one without safetensors weights."""
    path = Path(base)
    if not (path / "config.json").exists():
        raise InputError(
            f"no base model at {path} (expected a folder with config.json; "
            "`arena base build --preset tiny` makes one)"
        )
    if not list(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")]
        hint = f" (found pickle-based {', '.join(pickled)}, refused)" if pickled else ""
        raise InputError(f"base {path} has no *.safetensors weights{hint}")
    return path


def length_limit(base: str | Path, max_length: int) -> int:
    """``max_length``, capped by the base's position limit (``max_position_embeddings``)."""
    config = json.loads((check_base(base) / "config.json").read_text())
    positions = config.get("max_position_embeddings")
    return min(max_length, int(positions)) if isinstance(positions, int) else max_length


def base_fingerprint(base: str | Path) -> dict:
    """``{"name", "path", "sha256"}`` of a base; sha256 over config, tokenizer and weights."""
    path = check_base(base).resolve()
    files = sorted(
        p
        for p in path.iterdir()
        if p.name in ("config.json", "tokenizer.json", "tokenizer_config.json")
        or p.suffix == ".safetensors"
    )
    key = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files) + (str(path),)
    if key not in _FINGERPRINTS:
        h = hashlib.sha256()
        for p in files:
            h.update(p.name.encode() + b"\0")
            with p.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
        _FINGERPRINTS[key] = {"name": path.name, "path": str(path), "sha256": h.hexdigest()}
    return dict(_FINGERPRINTS[key])


def check_adapter(adapter: str | Path, base: str | Path) -> dict:
    """Refuse an adapter that is incomplete, pickle-based, or trained on another base.

    Returns:
        The adapter's manifest (a dict).
    """
    path = Path(adapter)
    if not path.is_dir():
        raise InputError(f"no adapter folder at {path}")
    if (path / "adapter_model.bin").exists() and not (path / ADAPTER_FILES[0]).exists():
        raise InputError(f"adapter {path} is pickle-based (adapter_model.bin); refused")
    missing = [name for name in ADAPTER_FILES if not (path / name).exists()]
    if missing:
        raise InputError(f"adapter {path} lacks {', '.join(missing)}")
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise InputError(f"adapter {path} has no manifest.json; cannot check which base it fits")
    try:
        manifest = json.loads(manifest_path.read_text())
        recorded = manifest["base"]["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{manifest_path}: no base fingerprint recorded") from None
    current = base_fingerprint(base)
    if recorded != current["sha256"]:
        raise InputError(
            f"adapter {path} was trained on base '{manifest['base'].get('name')}' "
            f"(sha256 {recorded[:12]}), not on {current['path']} (sha256 "
            f"{current['sha256'][:12]}); refused"
        )
    return manifest


def load_tokenizer(base: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(check_base(base)))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(base: str | Path, quant: QuantOptions, device: str, gradient_checkpointing: bool):
    """The base model for training: 4-bit nf4 (QLoRA) or full precision fp32, frozen."""
    import torch
    from transformers import AutoModelForCausalLM

    path = str(check_base(base))
    if quant.enabled:
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant.quant_type,
            bnb_4bit_use_double_quant=quant.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, quant.compute_dtype),
        )
        model = AutoModelForCausalLM.from_pretrained(
            path, quantization_config=config, device_map={"": device}, dtype=torch.float32
        )
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
        _keep_4bit_trainable(model)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
        for param in model.parameters():
            param.requires_grad_(False)
    return model


def _keep_4bit_trainable(model) -> int:
    """Switch off bitsandbytes' CPU inference repacking on every 4-bit layer.

    bitsandbytes 0.50 repacks a ``Linear4bit`` weight for its AVX512-BF16 kernel the first time
    the layer runs on CPU in eval mode without gradients (a margin or eval pass). That kernel
    (``gemv_4bit``) has no autograd formula, so every later training step would silently lose
    the gradient through the frozen base weights (PyTorch only warns "an autograd kernel was
    not registered"). Training models never take that path.
    """
    import bitsandbytes as bnb

    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def new_adapter(model, lora: LoraOptions):
    """A fresh LoRA on every linear layer (except the output head)."""
    from peft import LoraConfig, get_peft_model

    from agents.llm.adapters import EMBEDDING_NAMES

    if any(name in lora.target_modules for name in EMBEDDING_NAMES):
        raise InputError(
            f"LoRA target modules '{lora.target_modules}' include embeddings or lm_head: the "
            "engine serves adapters with per-row LoRA on linear layers only, so such an "
            "adapter could not be played; use all-linear (the default)"
        )
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_adapter(model, adapter: str | Path, trainable: bool):
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)


def save_adapter(model, out: Path) -> list[Path]:
    """Write only the trained ("default") adapter; TRL's frozen "ref" copy is not saved."""
    model.save_pretrained(str(out), selected_adapters=["default"], safe_serialization=True)
    _sort_target_modules(out / "adapter_config.json")
    files = [out / name for name in ADAPTER_FILES]
    missing = [p.name for p in files if not p.exists()]
    if missing:
        raise RuntimeError(f"saving the adapter did not write {missing} in {out}")
    return files


def _sort_target_modules(config_path: Path) -> None:
    """peft writes ``target_modules`` from a set, in hash order, which varies between processes;
    sorting it makes the file (and its hash in the manifest) reproducible."""
    if not config_path.exists():
        return
    config = json.loads(config_path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


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
