"""Adapter folders: what is accepted, and how an adapter is checked against the running base.

An adapter version is a folder written by peft's ``save_pretrained``: ``adapter_config.json``
(a LoRA config) and ``adapter_model.safetensors``, optionally the arena's ``manifest.json``.
Everything is checked *before* anything is injected into the serving model, so a refused
adapter never leaves the engine half-changed:

- weights load from safetensors only: a folder holding pickle-based weight files
  (``adapter_model.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, ``*.ckpt``) is refused, because
  unpickling runs arbitrary code and a safetensors file cannot;
- the adapter must have been trained on this base: ``base_model_name_or_path`` is compared with
  the engine's base (same folder, an identical copy, or on another machine the same name);
- every tensor must fit the base: LoRA A is ``[r, in_features]`` and B ``[out_features, r]``
  for a module the base actually has.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from games import InputError

logger = logging.getLogger(__name__)

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MANIFEST_FILE = "manifest.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_VOLATILE_CONFIG_KEYS = {"_name_or_path", "transformers_version", "dtype", "torch_dtype"}
_PREFIX = "base_model.model."


@dataclass(frozen=True)
class AdapterInfo:
    """A validated adapter folder (files only; compatibility is checked by ``check_fits``)."""

    path: Path
    version: str
    config: dict
    shapes: dict[str, tuple[int, ...]] = field(repr=False)
    nbytes: int = 0

    @property
    def base_name_or_path(self) -> str | None:
        return self.config.get("base_model_name_or_path") or None


def inspect_adapter(path: str | Path, version: str | None = None) -> AdapterInfo:
    """Read and validate an adapter folder's files; no weights are loaded.

    Args:
        path: the adapter folder.
        version: the label decisions carry; default: ``manifest.json``'s ``version``, else the
            folder name.

    Raises:
        InputError: missing folder or files, pickle-based weights, or a non-LoRA config.
    """
    from safetensors import safe_open

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"adapter folder {folder} does not exist")
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickled:
        raise InputError(
            f"adapter {folder}: refusing pickle-based weight file(s) {', '.join(pickled)}; "
            "adapters load from safetensors only (save with safe_serialization=True)"
        )
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise InputError(f"adapter {folder}: missing {needed.name}")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"adapter {folder}: {CONFIG_FILE} is not valid JSON ({error})") from None
    if not isinstance(config, dict) or str(config.get("peft_type", "")).upper() != "LORA":
        raise InputError(f"adapter {folder}: {CONFIG_FILE} is not a LoRA config (peft_type)")
    try:
        with safe_open(str(weights_path), framework="pt") as weights:
            shapes = {k: tuple(weights.get_slice(k).get_shape()) for k in weights.keys()}
    except Exception as error:  # safetensors raises its own error types for corrupt headers
        raise InputError(f"adapter {folder}: unreadable {WEIGHTS_FILE} ({error})") from None
    if not shapes:
        raise InputError(f"adapter {folder}: {WEIGHTS_FILE} holds no tensors")
    return AdapterInfo(
        path=folder.resolve(),
        version=version or _manifest_version(folder) or folder.name,
        config=config,
        shapes=shapes,
        nbytes=weights_path.stat().st_size,
    )


def _manifest_version(folder: Path) -> str | None:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text()).get("version")
    except (json.JSONDecodeError, AttributeError):
        raise InputError(f"adapter {folder}: {MANIFEST_FILE} is not a JSON object") from None
    return str(value) if value else None


def _fingerprint(folder: Path) -> dict | None:
    """What makes two base folders the same model: config.json (minus volatile keys) and,
    for locally built bases, the recipe in arena_base.json."""
    config = folder / "config.json"
    if not config.is_file():
        return None
    data = json.loads(config.read_text())
    data = {k: v for k, v in data.items() if k not in _VOLATILE_CONFIG_KEYS}
    recipe = folder / "arena_base.json"
    if recipe.is_file():
        made = json.loads(recipe.read_text())
        data["_arena"] = [made.get("preset"), made.get("seed"), made.get("corpus")]
    return data


def check_same_base(info: AdapterInfo, base_ident: str, base_local: bool) -> None:
    """Raise InputError when ``info`` was trained on another base than ``base_ident``."""
    wanted = info.base_name_or_path
    if not wanted:
        logger.warning("adapter %s does not name its base; checking shapes only", info.path)
        return
    if wanted == base_ident:
        return
    mine = base_ident.rstrip("/").rsplit("/", 1)[-1]
    theirs_path = Path(wanted).expanduser()
    if base_local and theirs_path.is_dir():
        if theirs_path.resolve() == Path(base_ident).resolve():
            return
        if _fingerprint(theirs_path) == _fingerprint(Path(base_ident)) is not None:
            return
        raise InputError(
            f"adapter {info.path} was trained on base {wanted}, which differs from the serving "
            f"base {base_ident}"
        )
    if wanted.rstrip("/").rsplit("/", 1)[-1] != mine:
        raise InputError(
            f"adapter {info.path} was trained on base '{wanted}', not on the serving base "
            f"'{base_ident}'"
        )


_LORA_KEY = re.compile(
    r"^(?P<module>.+)\.(?P<kind>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(\.|$)"
)


def check_fits(info: AdapterInfo, base_model) -> None:
    """Raise InputError unless every tensor of ``info`` fits a module of ``base_model``.

    ``base_model`` is the plain transformers model (LoRA wrappers, if already injected, are
    looked through via their ``base_layer``).
    """
    ranks: dict[str, int] = {}
    for key, shape in sorted(info.shapes.items()):
        name = key[len(_PREFIX) :] if key.startswith(_PREFIX) else key
        match = _LORA_KEY.match(name)
        module_path = match["module"] if match else name.rsplit(".", 1)[0]
        try:
            module = base_model.get_submodule(module_path)
        except AttributeError:
            raise InputError(
                f"adapter {info.path}: tensor {key} targets '{module_path}', which the base "
                "model does not have (adapter for another architecture?)"
            ) from None
        module = getattr(module, "base_layer", module)
        if not match:
            continue
        kind = match["kind"]
        rank = shape[0] if kind in ("lora_A", "lora_embedding_A") else shape[-1]
        if ranks.setdefault(module_path, rank) != rank:
            raise InputError(f"adapter {info.path}: LoRA A and B of {module_path} disagree on r")
        if kind == "lora_A":
            expected = (rank, getattr(module, "in_features", None))
        elif kind == "lora_B":
            expected = (getattr(module, "out_features", None), rank)
        elif kind == "lora_embedding_A":
            expected = (rank, getattr(module, "num_embeddings", None))
        else:
            expected = (getattr(module, "embedding_dim", None), rank)
        if tuple(shape) != expected:
            raise InputError(
                f"adapter {info.path}: {key} has shape {list(shape)}, the base needs "
                f"{list(expected)} (adapter trained on a differently shaped base?)"
            )


def internal_name(version: str, serial: int) -> str:
    """A peft adapter name that is never reused: ``<version>__<serial>``.

    peft keeps adapters in ``nn.ModuleDict`` keys, which may not contain dots.
    """
    safe = re.sub(r"[^A-Za-z0-9_]", "_", version)[:48] or "adapter"
    return f"{safe}__{serial}"
