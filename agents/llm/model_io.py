"""The one base-model I/O of the project, for playing (``agents.llm``) and training alike.

Finding a base: ``llm:BASE`` (and ``arena train --base``) names it three ways, tried in order:

1. an existing folder (``llm:/models/qwen2-0.5b``, ``llm:arena-data/base/tiny``);
2. a base built into the workspace (``llm:tiny`` -> ``<workspace>/base/tiny``);
3. a Hugging Face hub id (``llm:Qwen/Qwen2-0.5B-Instruct``), on machines that reach the hub or
   have it in their local cache (playing only: training needs a local folder).

Device and precision (``pick_device``, ``compute_dtype``; for training ``train_precision``):
float32 on CPU, bfloat16 on CUDA (where its tensor cores run at full rate) unless chosen;
training quantizes the base to nf4 by default on CUDA only. ``quantize="nf4"`` loads a 4-bit
NormalFloat base through bitsandbytes (QLoRA's format, Dettmers et al. 2023), with
computation in that same dtype. bitsandbytes 0.50 runs nf4 on CPU too (a slower pure-torch
kernel, and QLoRA trains on CPU here), so it is not gated to CUDA. At import it logs "Failed to
load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'": the optional
``kernels`` package would provide a faster fused kernel.

Weights are read from safetensors only: pickle-based ``*.bin`` files can run code when loaded
and are refused. A base's identity is ``base_fingerprint`` (sha256 over config, tokenizer and
weights), which every adapter manifest records; the one "same base" check that uses it is
``agents.llm.adapters.check_same_base``.

Content checks (``check_recorded``, the one place): a locally built base records the sha256 of
each of its files in ``arena_base.json`` and an adapter's manifest those of its outputs; both
are compared with the files before a base or an adapter plays or trains, so bytes changed after
the fact (a damaged disk, a hand edit) are refused with one line naming the file. Verdicts are
cached by (path, size, mtime_ns), so a hot path never rehashes an unchanged file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from games import InputError
from games.files import atomic_write

# Modules a LoRA adapter may not target: the engine serves per-row LoRA on linear layers only.
EMBEDDING_NAMES = ("embed_tokens", "lm_head", "wte", "wpe", "embed_out", "word_embeddings")

logger = logging.getLogger(__name__)

QUANTIZATIONS = (None, "nf4")
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
_FINGERPRINTS: dict[tuple, dict] = {}
_FILE_HASHES: dict[tuple[str, int, int], str] = {}
BASE_RECIPE = "arena_base.json"


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
    if ref.local:
        check_base(ref.ident)  # safetensors only, recorded hashes
        kwargs["use_safetensors"] = True
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a per-tensor bar on every agent start is noise
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.ident)
        model = AutoModelForCausalLM.from_pretrained(ref.ident, **kwargs)
    except Exception as error:
        if not _load_failure(error):
            raise
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


def _load_failure(error: Exception) -> bool:
    """A model folder that cannot be read (missing or damaged files): safetensors raises its
    own error type for a truncated file, transformers OSError or ValueError for the rest."""
    return isinstance(error, OSError | ValueError) or "afetensor" in type(error).__name__


def _train_model(path: str, **kwargs):
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, **kwargs)
    except Exception as error:
        if not _load_failure(error):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"cannot load base model {path}: {first}") from None


def accepts(model, argument: str) -> bool:
    """Whether ``model``'s forward takes ``argument`` (APIs moved across transformers)."""
    import inspect

    return argument in inspect.signature(type(model).forward).parameters


def cache_kwarg(model) -> str:
    """The forward argument that carries the KV cache: ``cache`` (transformers >= 5.x) or
    ``past_key_values`` (earlier releases)."""
    return "cache" if accepts(model, "cache") else "past_key_values"


# --- training: base folder checks, fingerprint, training precision and base, LoRA files ---


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, cached by (path, size, mtime_ns): a rewrite changes the key."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


def check_recorded(folder: Path, recorded: dict[str, str], what: str) -> None:
    """Refuse ``folder`` unless each file named in ``recorded`` (file name -> sha256) has that
    sha256; ``what`` names the folder's kind and its record in the message.

    Raises:
        InputError: a recorded file is missing or its bytes differ (one line naming it).
    """
    for name, digest in sorted(recorded.items()):
        path = Path(folder) / name
        if not path.is_file():
            raise InputError(f"{what} {folder}: {name} is missing (its record lists it)")
        found = file_sha256(path)
        if found != digest:
            raise InputError(
                f"{what} {folder}: {name} does not match the sha256 its record holds "
                f"(recorded {digest[:12]}, found {found[:12]}); the file was changed or "
                "damaged after it was written: refused"
            )


def base_recorded_files(folder: str | Path) -> dict[str, str]:
    """The file hashes a locally built base records in ``arena_base.json`` (``{}`` for other
    model folders, and for bases built before the arena recorded them)."""
    path = Path(folder) / BASE_RECIPE
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_bytes().decode("utf-8")).get("files") or {}
    except (ValueError, AttributeError) as error:
        raise InputError(f"base {folder}: unreadable {BASE_RECIPE} ({error})") from None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def has_safetensors(base: str | Path) -> bool:
    path = Path(base)
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def check_base(base: str | Path) -> Path:
    """The base folder, refusing a missing one, one without safetensors weights, and one
    whose files differ from the hashes its ``arena_base.json`` records."""
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
    check_recorded(path, base_recorded_files(path), "base")
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


def load_tokenizer(base: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(check_base(base)))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass(frozen=True)
class TrainPrecision:
    """How a training base is held, as decided by ``train_precision``.

    ``quantize``: ``nf4``/``fp4`` (a 4-bit base, QLoRA) or None (the base in ``dtype``);
    ``dtype``: the base's compute dtype (``float32``, ``bfloat16``, ``float16``): 4-bit weights
    are dequantised to it, a full-precision base is loaded in it.
    """

    quantize: str | None
    dtype: str

    def to_dict(self) -> dict:
        return {"quantize": self.quantize, "dtype": self.dtype}


def train_precision(quant, device: str) -> TrainPrecision:
    """The one decision of how a training base is held (``quant``: ``QuantOptions``).

    ``quant.enabled=None`` (auto): a 4-bit nf4 base (QLoRA, Dettmers et al. 2023) on CUDA, where
    it saves the memory that lets large bases fit; an unquantized base on CPU, where 4-bit
    saves nothing worth having on the arena's bases and costs time: dequantising every weight
    at every forward, plus TRL casting QLoRA adapters to bf16 (``scripts/bench_training.py``
    measures both in one run; BENCHMARKS.md). ``compute_dtype="auto"``: bfloat16 on CUDA;
    float32 on CPU, also on CPUs with bf16 matrix units: on the ``small`` base a bf16 matmul of
    the model's shapes ran 2.2x the fp32 rate on one AVX512-BF16 core, but a whole LoRA step in
    bf16 (weights or autocast) was slower than in fp32, because at a hidden size of 128 the
    casts and element-wise ops outweigh the faster matmuls (measured by the same script).
    ``--quant``-style choices stay explicit: ``enabled=True`` trains QLoRA on CPU too.
    """
    cuda = device.startswith("cuda")
    enabled = cuda if quant.enabled is None else bool(quant.enabled)
    dtype = quant.compute_dtype
    if dtype == "auto":
        dtype = "bfloat16" if cuda else "float32"
    return TrainPrecision(quant.quant_type if enabled else None, dtype)


def load_train_base(base: str | Path, quant, device: str, gradient_checkpointing: bool):
    """The frozen base model for training, held as ``train_precision(quant, device)`` says.

    ``quant`` is a ``training.config.QuantOptions`` (enabled, quant_type, double_quant,
    compute_dtype); read by attribute, so this layer does not import ``training``.
    """
    import torch

    path = str(check_base(base))
    precision = train_precision(quant, device)
    dtype = getattr(torch, precision.dtype)
    if precision.quantize:
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=precision.quantize,
            bnb_4bit_use_double_quant=quant.double_quant,
            bnb_4bit_compute_dtype=dtype,
        )
        model = _train_model(
            path, quantization_config=config, device_map={"": device}, dtype=torch.float32
        )
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
        _keep_4bit_trainable(model)
    else:
        model = _train_model(path, dtype=dtype).to(device)
        for param in model.parameters():
            param.requires_grad_(False)
    logger.info("training base %s on %s: %s", path, device, precision)
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


def new_adapter(model, lora):
    """A fresh LoRA on every linear layer (except the output head); ``lora`` is a
    ``training.config.LoraOptions`` (r, alpha, dropout, target_modules)."""
    from peft import LoraConfig, get_peft_model

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
    files = [out / name for name in (WEIGHTS_FILE, CONFIG_FILE)]
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
        atomic_write(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
