"""The registry's SQLite schema, its version and the migrations between versions.

``SCHEMA_VERSION`` is stored in ``meta``; ``migrate`` brings an older file up to date in one
transaction, and a file written by a newer arena (a higher version) is refused with a clear
message instead of being misread. Rows of the history tables (``gate_decisions``, ``events``,
``ratings``) are only ever inserted; ``versions.status``, ``champions`` and the night/stage
bookkeeping are the only rows that change, and always in the same transaction as the history
row that explains the change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from arena.registry.layout import to_stored
from games import InputError

SCHEMA_VERSION = 2


def _relative_paths(conn: sqlite3.Connection, path: str) -> None:
    """Schema 2: adapter paths relative to the workspace (``adapters/<game>/<base>/<v>``).
    Schema 1 stored absolute paths, so a copied workspace read the original's adapters."""
    root = Path(path).parent
    rows = conn.execute("SELECT rowid, path FROM versions WHERE path IS NOT NULL").fetchall()
    for rowid, stored in rows:
        conn.execute("UPDATE versions SET path=? WHERE rowid=?", (to_stored(root, stored), rowid))


# MIGRATIONS[n] takes a file from schema version n to n + 1 (0: an empty file): SQL, or a
# function of (connection, registry path) for a step that rewrites values.
MIGRATIONS: dict[int, str | Callable[[sqlite3.Connection, str], None]] = {
    0: """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE versions (
    game TEXT NOT NULL,
    base TEXT NOT NULL,
    version TEXT NOT NULL,           -- v0 (the bare base), v1, v2, ... never reused
    number INTEGER NOT NULL,
    parent TEXT,                     -- version it was trained from (NULL for v0)
    status TEXT NOT NULL CHECK (status IN ('candidate', 'champion', 'rejected', 'retired')),
    path TEXT,                       -- adapter folder, relative to the workspace (NULL: v0)
    run_id TEXT,                     -- training run that made it
    manifest_sha256 TEXT,            -- sha256 of the adapter's manifest.json
    night TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (game, base, version),
    UNIQUE (game, base, number)
);
CREATE TABLE champions (
    game TEXT NOT NULL,
    base TEXT NOT NULL,
    version TEXT NOT NULL,
    since TEXT NOT NULL,
    event_id INTEGER,
    PRIMARY KEY (game, base)
);
CREATE TABLE gate_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    game TEXT NOT NULL,
    base TEXT NOT NULL,
    candidate TEXT NOT NULL,
    champion TEXT NOT NULL,
    decision TEXT NOT NULL,          -- promote | reject | invalid (refused before any game)
    reason TEXT NOT NULL,
    report TEXT NOT NULL,            -- the full gate report (JSON)
    night TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    game TEXT NOT NULL,
    base TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('init', 'promote', 'reject', 'rollback')),
    from_version TEXT,
    to_version TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,             -- who/what: "nightly:<night>", "cli:<user>", ...
    night TEXT,
    gate_id INTEGER,
    created_at TEXT NOT NULL
);
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    night TEXT NOT NULL,
    game TEXT NOT NULL,
    base TEXT NOT NULL,
    player TEXT NOT NULL,            -- agent spec as played (llm:BASE@v3, mcts:50, ...)
    version TEXT,                    -- registry version for LLM players, else NULL
    rank INTEGER NOT NULL,
    rating REAL NOT NULL,            -- Bradley-Terry, Elo scale
    ci_low REAL NOT NULL,
    ci_high REAL NOT NULL,
    games INTEGER NOT NULL,
    score REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (night, game, base, player)
);
CREATE TABLE nights (
    night TEXT PRIMARY KEY,
    config TEXT NOT NULL,            -- the resolved nightly config (JSON)
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    outcome TEXT,                    -- promoted | rejected | failed (the exit status)
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE stages (
    night TEXT NOT NULL,
    game TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 1,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    seconds REAL,
    result TEXT,                     -- the stage's outputs and numbers (JSON)
    error TEXT,
    PRIMARY KEY (night, game, stage)
);
CREATE INDEX events_by_key ON events (game, base, id);
CREATE INDEX gates_by_key ON gate_decisions (game, base, id);
CREATE INDEX ratings_by_key ON ratings (game, base, night);
""",
    1: _relative_paths,
}


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version (0 for an empty file)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def check_readable(conn: sqlite3.Connection, path: str) -> int:
    """Refuse a registry written by a newer arena; return its version."""
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise InputError(
            f"registry {path} has schema version {found}, newer than this arena's "
            f"({SCHEMA_VERSION}); upgrade arena to read it"
        )
    return found


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the file to ``SCHEMA_VERSION`` (in one transaction), or refuse a newer one."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = check_readable(conn, path)
        for step in range(found, SCHEMA_VERSION):
            migration = MIGRATIONS[step]
            if callable(migration):
                migration(conn, path)
                continue
            for statement in _statements(migration):
                conn.execute(statement)
        if found < SCHEMA_VERSION:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit implicitly)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
