"""Run manifests: what a build or training run needs to be checked and reproduced.

A manifest (``manifest.json`` beside the run's outputs) records the resolved configuration,
seeds, sha256 of every input and output file, dataset rows and tokens, wall-clock seconds per
stage, steps, metrics (final losses), library versions, git commit and hardware. ``arena
reproduce`` reads it back with ``read_manifest``, re-runs ``config`` and compares.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from games import InputError
from games.files import write_json
from games.jsonl import require

MANIFEST_VERSION = 1
LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "trl",
    "bitsandbytes",
    "accelerate",
    "datasets",
    "open_spiel",
    "numpy",
)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_entry(path: str | Path) -> dict:
    """``{"path", "sha256", "bytes"}`` for a manifest's inputs or outputs."""
    path = Path(path)
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(root: str | Path | None = None) -> dict:
    """The commit of the source tree and whether it had uncommitted changes."""
    root = Path(root or Path(__file__).resolve().parent.parent)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip()) if commit else None}


def hardware() -> dict:
    info = {
        "machine": platform.machine(),
        "system": platform.system(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["ram_gib"] = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    if "torch" in sys.modules:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def peak_gpu_mib() -> dict[str, float]:
    """Peak CUDA memory of this process so far, in MiB: what torch allocated for tensors
    (``max_memory_allocated``) and what its caching allocator reserved from the driver
    (``max_memory_reserved``, nearer what nvidia-smi shows); empty when CUDA was not used."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    devices = range(torch.cuda.device_count())
    return {
        "peak_gpu_mib": round(max(torch.cuda.max_memory_allocated(d) for d in devices) / 2**20, 1),
        "peak_gpu_reserved_mib": round(
            max(torch.cuda.max_memory_reserved(d) for d in devices) / 2**20, 1
        ),
    }


def write_manifest(path: str | Path, manifest: dict) -> Path:
    """The one manifest writer, for training runs (``Manifest.write``) and the arena's Ray runs
    (``arena.execution.session``): stamps ``manifest_version`` and writes strict JSON atomically
    (``games.files.write_json``: non-finite numbers become null or "inf")."""
    return write_json(path, {**manifest, "manifest_version": MANIFEST_VERSION})


def environment() -> dict:
    """Library versions, git commit and hardware: the part of every manifest that says where
    and with what it ran."""
    return {"versions": library_versions(), "git": git_commit(), "hardware": hardware()}


@dataclass
class Manifest:
    """One run. ``kind``: sft-data, prefs-data, sft, dpo or eval.

    ``base`` (adapters only) is the fingerprint of the base the adapter was trained on
    (``agents.llm.model_io.base_fingerprint``): ``{"name", "path", "sha256"}``.
    """

    kind: str
    run_id: str
    config: dict
    seeds: dict = field(default_factory=dict)
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    dataset: dict = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    metrics: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    versions: dict = field(default_factory=library_versions)
    git: dict = field(default_factory=git_commit)
    hardware: dict = field(default_factory=hardware)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    manifest_version: int = MANIFEST_VERSION

    @contextmanager
    def stage(self, name: str):
        """Time a stage: ``with manifest.stage("train"): ...`` adds wall-clock seconds."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - start, 3)

    def add_inputs(self, paths) -> None:
        self.inputs.extend(file_entry(p) for p in paths)

    def add_outputs(self, paths) -> None:
        self.outputs.extend(file_entry(p) for p in paths)

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        self.metrics.setdefault("peak_rss_mib", peak_rss_mib())
        for key, value in peak_gpu_mib().items():
            self.metrics.setdefault(key, value)
        self.hardware = {**self.hardware, **hardware()}  # torch threads/GPU as the run ended
        return write_manifest(path, self.to_dict())

    @staticmethod
    def from_dict(obj: dict) -> Manifest:
        version = require(obj, "manifest_version", int)
        if version != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest_version {version}")
        for key in ("inputs", "outputs"):
            for entry in require(obj, key, list):
                if not isinstance(entry, dict) or not {"path", "sha256"} <= set(entry):
                    raise ValueError(f"'{key}' entries need 'path' and 'sha256'")
        return Manifest(
            kind=require(obj, "kind", str),
            run_id=require(obj, "run_id", str),
            config=require(obj, "config", dict),
            seeds=dict(obj.get("seeds") or {}),
            inputs=list(obj["inputs"]),
            outputs=list(obj["outputs"]),
            dataset=dict(obj.get("dataset") or {}),
            stages=dict(obj.get("stages") or {}),
            steps=int(obj.get("steps") or 0),
            metrics=dict(obj.get("metrics") or {}),
            base=dict(obj.get("base") or {}),
            versions=dict(obj.get("versions") or {}),
            git=dict(obj.get("git") or {}),
            hardware=dict(obj.get("hardware") or {}),
            created=str(obj.get("created", "")),
        )


def read_manifest(path: str | Path) -> Manifest:
    """Read ``path`` (a manifest.json, or a folder holding one).

    Raises:
        InputError: missing, not JSON, or not a manifest.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.exists():
        raise InputError(f"no manifest at {path}")
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError, TypeError) as error:
        raise InputError(f"{path}: not a valid run manifest: {error}") from None
