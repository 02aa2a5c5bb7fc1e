"""Validated JSONL reading and writing, shared by match logs and training datasets.

Every line is parsed into a typed record by a ``from_dict`` that raises ``ValueError`` on any
problem. By default the first bad line stops the read with an error naming the file and line.
With ``skip_bad=True`` bad lines are moved, verbatim, to a quarantine file (``<file>.bad``
beside the input unless given) together with the reason, and counted: nothing is dropped
silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from games import InputError

T = TypeVar("T")


class RecordError(InputError):
    """A malformed line: names the file and 1-based line number."""


@dataclass
class ReadStats:
    read: int = 0
    bad: int = 0
    quarantine: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)


def iter_jsonl(
    path: str | Path,
    parse: Callable[[dict], T],
    *,
    skip_bad: bool = False,
    quarantine: str | Path | None = None,
    stats: ReadStats | None = None,
) -> Iterator[T]:
    """Yield ``parse(obj)`` for each non-blank line of ``path``, streaming.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RecordError: a line is not valid JSON or fails validation (unless ``skip_bad``).
    """
    path = Path(path)
    stats = stats if stats is not None else ReadStats()
    qpath = Path(quarantine) if quarantine else path.with_name(path.name + ".bad")
    qfile = None
    try:
        with path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
                    record = parse(obj)
                except (ValueError, TypeError, KeyError) as error:
                    reason = str(error) or type(error).__name__
                    if not skip_bad:
                        raise RecordError(f"{path}:{number}: {reason}") from None
                    if qfile is None:
                        qfile = qpath.open("a", encoding="utf-8")
                        stats.quarantine = qpath
                    qfile.write(
                        json.dumps(
                            {
                                "file": str(path),
                                "line": number,
                                "reason": reason,
                                "text": line.rstrip("\n"),
                            }
                        )
                        + "\n"
                    )
                    stats.bad += 1
                    key = reason.split(":")[0][:60]
                    stats.reasons[key] = stats.reasons.get(key, 0) + 1
                    continue
                stats.read += 1
                yield record
    finally:
        if qfile is not None:
            qfile.close()


class JsonlWriter:
    """Appends one JSON object per line and flushes each, so a crash loses at most one line."""

    def __init__(self, path: str | Path, mode: str = "a"):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open(mode, encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot write {self.path}: {error.strerror}") from None

    def write(self, obj: dict) -> None:
        self._file.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def require(obj: dict, key: str, kind: type | tuple[type, ...], where: str = "") -> object:
    """``obj[key]`` checked against ``kind``; a ValueError naming the field otherwise."""
    if key not in obj:
        raise ValueError(f"{where}missing field '{key}'")
    value = obj[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and kind in (int, float):
        raise ValueError(f"{where}field '{key}' must be {kind.__name__}, got bool")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ValueError(f"{where}field '{key}' must be {names}, got {type(value).__name__}")
    return value
