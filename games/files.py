"""The one atomic write: a temp file (or folder) beside the target, fsync, then a rename.

A reader (a resumed run, a second process, a crash-recovery pass) sees either the old file or
the new one, never half of one. ``os.replace`` is atomic on POSIX within one file system, which
the temp name beside the target guarantees; the file's bytes are forced to disk before the
rename and the parent folder after it (so a power cut cannot keep the rename without the
bytes, nor lose the rename). The temp name carries the process id so that two processes writing
the same cache file (e.g. the CFR+ table) do not trample each other.

Folders (an adapter, a base model) are written the same way with ``atomic_dir``: into a hidden
temp folder beside the target, then renamed, so a half-written folder never has the final name.

Storage failures (disk full, quota, file too large, read-only or failing disk) become one
``StorageError`` line naming the file (``storage_error``); the temp file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from games.errors import InputError

# errno values that mean "the storage failed", not "the caller made a mistake"
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
_STORAGE_TEXTS = ("no space left on device", "database or disk is full", "storagefull",
                  "disk quota exceeded", "file too large", "disk i/o error")  # fmt: skip


class StorageError(InputError):
    """A file could not be written or read because of the storage (disk full, damaged file):
    one line naming the file. The CLI prints it without a traceback and exits 1."""


def storage_error(error: BaseException, path: str | Path | None = None) -> StorageError | None:
    """``error`` as a one-line ``StorageError`` naming ``path`` when it (or its cause) is a
    storage failure, else None. Recognises OSError errno values and the texts SQLite and
    safetensors use for them ("database or disk is full", "StorageFull")."""
    seen = error
    while seen is not None:
        if isinstance(seen, StorageError):
            return seen
        code = getattr(seen, "errno", None)
        text = str(seen).lower()
        if code in STORAGE_ERRNOS or any(t in text for t in _STORAGE_TEXTS):
            where = path or getattr(seen, "filename", None) or "a file"
            reason = os.strerror(code) if code in STORAGE_ERRNOS else _first_line(seen)
            return StorageError(f"cannot write {where}: {reason}")
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def fsync_dir(path: str | Path) -> None:
    """Force a folder's entries (a rename, a new file) to disk."""
    with contextlib.suppress(OSError):  # some file systems refuse fsync on folders
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: str | Path, data: str | bytes | Iterable[str], *, fsync: bool = True
) -> Path:
    """Write ``data`` (text, bytes, or an iterable of text chunks) to ``path`` atomically.

    ``fsync`` (default) forces the bytes to disk before the rename and the rename after it;
    ``fsync=False`` is for scratch files whose loss costs nothing (progress lines).

    Raises:
        StorageError: the disk is full or failing (one line naming ``path``); nothing of
            the new file is left behind and the old one, if any, is unchanged.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            with temp.open("wb") as handle:
                handle.write(data)
                _sync(handle, fsync)
        else:
            with temp.open("w", encoding="utf-8") as handle:
                for chunk in [data] if isinstance(data, str) else data:
                    handle.write(chunk)
                _sync(handle, fsync)
        os.replace(temp, path)
        if fsync:
            fsync_dir(path.parent)
    except OSError as error:
        wrapped = storage_error(error, path)
        if wrapped is None:
            raise
        raise wrapped from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
    return path


def _sync(handle, fsync: bool) -> None:
    handle.flush()
    if fsync:
        os.fsync(handle.fileno())


def sync_tree(folder: str | Path) -> None:
    """fsync every file of ``folder`` (recursively), then the folders themselves."""
    folder = Path(folder)
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(root)


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """``with atomic_dir(out) as tmp:`` write the folder's files into ``tmp``; on a clean exit
    they are fsynced and ``tmp`` is renamed to ``out`` (an existing ``out`` is replaced when
    ``overwrite``, else refused); on any error ``tmp`` is removed and ``out`` is unchanged.

    Raises:
        InputError: ``out`` exists and ``overwrite`` is False.
        StorageError: the disk is full or failing (one line naming ``out``).
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        yield temp
        sync_tree(temp)
        if path.exists():
            if not overwrite:
                raise InputError(f"{path} already exists; not replaced")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(temp, path)
        fsync_dir(path.parent)
    except Exception as error:
        wrapped = storage_error(error, path)
        if wrapped is None:
            raise
        # name the folder as it was asked for, not its temporary name
        raise StorageError(str(wrapped).replace(str(temp), str(path))) from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


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
