"""The node-local artifact cache: content-addressed copies of published bases, adapters and
datasets (``arena.execution.artifacts``), fetched through Ray and verified by their hashes.

Layout under ``$ARENA_ARTIFACT_CACHE`` (default ``$ARENA_CACHE/artifacts``, where
``$ARENA_CACHE``, default ``~/.cache/arena``, is also where the CFR tables live)::

    objects/<key>/<name>      the artifact, under its own name (a folder or a file)
    objects/<key>/.used       touched at every use: the least recently used is evicted first
    locks/<key>.lock          flock, shared while a process uses the entry (never evicted
                              then), exclusive while an evictor removes it
    locks/<key>.fetch         flock: one process at a time checks or downloads the entry
    tmp/                      downloads in progress, renamed into objects/ when verified

Safe when several processes of one node want the same object: the first to take the entry's
fetch lock downloads into a temporary folder that is renamed into place only when every file's
sha256 matches; the others wait on that lock and then find it. Every process verifies an
entry's hashes the first time it uses it, so a damaged copy (disk error, a person editing the
cache) is detected, removed and fetched again. The cache stays under ``$ARENA_ARTIFACT_CACHE_GB``
(default 20): after each download the least recently used entries that no process holds are
removed. A file is streamed in ``CHUNK_BYTES`` ranges with a few in flight, so a base of
several GB never sits in memory whole.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from arena.execution.artifacts import CHUNK_BYTES, ArtifactRef
from games import InputError

logger = logging.getLogger(__name__)
WINDOW = 4  # byte ranges in flight per file
DEFAULT_MAX_GB = 20.0
STALE_TMP_S = 6 * 3600


def cache_root() -> Path:
    """``$ARENA_ARTIFACT_CACHE``, else ``$ARENA_CACHE/artifacts`` (``~/.cache/arena``)."""
    if os.environ.get("ARENA_ARTIFACT_CACHE"):
        return Path(os.environ["ARENA_ARTIFACT_CACHE"]).expanduser()
    base = os.environ.get("ARENA_CACHE") or Path.home() / ".cache" / "arena"
    return Path(base).expanduser() / "artifacts"


def cache_limit() -> int:
    """``$ARENA_ARTIFACT_CACHE_GB`` in bytes."""
    raw = os.environ.get("ARENA_ARTIFACT_CACHE_GB", str(DEFAULT_MAX_GB))
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    if not (gb > 0 and gb < 1e6):
        raise InputError(f"$ARENA_ARTIFACT_CACHE_GB must be a positive number, got {raw!r}")
    return int(gb * 1e9)


@dataclass
class CacheStats:
    hits: int = 0
    fetched: int = 0
    fetched_bytes: int = 0
    corrupt: int = 0
    evicted: int = 0


class ArtifactCache:
    """One process's view of the node's cache (see the module docstring)."""

    def __init__(self, root: str | Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes
        for sub in ("objects", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        self._pins: dict[str, object] = {}  # key -> open lock file holding a shared flock

    def path(self, ref: ArtifactRef) -> Path:
        return self.root / "objects" / ref.key / ref.name

    def fetch(self, ref: ArtifactRef, server) -> Path:
        """The verified local copy of ``ref``, fetched from ``server`` when missing or damaged;
        held (never evicted) by this process until ``release``."""
        ref.check()
        entry = self.root / "objects" / ref.key
        if ref.key in self._pins:  # verified by this process, and held since
            _touch(entry)
            self.stats.hits += 1
            return self.path(ref)
        pin = (self.root / "locks" / f"{ref.key}.lock").open("a+")
        try:
            fcntl.flock(pin, fcntl.LOCK_SH)  # from now on no evictor removes the entry
            with (self.root / "locks" / f"{ref.key}.fetch").open("a+") as guard:
                fcntl.flock(guard, fcntl.LOCK_EX)  # one process checks or downloads at a time
                problem = verify(self.path(ref), ref) if entry.is_dir() else "missing"
                if problem is None:
                    self.stats.hits += 1
                elif problem != "missing":
                    logger.warning("cache entry %s (%s) is damaged: %s; fetching it again",
                                   ref.key[:12], ref.name, problem)  # fmt: skip
                    self.stats.corrupt += 1
                if problem is not None:
                    self._download(ref, server, entry)
                _touch(entry)
        except BaseException:
            pin.close()
            raise
        self._pins[ref.key] = pin
        if problem is not None:
            self.evict()
        return self.path(ref)

    def release(self) -> None:
        """Stop holding every entry (a Ray task's process lives on after the task)."""
        for lock in self._pins.values():
            lock.close()
        self._pins.clear()

    def entries(self) -> dict[str, int]:
        """Key -> bytes of every entry now in the cache."""
        out = {}
        for entry in (self.root / "objects").iterdir():
            if entry.is_dir():
                out[entry.name] = sum(
                    p.stat().st_size for p in entry.rglob("*") if p.is_file() and p.name != ".used"
                )
        return out

    def evict(self) -> None:
        """Remove least recently used entries no process holds until under ``max_bytes``."""
        with (self.root / ".evict.lock").open("a+") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            sizes = self.entries()
            total = sum(sizes.values())
            by_age = sorted(sizes, key=lambda k: _used(self.root / "objects" / k))
            for key in by_age:
                if total <= self.max_bytes:
                    break
                if key in self._pins:
                    continue
                with (self.root / "locks" / f"{key}.lock").open("a+") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # another process uses it
                    self._remove(self.root / "objects" / key)
                total -= sizes[key]
                self.stats.evicted += 1
            self._sweep_tmp()

    def _download(self, ref: ArtifactRef, server, entry: Path) -> None:
        """Into a temporary folder, then in place of ``entry`` (a damaged one goes to the trash:
        processes that loaded it before keep their open files)."""
        temp = self.root / "tmp" / f"{ref.key}.{os.getpid()}.{secrets.token_hex(4)}"
        target = temp / ref.name
        try:
            for attempt in (1, 2):
                try:
                    for index, item in enumerate(ref.files):
                        path = target if ref.kind == "file" else target / item.path
                        self.stats.fetched_bytes += _stream(server, ref.key, index, item, path)
                    break
                except _Mismatch as error:
                    if attempt == 2:
                        raise RuntimeError(f"artifact {ref.name}: {error} twice") from None
                    logger.warning("artifact %s: %s; fetching again", ref.name, error)
                    shutil.rmtree(temp, ignore_errors=True)
            self._remove(entry)
            os.rename(temp, entry)
            self.stats.fetched += 1
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def _remove(self, entry: Path) -> None:
        """Rename out of ``objects/`` (atomic for readers), then delete."""
        trash = self.root / "tmp" / f"trash-{entry.name}-{secrets.token_hex(4)}"
        try:
            os.rename(entry, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def _sweep_tmp(self) -> None:
        """Downloads left by killed processes."""
        now = time.time()
        for temp in (self.root / "tmp").iterdir():
            try:
                if now - temp.stat().st_mtime > STALE_TMP_S:
                    shutil.rmtree(temp, ignore_errors=True)
            except FileNotFoundError:
                continue


class _Mismatch(Exception):
    pass


def _stream(server, key: str, index: int, item, path: Path) -> int:
    """Fetch one file in byte ranges (``WINDOW`` in flight), hashing as it is written."""
    import ray

    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = iter(range(0, item.size, CHUNK_BYTES))
    pending: deque = deque()

    def ask() -> None:
        offset = next(offsets, None)
        if offset is not None:
            pending.append(server.read.remote(key, index, offset, CHUNK_BYTES))

    for _ in range(WINDOW):
        ask()
    digest, written = hashlib.sha256(), 0
    with path.open("wb") as out:
        while pending:
            block = ray.get(pending.popleft())
            ask()
            digest.update(block)
            out.write(memoryview(block))
            written += len(block)
            del block
    if written != item.size or digest.hexdigest() != item.sha256:
        raise _Mismatch(f"{item.path} arrived with another size or sha256")
    return written


def verify(path: Path, ref: ArtifactRef) -> str | None:
    """None when every file of the local copy has its size and sha256, else what differs."""
    from training.manifest import sha256_file

    for item in ref.files:
        file = path if ref.kind == "file" else path / item.path
        if not file.is_file():
            return f"{item.path} is missing"
        if file.stat().st_size != item.size:
            return f"{item.path} has {file.stat().st_size} bytes, not {item.size}"
        if sha256_file(file) != item.sha256:
            return f"{item.path} has another sha256"
    return None


def _touch(entry: Path) -> None:
    (entry / ".used").touch()


def _used(entry: Path) -> float:
    try:
        return (entry / ".used").stat().st_mtime
    except FileNotFoundError:
        return 0.0


_NODE_CACHE: ArtifactCache | None = None


def node_cache() -> ArtifactCache:
    """This process's cache of the node (``cache_root()``, ``cache_limit()``)."""
    global _NODE_CACHE
    root, limit = cache_root(), cache_limit()
    if _NODE_CACHE is None or _NODE_CACHE.root != root or _NODE_CACHE.max_bytes != limit:
        _NODE_CACHE = ArtifactCache(root, limit)
    return _NODE_CACHE
