"""The adapter registry: versions, the champion per (game, base), and their history, in SQLite.

One file, ``<workspace>/registry.sqlite``, in WAL mode: a running night writes while the web
server and ``arena registry`` read, and readers never block the writer nor see half a change.
Every change of the champion (promotion, rejection, rollback) is one ``BEGIN IMMEDIATE``
transaction that writes the history row and the new state together, so a process killed at
any instant leaves either the old state or the new one. History (gate decisions, events,
rating snapshots) is append-only.

Versions: per (game, base), ``v0`` is the bare base (the first champion, so the first
candidate is gated against it), then ``v1``, ``v2``, ... in registration order, never reused:
not by this file (numbers only grow), and not by a new file either, since an empty or missing
registry beside registered adapter folders is refused (``layout.check_not_orphaned``; ``arena
registry rebuild`` reconstructs it). An adapter is registered only once its folder is complete
and verified (``verify`` callback: weights load, base matches); it gets ``registration.json``
and is moved into ``adapters/<game>/<base>/<version>/`` by one rename, so a half-written adapter
never carries a version. Paths are stored relative to the workspace (``layout``).

Readers (the web server)::

    reg = Registry.open(workspace.registry, readonly=True)   # mode=ro, never writes
    reg.champion("tic_tac_toe", "small")  -> VersionRow
    reg.versions("tic_tac_toe")           -> [VersionRow, ...]

One ``Registry`` may be shared by threads (calls are serialised by a lock); each process
opens its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from arena.registry.layout import (
    adapter_dir,
    base_key,
    check_not_orphaned,
    folder_name,
    max_number_on_disk,
    save_event,
    to_absolute,
    to_stored,
    write_registration,
)
from arena.registry.nights import NightsMixin
from arena.registry.rows import (
    ChampionRow,
    EventRow,
    GateDecisionRow,
    NightRow,
    RatingRow,
    StageRow,
    VersionRow,
    now,
)
from arena.registry.schema import check_readable, migrate, schema_version
from games import InputError
from games.files import StorageError, storage_error

__all__ = [
    "BASE_VERSION", "STATUSES", "ChampionRow", "EventRow", "GateDecisionRow", "NightRow",
    "RatingRow", "Registry", "StageRow", "VersionRow", "base_key", "folder_name", "now",
]  # fmt: skip
STATUSES = ("candidate", "champion", "rejected", "retired")
BASE_VERSION = "v0"


class Registry(NightsMixin):
    """The registry file. ``Registry.open(path)`` creates or migrates it (writers);
    ``Registry.open(path, readonly=True)`` refuses to change anything (readers)."""

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

    @staticmethod
    def open(path: str | Path, readonly: bool = False) -> Registry:
        return Registry(path, readonly)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
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

    def _all(self, cls, sql: str, args: tuple = ()) -> list:
        with self._lock:
            rows = [cls.from_row(r) for r in self._conn.execute(sql, args).fetchall()]
        if cls is VersionRow:
            rows = [dataclasses.replace(r, path=to_absolute(self.root, r.path)) for r in rows]
        return rows

    def _one(self, cls, sql: str, args: tuple = ()):
        rows = self._all(cls, sql, args)
        return rows[0] if rows else None

    @staticmethod
    def _where(**filters) -> tuple[str, tuple]:
        items = [(k, v) for k, v in filters.items() if v is not None]
        if not items:
            return "", ()
        return " WHERE " + " AND ".join(f"{k} = ?" for k, _ in items), tuple(v for _, v in items)

    # --------------------------------------------------------------------------------- reads

    def keys(self) -> list[tuple[str, str]]:
        """Every (game, base) the registry knows."""
        with self._lock:
            rows = self._conn.execute("SELECT game, base FROM champions ORDER BY game, base")
            return [(r["game"], r["base"]) for r in rows.fetchall()]

    def versions(self, game: str | None = None, base: str | None = None) -> list[VersionRow]:
        where, args = self._where(game=game, base=base)
        return self._all(
            VersionRow, f"SELECT * FROM versions{where} ORDER BY game, base, number", args
        )

    def get(self, game: str, base: str, version: str) -> VersionRow:
        """The row of ``version``; InputError naming the known versions when there is none."""
        row = self._one(
            VersionRow,
            "SELECT * FROM versions WHERE game=? AND base=? AND version=?",
            (game, base, version),
        )
        if row is None:
            known = [v.version for v in self.versions(game, base)]
            raise InputError(
                f"no version '{version}' of base '{base}' for {game} in the registry "
                f"(known: {', '.join(known) or 'none; run `arena nightly` first'})"
            )
        return row

    def find_run(self, game: str, base: str, run_id: str) -> VersionRow | None:
        """The version a training run registered, if it did (resumed nights skip training)."""
        return self._one(
            VersionRow,
            "SELECT * FROM versions WHERE game=? AND base=? AND run_id=?",
            (game, base, run_id),
        )

    def champion(self, game: str, base: str) -> VersionRow | None:
        """The champion of (game, base); None before the first night initialised it."""
        row = self._one(
            ChampionRow, "SELECT * FROM champions WHERE game=? AND base=?", (game, base)
        )
        return None if row is None else self.get(game, base, row.version)

    def champions(self) -> list[ChampionRow]:
        return self._all(ChampionRow, "SELECT * FROM champions ORDER BY game, base")

    def resolve(self, game: str, base: str, ref: str) -> VersionRow:
        """``champion`` or ``vN`` -> its row."""
        if ref == "champion":
            row = self.champion(game, base)
            if row is None:
                raise InputError(
                    f"no champion of base '{base}' for {game} in {self.path} yet "
                    "(`arena nightly` registers the base as v0)"
                )
            return row
        return self.get(game, base, ref)

    def gate_decisions(
        self, game: str | None = None, base: str | None = None, night: str | None = None
    ) -> list[GateDecisionRow]:
        where, args = self._where(game=game, base=base, night=night)
        return self._all(GateDecisionRow, f"SELECT * FROM gate_decisions{where} ORDER BY id", args)

    def events(self, game: str | None = None, base: str | None = None) -> list[EventRow]:
        """Promotions, rejections, rollbacks (and the ``init`` of v0), oldest first."""
        where, args = self._where(game=game, base=base)
        return self._all(EventRow, f"SELECT * FROM events{where} ORDER BY id", args)

    def ratings(
        self, game: str | None = None, base: str | None = None, night: str | None = None
    ) -> list[RatingRow]:
        where, args = self._where(game=game, base=base, night=night)
        return self._all(RatingRow, f"SELECT * FROM ratings{where} ORDER BY id", args)

    def latest_ratings(self, game: str, base: str) -> list[RatingRow]:
        """The most recent night's snapshot for (game, base), by rank."""
        return self._all(
            RatingRow,
            "SELECT * FROM ratings WHERE game=? AND base=? AND night = (SELECT night FROM ratings "
            "WHERE game=? AND base=? ORDER BY id DESC LIMIT 1) ORDER BY rank, player",
            (game, base, game, base),
        )

    # --------------------------------------------------------------------------- versions

    def init_base(self, game: str, base: str, actor: str, night: str | None = None) -> VersionRow:
        """Register the bare base as ``v0`` and make it the champion (no-op when known)."""
        with self._tx() as c:
            if not c.execute(
                "SELECT 1 FROM champions WHERE game=? AND base=?", (game, base)
            ).fetchone():
                at = now()
                c.execute(
                    "INSERT INTO versions VALUES (?,?,?,0,NULL,'champion',NULL,NULL,NULL,?,?)",
                    (game, base, BASE_VERSION, night, at),
                )
                event = c.execute(
                    "INSERT INTO events (game, base, kind, from_version, to_version, reason, "
                    "actor, night, gate_id, created_at) VALUES (?,?,'init',NULL,?,?,?,?,NULL,?)",
                    (game, base, BASE_VERSION, "the bare base is the first champion", actor,
                     night, at),
                ).lastrowid  # fmt: skip
                c.execute(
                    "INSERT INTO champions VALUES (?,?,?,?,?)",
                    (game, base, BASE_VERSION, at, event),
                )
        return self.get(game, base, BASE_VERSION)

    def register(
        self,
        game: str,
        base: str,
        folder: str | Path,
        parent: str | None,
        run_id: str,
        night: str | None = None,
        verify: Callable[[Path], None] | None = None,
    ) -> VersionRow:
        """Verify the complete adapter ``folder``, give it the next version and move it to
        ``adapters/<game>/<base>/<version>/`` as a ``candidate``.

        Idempotent per ``run_id``: registering the same training run again returns the
        version it already got (a resumed night never makes two versions of one run).
        ``verify(folder)`` raises InputError for an adapter that must not be registered.
        """
        done = self.find_run(game, base, run_id)
        if done is not None:
            return done
        folder = Path(folder)
        if verify is not None:
            verify(folder)
        manifest = folder / "manifest.json"
        digest = _sha256(manifest) if manifest.is_file() else None
        with self._tx() as c:
            in_db = c.execute(
                "SELECT COALESCE(MAX(number), 0) FROM versions WHERE game=? AND base=?",
                (game, base),
            ).fetchone()[0]
            # a folder left by a process killed between rename and commit keeps its number
            number = max(in_db, max_number_on_disk(self.root, game, base)) + 1
            version = f"v{number}"
            final = adapter_dir(self.root, game, base, version)
            row = {
                "game": game, "base": base, "version": version, "number": number,
                "parent": parent, "run_id": run_id, "manifest_sha256": digest, "night": night,
                "created_at": now(),
            }  # fmt: skip
            write_registration(folder, row)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder, final)
            try:
                c.execute(
                    "INSERT INTO versions VALUES (?,?,?,?,?,'candidate',?,?,?,?,?)",
                    (game, base, version, number, parent, to_stored(self.root, final), run_id,
                     digest, night, row["created_at"]),
                )  # fmt: skip
            except BaseException:
                os.replace(final, folder)
                raise
        return self.get(game, base, version)

    # ------------------------------------------------------------------------- verdicts

    def _event(self, c, game, base, kind, old, new, reason, actor, night, gate_id) -> int:
        return c.execute(
            "INSERT INTO events (game, base, kind, from_version, to_version, reason, actor, "
            "night, gate_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (game, base, kind, old, new, reason, actor, night, gate_id, now()),
        ).lastrowid

    def _crown(self, c, game, base, old: str, new: str, old_status: str, event: int) -> None:
        c.execute(
            "UPDATE versions SET status=? WHERE game=? AND base=? AND version=?",
            (old_status, game, base, old),
        )
        c.execute(
            "UPDATE versions SET status='champion' WHERE game=? AND base=? AND version=?",
            (game, base, new),
        )
        c.execute(
            "UPDATE champions SET version=?, since=?, event_id=? WHERE game=? AND base=?",
            (new, now(), event, game, base),
        )

    def _current(self, c, game: str, base: str) -> str:
        row = c.execute(
            "SELECT version FROM champions WHERE game=? AND base=?", (game, base)
        ).fetchone()
        if row is None:
            raise InputError(f"no champion of base '{base}' for {game} yet")
        return row[0]

    def record_gate(
        self,
        game: str,
        base: str,
        candidate: str,
        champion: str,
        decision: str,
        reason: str,
        report: dict,
        actor: str,
        night: str | None = None,
    ) -> tuple[GateDecisionRow, EventRow]:
        """Record a gate decision and act on it in one transaction: ``promote`` crowns the
        candidate (the champion it beat is retired), anything else rejects it.

        Idempotent per (night, candidate): a resumed night gets the recorded decision back.
        """
        self.get(game, base, candidate)
        with self._tx() as c:
            old = c.execute(
                "SELECT id FROM gate_decisions WHERE game=? AND base=? AND candidate=? AND "
                "night IS ?",
                (game, base, candidate, night),
            ).fetchone()
            if old is None:
                gate_id = c.execute(
                    "INSERT INTO gate_decisions (game, base, candidate, champion, decision, "
                    "reason, report, night, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (game, base, candidate, champion, decision, reason,
                     json.dumps(report, allow_nan=False), night, now()),
                ).lastrowid  # fmt: skip
                current = self._current(c, game, base)
                if decision == "promote":
                    if current != champion:
                        raise InputError(
                            f"{candidate} was gated against {champion}, but the champion is now "
                            f"{current}; not promoted"
                        )
                    event = self._event(
                        c, game, base, "promote", current, candidate, reason, actor, night, gate_id
                    )
                    self._crown(c, game, base, current, candidate, "retired", event)
                else:
                    self._event(
                        c, game, base, "reject", current, candidate, reason, actor, night, gate_id
                    )
                    c.execute(
                        "UPDATE versions SET status='rejected' WHERE game=? AND base=? AND "
                        "version=?",
                        (game, base, candidate),
                    )
            else:
                gate_id = old[0]
        gate = self._one(GateDecisionRow, "SELECT * FROM gate_decisions WHERE id=?", (gate_id,))
        event = self._one(EventRow, "SELECT * FROM events WHERE gate_id=?", (gate_id,))
        return gate, event

    def promote(
        self, game: str, base: str, version: str, reason: str, actor: str, night: str | None = None
    ) -> EventRow:
        """Make ``version`` the champion by hand (``arena promote``); the old one is retired."""
        return self._swap(game, base, "promote", version, "retired", reason, actor, night)

    def _swap(
        self, game, base, kind, target, demoted, reason, actor, night, verb="promoted"
    ) -> EventRow:
        """Make ``target`` the champion and give the current one status ``demoted``, recorded
        as one ``kind`` event, in a single transaction (what promote and rollback share)."""
        row = self.get(game, base, target)
        if row.path is not None and not Path(row.path).is_dir():
            raise InputError(f"{target}'s adapter folder {row.path} is missing; not {verb}")
        with self._tx() as c:
            current = self._current(c, game, base)
            if current == target:
                raise InputError(f"{target} is already the champion of {base} for {game}")
            event = self._event(c, game, base, kind, current, target, reason, actor, night,
                                None)  # fmt: skip
            self._crown(c, game, base, current, target, demoted, event)
        row = self._one(EventRow, "SELECT * FROM events WHERE id=?", (event,))
        save_event(self.root, row)
        return row

    def previous_champion(self, game: str, base: str) -> str | None:
        """The most recent former champion still in good standing (``retired``, or ``v0``)."""
        current = self.champion(game, base)
        for event in reversed(self.events(game, base)):
            if event.kind not in ("init", "promote", "rollback"):
                continue
            for candidate in (event.to_version, event.from_version):
                if not candidate or current is None or candidate == current.version:
                    continue
                if self.get(game, base, candidate).status == "retired":
                    return candidate
        return None

    def rollback(
        self,
        game: str,
        base: str,
        reason: str,
        actor: str,
        to: str | None = None,
        night: str | None = None,
    ) -> EventRow:
        """Demote the champion (status ``rejected``) and restore ``to`` (default: the previous
        champion), in one transaction."""
        if not reason.strip():
            raise InputError("a rollback needs a reason")
        target = to or self.previous_champion(game, base)
        if target is None:
            raise InputError(f"no previous champion of base '{base}' for {game} to roll back to")
        return self._swap(game, base, "rollback", target, "rejected", reason, actor, night,
                          verb="restored")  # fmt: skip

    # --------------------------------------------------------------------------- ratings

    def snapshot_ratings(self, night: str, game: str, base: str, rows: list[dict]) -> int:
        """Store a night's leaderboard (dicts with player, version, rank, rating, ci_low,
        ci_high, games, score); a night's snapshot is written once (reruns are no-ops)."""
        at = now()
        with self._tx() as c:
            before = c.total_changes
            for r in rows:
                c.execute(
                    "INSERT OR IGNORE INTO ratings (night, game, base, player, version, rank, "
                    "rating, ci_low, ci_high, games, score, created_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (night, game, base, r["player"], r.get("version"), int(r["rank"]),
                     float(r["rating"]), float(r["ci_low"]), float(r["ci_high"]),
                     int(r["games"]), float(r["score"]), at),
                )  # fmt: skip
            return c.total_changes - before


def _full(folder: Path) -> str:
    """ ", the disk holding it is full" when it is (SQLite may say "disk I/O error" then)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return ""
    return "; the disk holding it is full" if stat.f_bavail * stat.f_frsize < (1 << 20) else ""


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
