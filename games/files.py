"""The one atomic write: a temp file beside the target, then a rename.

A reader (a resumed run, a second process, a crash-recovery pass) sees either the old file or
the new one, never half of one. ``os.replace`` is atomic on POSIX within one file system, which
the temp file beside the target guarantees. The temp name carries the process id so that two
processes writing the same cache file (e.g. the CFR+ table) do not trample each other.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: str | Path, text: str | Iterable[str], *, fsync: bool = False) -> Path:
    """Write ``text`` (a string or an iterable of chunks) to ``path`` atomically.

    ``fsync=True`` also forces the bytes to disk before the rename (match shards, whose loss
    would cost games); reports and manifests skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("w", encoding="utf-8") as handle:
            for chunk in [text] if isinstance(text, str) else text:
                handle.write(chunk)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """``atomic_write`` for bytes (adapter weights received from another node)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def json_safe(value):
    """JSON without NaN/Infinity tokens: +-inf become ``"inf"``/``"-inf"``, NaN becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: str | Path, obj, *, indent: int = 1, sort_keys: bool = False) -> Path:
    """``obj`` as strict JSON (see ``json_safe``), written atomically."""
    text = json.dumps(json_safe(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
    return atomic_write(path, text + "\n")
