"""Finding and loading a base model: a folder, a workspace base name, or a Hugging Face id.

``llm:BASE`` names the base three ways, tried in this order:

1. an existing folder (``llm:/models/qwen2-0.5b``, ``llm:arena-data/base/tiny``);
2. a base built into the workspace (``llm:tiny`` -> ``<workspace>/base/tiny``);
3. a Hugging Face hub id (``llm:Qwen/Qwen2-0.5B-Instruct``), on machines that reach the hub or
   have it in their local cache.

Precision follows the device unless chosen (``dtype``): float32 on CPU, bfloat16 on CUDA
(where its tensor cores run at full rate); ``quantize="nf4"`` loads a 4-bit NormalFloat base
through bitsandbytes (QLoRA's format, Dettmers et al. 2023), with computation in that same dtype.
bitsandbytes 0.50 runs nf4 on CPU too (a slower pure-torch kernel), so it is not gated to CUDA.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from games import InputError

logger = logging.getLogger(__name__)

QUANTIZATIONS = (None, "nf4")


@dataclass(frozen=True)
class BaseRef:
    """A resolved base model. ``ident`` is an absolute folder path or a hub id."""

    spec: str
    ident: str
    local: bool

    @property
    def name(self) -> str:
        """Last path component (``tiny``, ``Qwen2-0.5B``): how adapters are matched across
        machines whose folders differ."""
        return self.ident.rstrip("/").rsplit("/", 1)[-1]


def resolve_base(base: str, workspace=None) -> BaseRef:
    """Resolve ``base`` (see the module docstring) without loading it.

    Raises:
        InputError: nothing matches; the message names every place that was looked at.
    """
    from games.workspace import Workspace, is_valid_name

    base = base.strip()
    path = Path(base).expanduser()
    if path.is_dir():
        return BaseRef(base, str(path.resolve()), True)
    looked = [f"folder {path}"]
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    if is_valid_name(base):
        candidate = ws.base(base)
        if candidate.is_dir():
            return BaseRef(base, str(candidate.resolve()), True)
        looked.append(f"workspace base {candidate}")
    if base.count("/") == 1 and not base.startswith((".", "/", "~")):
        return BaseRef(base, base, False)
    hint = "; build one with `arena base build --preset tiny`" if is_valid_name(base) else ""
    raise InputError(f"base model '{base}' not found: looked for {' and '.join(looked)}{hint}")


def pick_device(device: str | None) -> str:
    """``None``/``auto`` -> ``cuda`` when available, else ``cpu``; validates explicit names."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{device}' requested but CUDA is not available here")
    if not (device == "cpu" or device.startswith("cuda")):
        raise InputError(f"unknown device '{device}'; use cpu, cuda or cuda:N")
    return device


DTYPES = ("auto", "bf16", "fp32")


def compute_dtype(device: str, dtype: str | None = None):
    """``auto``: bfloat16 on CUDA, float32 on CPU. ``bf16`` on CPU pays off on processors with
    bf16 matrix units (AMX, AVX512-BF16), at the price of ~1e-2 relative error in scores."""
    import torch

    if dtype not in (None, *DTYPES):
        raise InputError(f"unknown dtype '{dtype}'; use auto, bf16 or fp32")
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return torch.bfloat16 if dtype == "bf16" else torch.float32


def load_base(
    ref: BaseRef,
    device: str,
    quantize: str | None = None,
    dtype: str | None = None,
    attn_implementation: str | None = None,
):
    """Load tokenizer and model for inference; returns ``(model, tokenizer)``.

    The tokenizer gets a pad token (its eos) when it has none, since batching needs one.
    ``attn_implementation`` (``sdpa``, ``eager``, ``flash_attention_2``) defaults to
    transformers' choice.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if quantize not in QUANTIZATIONS:
        raise InputError(f"unknown quantization '{quantize}'; use nf4 or leave it unset")
    dtype = compute_dtype(device, dtype)
    kwargs: dict = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantize == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype
        )
        kwargs["device_map"] = device
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-tensor bar on every agent start is noise
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.ident)
        model = AutoModelForCausalLM.from_pretrained(ref.ident, **kwargs)
    except (OSError, ValueError) as error:
        where = "folder" if ref.local else "hub id (no local folder or workspace base matched)"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot load base model '{ref.spec}' as a {where}: {first}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if quantize is None:
        model.to(device)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    logger.info(
        "loaded base %s on %s (%s, %s)", ref.ident, device, dtype, quantize or "no quantization"
    )
    torch.set_flush_denormal(True)
    return model, tokenizer


def accepts(model, argument: str) -> bool:
    """Whether ``model``'s forward takes ``argument`` (APIs moved across transformers)."""
    import inspect

    return argument in inspect.signature(type(model).forward).parameters


def cache_kwarg(model) -> str:
    """The forward argument that carries the KV cache: ``cache`` (transformers >= 5.x) or
    ``past_key_values`` (earlier releases)."""
    return "cache" if accepts(model, "cache") else "past_key_values"
