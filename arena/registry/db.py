"""The registry's SQLite file: opening it (created and migrated for writers, read-only for
readers), one write transaction at a time, and typed row reads. What the rows mean lives in
``queries`` (reads), ``lifecycle`` (versions and the champion) and ``nights`` (nights, stages,
rating snapshots), each a set of functions of a ``Store``; ``store.Registry`` gathers them.

One file, ``<workspace>/registry.sqlite``, in WAL mode: a running night writes while the web
server and ``arena registry`` read, and readers never block the writer nor see half a change.
Every change is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any instant leaves
either the old state or the new one. One ``Store`` may be shared by threads (calls are
serialised by a lock); each process opens its own.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arena.registry.layout import check_not_orphaned, to_absolute
from arena.registry.rows import VersionRow
from arena.registry.schema import check_readable, migrate, schema_version
from games import InputError
from games.files import StorageError, storage_error


class Store:
    """The registry file. ``Store(path)`` creates or migrates it (writers);
    ``Store(path, readonly=True)`` refuses to change anything (readers)."""

    def __init__(self, path: str | Path, readonly: bool = False, _rebuilding: bool = False):
        self.path = Path(path).expanduser().resolve()
        self.readonly = readonly
        self.root = self.path.parent  # the workspace: stored paths are relative to it
        self.adapters_root = self.root / "adapters"
        self._lock = threading.RLock()
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        if fresh and not _rebuilding:
            check_not_orphaned(self.path)
        if readonly:
            if not self.path.is_file():
                raise InputError(f"no registry at {self.path} (run `arena nightly` first)")
            uri = f"file:{self.path}?mode=ro"
            self._conn = sqlite3.connect(
                uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=30, isolation_level=None, check_same_thread=False
            )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA busy_timeout=30000")
            if not readonly:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            if not _rebuilding and schema_version(self._conn) == 0:
                check_not_orphaned(self.path)  # a file emptied of its tables
            if readonly:
                # schema 1 differs only in how paths are stored, which reads convert
                if check_readable(self._conn, str(self.path)) == 0:
                    raise InputError(f"registry {self.path} is empty (run `arena nightly` first)")
            else:
                migrate(self._conn, str(self.path))
        except sqlite3.DatabaseError as error:
            self._conn.close()
            if storage_error(error) is not None:
                raise StorageError(f"registry {self.path}: {error}") from None
            raise InputError(
                f"registry {self.path} is not a readable SQLite file ({error}); restore it "
                "from a backup, or move it away and run `arena registry rebuild`"
            ) from None
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: takes the write lock up front)."""
        if self.readonly:
            raise InputError(f"registry {self.path} is open read-only")
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    # SQLite rolls back by itself after some errors (a full disk at COMMIT);
                    # a second ROLLBACK would replace the real error with "no transaction"
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as error:
                if storage_error(error) is None:
                    raise
                raise StorageError(f"registry {self.path}: {error}{_full(self.root)}") from None

    def select(self, cls, sql: str, args: tuple = ()) -> list:
        """Rows of ``sql`` as ``cls`` (a ``rows`` dataclass); version paths made absolute."""
        with self._lock:
            rows = [cls.from_row(r) for r in self._conn.execute(sql, args).fetchall()]
        if cls is VersionRow:
            rows = [dataclasses.replace(r, path=to_absolute(self.root, r.path)) for r in rows]
        return rows

    def select_one(self, cls, sql: str, args: tuple = ()):
        rows = self.select(cls, sql, args)
        return rows[0] if rows else None

    def values(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Plain rows of ``sql`` (no dataclass)."""
        with self._lock:
            return self._conn.execute(sql, args).fetchall()


def where(**filters) -> tuple[str, tuple]:
    """`` WHERE a = ? AND b = ?`` of the filters that are not None, and their values."""
    items = [(k, v) for k, v in filters.items() if v is not None]
    if not items:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k, _ in items), tuple(v for _, v in items)


def _full(folder: Path) -> str:
    """ ", the disk holding it is full" when it is (SQLite may say "disk I/O error" then)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return ""
    return "; the disk holding it is full" if stat.f_bavail * stat.f_frsize < (1 << 20) else ""
