"""Adapter folders: what is accepted, and how an adapter is checked against the running base.

An adapter version is a folder written by peft's ``save_pretrained``: ``adapter_config.json``
(a LoRA config) and ``adapter_model.safetensors``, optionally the arena's ``manifest.json``.
Everything is checked *before* anything is injected into the serving model, so a refused
adapter never leaves the engine half-changed:

- weights load from safetensors only: a folder holding pickle-based weight files
  (``adapter_model.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, ``*.ckpt``) is refused, because
  unpickling runs arbitrary code and a safetensors file cannot;
- the adapter must have been trained on this base (``check_same_base``, the one such check,
  which training uses too): the base sha256 its manifest records, else
  ``base_model_name_or_path`` (same folder, an identical copy, or elsewhere the same name);
- every tensor must fit the base: LoRA A is ``[r, in_features]`` and B ``[out_features, r]``
  for a module the base actually has;
- the files must be the ones trained: the sha256 that ``manifest.json`` records for each
  output (weights, config) is compared with the files (``model_io.check_recorded``, cached by
  size and mtime), so bytes changed after training are refused before they play or train.

``AdapterSet`` (the engine's adapter half) loads accepted folders into one peft model under
internal names that are never reused, points roles at them, and unloads retired ones when the
calls that leased them finish.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agents.llm.model_io import (
    EMBEDDING_NAMES,
    base_fingerprint,
    check_recorded,
    has_safetensors,
)
from games import InputError

logger = logging.getLogger(__name__)

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MANIFEST_FILE = "manifest.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_VOLATILE_CONFIG_KEYS = {"_name_or_path", "transformers_version", "dtype", "torch_dtype"}
MAX_MANIFEST_BYTES = 16 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
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
    check_recorded(folder, recorded_outputs(folder), "adapter")
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
    served = unservable_parts(config, shapes)
    if served:
        raise InputError(
            f"adapter {folder}: trains {', '.join(served)}; the engine serves many adapters "
            "on one base with per-row LoRA (peft adapter_names), which covers LoRA on linear "
            "layers only, not trainable embeddings or lm_head (retrain with the default "
            "target modules, all-linear)"
        )
    return AdapterInfo(
        path=folder.resolve(),
        version=version or _manifest_version(folder) or folder.name,
        config=config,
        shapes=shapes,
        nbytes=weights_path.stat().st_size,
    )


def unservable_parts(config: dict, shapes: dict | None = None) -> list[str]:
    """What an adapter trains beyond LoRA on linear layers: full copies of modules
    (``modules_to_save``) or LoRA on embeddings / the output head. peft's mixed-adapter batch
    (one ``adapter_names`` entry per row) refuses such adapters ("Please specify at least one
    adapter to set"), so training refuses them up front and loading names them."""
    parts = [f"modules_to_save {m}" for m in config.get("modules_to_save") or []]
    targets = config.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    parts += [f"target module {t}" for t in targets if any(n in t for n in EMBEDDING_NAMES)]
    if not parts and shapes:
        names = {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in shapes}
        parts += [f"weights of {n}" for n in sorted(names) if n in EMBEDDING_NAMES]
    return parts


def read_manifest(folder: Path) -> dict | None:
    """The adapter's ``manifest.json`` as a dict, None when there is none; InputError when it
    is unreadable (bytes that are not UTF-8, invalid JSON, not an object, too large)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InputError(f"adapter {folder}: unreadable {MANIFEST_FILE} ({error})") from None
    if not isinstance(data, dict):
        raise InputError(f"adapter {folder}: {MANIFEST_FILE} is not a JSON object")
    return data


def recorded_outputs(folder: Path) -> dict[str, str]:
    """File name -> sha256 of the adapter files its ``manifest.json`` lists as outputs (the
    training run's record; ``{}`` without a manifest). A listed entry without a well-formed
    sha256 is refused: the check must not silently fall away."""
    manifest = read_manifest(folder) or {}
    outputs = manifest.get("outputs") or []
    recorded = {}
    for entry in outputs if isinstance(outputs, list) else []:
        name = Path(str(entry.get("path", ""))).name if isinstance(entry, dict) else ""
        if name not in (WEIGHTS_FILE, CONFIG_FILE):
            continue
        digest = entry.get("sha256")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise InputError(f"adapter {folder}: {MANIFEST_FILE} lists {name} without a sha256")
        recorded[name] = digest
    return recorded


def _manifest_version(folder: Path) -> str | None:
    value = (read_manifest(folder) or {}).get("version")
    return str(value) if value else None


def adapter_game(folder: Path) -> str | None:
    """The game an adapter was trained on (its manifest's ``config.game``), if recorded."""
    manifest = read_manifest(folder) or {}
    config = manifest.get("config")
    game = config.get("game") if isinstance(config, dict) else None
    game = game if isinstance(game, str) and game else manifest.get("game")
    return game.split("(", 1)[0].strip() if isinstance(game, str) and game else None


def check_adapter_game(folder: Path, game: str, transfer: bool = False) -> None:
    """Refuse an adapter trained on another game than ``game`` (a name or a game string),
    unless ``transfer`` says the transfer is deliberate (spec option ``transfer=1``)."""
    trained = adapter_game(folder)
    playing = game.split("(", 1)[0].strip()
    if trained is None or trained == playing or transfer:
        if trained is not None and trained != playing:
            logger.warning("adapter %s (trained on %s) plays %s: transfer", folder, trained, game)
        return
    raise InputError(
        f"adapter {folder} was trained on {trained}, not {playing}; to play it on {playing} "
        "deliberately, add the option transfer=1 to its spec (llm:BASE@ADAPTER,transfer=1)"
    )


def _fingerprint(folder: Path) -> dict | None:
    """What makes two base folders the same model: config.json (minus volatile keys) and,
    for locally built bases, the recipe in arena_base.json."""
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_bytes().decode("utf-8"))
        data = {k: v for k, v in data.items() if k not in _VOLATILE_CONFIG_KEYS}
        recipe = folder / "arena_base.json"
        if recipe.is_file():
            made = json.loads(recipe.read_bytes().decode("utf-8"))
            data["_arena"] = [made.get("preset"), made.get("seed"), made.get("corpus")]
    except (ValueError, AttributeError, RecursionError) as error:
        raise InputError(f"base {folder}: unreadable config ({error})") from None
    return data


def _recorded_sha256(folder: Path) -> str | None:
    """The base sha256 the arena's ``manifest.json`` records for the adapter, if any.

    A manifest that has a ``base`` entry must hold a well-formed sha256 in it: a damaged or
    edited one is refused rather than letting the check fall back on the base's path or name.
    """
    manifest = read_manifest(folder)
    if manifest is None or "base" not in manifest:
        return None
    base = manifest["base"]
    recorded = base.get("sha256") if isinstance(base, dict) else None
    if not isinstance(recorded, str) or not _SHA256.match(recorded):
        raise InputError(
            f"adapter {folder}: {MANIFEST_FILE} has a 'base' entry without a valid sha256; "
            "cannot check which base it was trained on"
        )
    return recorded


def check_same_base(info: AdapterInfo, base_ident: str, base_local: bool) -> None:
    """The one "same base" check: raise InputError when ``info`` was trained on another base.

    1. The adapter's ``manifest.json`` records its base's sha256 (``model_io.base_fingerprint``,
       every arena-trained adapter) and the base is a local safetensors folder: the hashes must
       be equal, wherever the folders are.
    2. Otherwise (a plain peft adapter, or a hub base): ``base_model_name_or_path`` is compared
       with the base: the same folder, an identical copy (same config and build recipe), or on
       another machine the same name.
    """
    recorded = _recorded_sha256(info.path)
    if recorded is not None and base_local and has_safetensors(Path(base_ident)):
        current = base_fingerprint(base_ident)
        if recorded != current["sha256"]:
            manifest = read_manifest(info.path) or {}
            raise InputError(
                f"adapter {info.path} was trained on base '{manifest['base'].get('name')}' "
                f"(sha256 {recorded[:12]}), not on {current['path']} (sha256 "
                f"{current['sha256'][:12]}); refused"
            )
        return
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


def check_adapter(adapter: str | Path, base: str | Path) -> dict:
    """Training's check before continuing an adapter: the files (``inspect_adapter``), a
    recorded base fingerprint (required here, so the check cannot fall back on names), and
    ``check_same_base``. Returns the adapter's manifest (a dict)."""
    if not Path(adapter).is_dir():
        raise InputError(f"no adapter folder at {adapter}")
    info = inspect_adapter(adapter)
    manifest_path = info.path / MANIFEST_FILE
    if not manifest_path.exists():
        raise InputError(f"adapter {adapter} has no manifest.json; cannot check which base it fits")
    if _recorded_sha256(info.path) is None:
        raise InputError(f"{manifest_path}: no base fingerprint recorded")
    check_same_base(info, str(Path(base).resolve()), True)
    return read_manifest(info.path) or {}


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


@dataclass(frozen=True)
class AdapterRef:
    """A loaded adapter: ``name`` is the internal peft name, ``version`` the public label."""

    name: str
    version: str
    path: Path
    nbytes: int


class AdapterSet:
    """Versioned adapters, roles and leases of an engine (a mixin of ``Engine``, which provides
    ``base``, ``ref`` and the ``_lock`` its forwards also take)."""

    def _init_adapters(self) -> None:
        self.peft = None
        self._serial = itertools.count(1)
        self._loaded: dict[str, AdapterRef] = {}
        self._roles: dict[str, AdapterRef] = {}
        self._role_users: Counter[str] = Counter()
        self._leases: Counter[str] = Counter()
        self._retired: set[str] = set()

    def load_adapter(self, path: str | Path, version: str | None = None) -> AdapterRef:
        """Validate and load an adapter folder under a fresh internal name.

        Raises:
            InputError: missing files, pickle weights, another base, or wrong shapes; the
                engine is unchanged in that case.
        """
        info = inspect_adapter(path, version)
        check_same_base(info, self.ref.ident, self.ref.local)
        with self._lock:
            check_fits(info, self.base)
            name = internal_name(info.version, next(self._serial))
            self._inject(info.path, name)
            ref = AdapterRef(name, info.version, info.path, info.nbytes)
            self._loaded[name] = ref
        logger.info("loaded adapter %s (%s) from %s", name, info.version, info.path)
        return ref

    def _inject(self, path: Path, name: str) -> None:
        from peft import PeftModel

        try:
            with warnings.catch_warnings():
                # peft 0.21 calls a transformers 5 API that warns of its own deprecation
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                if self.peft is None:
                    self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=name)
                else:
                    self.peft.load_adapter(str(path), adapter_name=name)
                    if self.peft.active_adapter not in self.peft.peft_config:
                        self.peft.set_adapter(name, inference_mode=True)
        except (ValueError, RuntimeError, KeyError) as error:
            with contextlib.suppress(Exception):
                self.peft.delete_adapter(name)
            raise InputError(f"adapter {path} could not be loaded: {error}") from None
        self.peft.eval()

    def unload_adapter(self, name: str) -> None:
        """Unload ``name`` now, or when its in-flight decisions finish."""
        with self._lock:
            if name not in self._loaded:
                raise InputError(f"adapter '{name}' is not loaded")
            roles = [r for r, ref in self._roles.items() if ref.name == name]
            if roles:
                raise InputError(f"adapter '{name}' still serves role(s) {', '.join(roles)}")
            self._retired.add(name)
            self._reap(name)

    def _reap(self, name: str) -> None:
        if name in self._retired and self._leases[name] == 0:
            self.peft.delete_adapter(name)
            del self._loaded[name]
            self._retired.discard(name)
            logger.info("unloaded adapter %s", name)

    @property
    def adapters(self) -> dict[str, AdapterRef]:
        """Loaded adapters by internal name (retired ones still in flight included)."""
        with self._lock:
            return dict(self._loaded)

    @property
    def roles(self) -> dict[str, AdapterRef]:
        with self._lock:
            return dict(self._roles)

    def role(self, role: str) -> AdapterRef | None:
        with self._lock:
            return self._roles.get(role)

    def set_role(self, role: str, path: str | Path, version: str | None = None) -> AdapterRef:
        """Load ``path`` and point ``role`` at it atomically (the runtime swap).

        Decisions already in flight finish on the adapter they leased; the previous adapter
        is unloaded once no role points at it and its last lease ends. A refused adapter
        (see ``load_adapter``) raises InputError and leaves the current one serving.
        """
        new = self.load_adapter(path, version)
        with self._lock:
            old = self._roles.get(role)
            self._roles[role] = new
            if old is not None and all(r.name != old.name for r in self._roles.values()):
                self._retired.add(old.name)
                self._reap(old.name)
        logger.info("role %s -> %s (%s)", role, new.name, new.version)
        return new

    def attach_role(self, role: str, path: str | Path, version: str | None = None) -> AdapterRef:
        """Use ``role`` (loading ``path`` into it unless it is already there); counted, so
        agents sharing a role share one adapter copy. Pair with ``detach_role``."""
        with self._lock:
            ref = self._roles.get(role)
            if ref is None or ref.path != Path(path).expanduser().resolve():
                ref = self.set_role(role, path, version)
            self._role_users[role] += 1
            return ref

    def detach_role(self, role: str) -> None:
        """Release one use of ``role``; the last release drops it and retires its adapter."""
        with self._lock:
            self._role_users[role] -= 1
            if self._role_users[role] > 0 or role not in self._roles:
                return
            old = self._roles.pop(role)
            del self._role_users[role]
            if all(r.name != old.name for r in self._roles.values()):
                self._retired.add(old.name)
                self._reap(old.name)

    @contextlib.contextmanager
    def lease(self, adapters: Sequence[str | None]):
        """Resolve roles/names once and hold those adapters for the duration of the block."""
        with self._lock:
            refs = []
            for adapter in adapters:
                if adapter is None:
                    refs.append(None)
                    continue
                ref = self._roles.get(adapter) or self._loaded.get(adapter)
                if ref is None or ref.name in self._retired and adapter not in self._roles:
                    raise InputError(f"no adapter or role '{adapter}' in engine {self.ref.ident}")
                refs.append(ref)
            held = Counter(ref.name for ref in refs if ref is not None)
            self._leases.update(held)
        try:
            yield refs
        finally:
            with self._lock:
                self._leases.subtract(held)
                for name in held:
                    self._reap(name)
