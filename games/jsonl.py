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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from games import InputError
from games.files import storage_error

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
    seen: set[tuple] = set()
    if path.exists() and not path.is_file():  # /dev/zero, a FIFO: endless or blocking reads
        raise RecordError(f"{path}: not a regular file")
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(_lines(handle), start=1):
                text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
                if not raw.strip():
                    continue
                try:
                    record = parse(_object(raw))
                # wrong shapes (a seat that is null, a list too short) fail as these too
                except (
                    ValueError,
                    TypeError,
                    KeyError,
                    AttributeError,
                    IndexError,
                    RecursionError,
                ) as error:
                    reason = str(error) or type(error).__name__
                    if isinstance(error, RecursionError):
                        reason = "JSON nested too deeply"
                    if not skip_bad:
                        raise RecordError(f"{path}:{number}: {reason}") from None
                    if qfile is None:
                        seen = _quarantined(qpath)
                        qfile = qpath.open("a", encoding="utf-8")
                        stats.quarantine = qpath
                    # idempotent: a rerun over the same file does not add the same entry again
                    key = (str(path), number, text)
                    if key not in seen:
                        seen.add(key)
                        entry = {"file": str(path), "line": number, "reason": reason, "text": text}
                        qfile.write(json.dumps(entry) + "\n")
                    stats.bad += 1
                    key = reason.split(":")[0][:60]
                    stats.reasons[key] = stats.reasons.get(key, 0) + 1
                    continue
                stats.read += 1
                yield record
    finally:
        if qfile is not None:
            qfile.close()


MAX_LINE_BYTES = 64 << 20  # one record; a longer "line" is refused, never read whole


class _TooLong(bytes):
    """The start of a line longer than ``MAX_LINE_BYTES`` (the rest was skipped)."""


def _lines(handle) -> Iterator[bytes]:
    """The file's lines as bytes; a line over ``MAX_LINE_BYTES`` is cut and reported bad."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield _TooLong(raw[:200])
            continue
        yield raw


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _object(raw: bytes) -> dict:
    """One line as a JSON object; ValueError naming the problem (bytes, syntax, type)."""
    if isinstance(raw, _TooLong):
        raise ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start + 1} of the line)") from None
    obj = json.loads(line, parse_constant=_refuse_constant)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if _SURROGATE_ESCAPE.search(line):
        _check_unicode(obj)
    return obj


# "\ud800" is valid JSON but not Unicode text: alone, such a surrogate cannot be written back as
# UTF-8 (found by the fuzz suite: a dataset builder failed hashing a row). Pairs are fine.
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")


def _check_unicode(value) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "a string holds a lone surrogate (\\ud800-\\udfff): not Unicode"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)


def _quarantined(qpath: Path) -> set[tuple]:
    """The (file, line, text) entries a quarantine file already holds."""
    seen: set[tuple] = set()
    if not qpath.exists():
        return seen
    with qpath.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
                seen.add((entry["file"], entry["line"], entry["text"]))
            except (ValueError, KeyError, TypeError):
                continue
    return seen


class JsonlWriter:
    """Appends one JSON object per line, each line in one unbuffered write, so a crash loses
    at most that line. A write that fails (disk full) is cut back to the last whole line and
    raised as one ``StorageError`` line naming the file: no torn line is left behind."""

    def __init__(self, path: str | Path, mode: str = "a"):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open(mode + "b", buffering=0)
        except OSError as error:
            raise storage_error(error, self.path) or InputError(
                f"cannot write {self.path}: {error.strerror}"
            ) from None

    def write(self, obj: dict) -> None:
        line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        start = self._file.seek(0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[self._file.write(view) :]
        except OSError as error:
            try:
                os.ftruncate(self._file.fileno(), start)  # never leave a torn line
            except OSError:
                pass
            raise storage_error(error, self.path) or error from None

    def sync(self) -> None:
        try:
            os.fsync(self._file.fileno())
        except OSError as error:
            raise storage_error(error, self.path) or error from None

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
