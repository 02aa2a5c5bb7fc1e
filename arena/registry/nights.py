"""The registry's night bookkeeping: which nights ran, each stage's status, attempts, time and
result (what lets ``arena nightly`` resume a night without redoing finished stages), and each
night's rating snapshot. Functions of a ``db.Store`` (methods of ``store.Registry``)."""

from __future__ import annotations

import json

from arena.registry.db import Store
from arena.registry.rows import NightRow, StageRow, now


def nights(store: Store) -> list[NightRow]:
    return store.select(NightRow, "SELECT * FROM nights ORDER BY started_at, night")


def night(store: Store, night: str) -> NightRow | None:
    return store.select_one(NightRow, "SELECT * FROM nights WHERE night=?", (night,))


def stages(store: Store, night: str) -> list[StageRow]:
    return store.select(
        StageRow, "SELECT * FROM stages WHERE night=? ORDER BY started_at", (night,)
    )


def stage(store: Store, night: str, game: str, stage: str) -> StageRow | None:
    return store.select_one(
        StageRow,
        "SELECT * FROM stages WHERE night=? AND game=? AND stage=?",
        (night, game, stage),
    )


def begin_night(store: Store, night_id: str, config: dict) -> NightRow:
    """Start (or resume) ``night_id``; a resumed night keeps its first config."""
    with store.transaction() as c:
        c.execute(
            "INSERT OR IGNORE INTO nights VALUES (?,?,'running',NULL,?,NULL)",
            (night_id, json.dumps(config, sort_keys=True), now()),
        )
        c.execute("UPDATE nights SET status='running', finished_at=NULL WHERE night=?", (night_id,))
    return night(store, night_id)


def finish_night(store: Store, night_id: str, status: str, outcome: str | None) -> None:
    with store.transaction() as c:
        c.execute(
            "UPDATE nights SET status=?, outcome=?, finished_at=? WHERE night=?",
            (status, outcome, now(), night_id),
        )


def stage_started(store: Store, night_id: str, game: str, name: str) -> StageRow:
    with store.transaction() as c:
        c.execute(
            "INSERT INTO stages (night, game, stage, status, attempts, started_at) "
            "VALUES (?,?,?,'running',1,?) ON CONFLICT (night, game, stage) DO UPDATE SET "
            "status='running', attempts=attempts+1, error=NULL",
            (night_id, game, name, now()),
        )
    return stage(store, night_id, game, name)


def stage_done(
    store: Store, night_id: str, game: str, name: str, seconds: float, result: dict
) -> None:
    with store.transaction() as c:
        c.execute(
            "UPDATE stages SET status='done', finished_at=?, seconds=?, result=? "
            "WHERE night=? AND game=? AND stage=?",
            (now(), seconds, json.dumps(result, allow_nan=False), night_id, game, name),
        )


def stage_failed(store: Store, night_id: str, game: str, name: str, error: str) -> None:
    with store.transaction() as c:
        c.execute(
            "UPDATE stages SET status='failed', finished_at=?, error=? "
            "WHERE night=? AND game=? AND stage=?",
            (now(), error, night_id, game, name),
        )


def snapshot_ratings(store: Store, night_id: str, game: str, base: str, rows: list[dict]) -> int:
    """Store a night's leaderboard (dicts with player, version, rank, rating, ci_low,
    ci_high, games, score); a night's snapshot is written once (reruns are no-ops)."""
    at = now()
    with store.transaction() as c:
        before = c.total_changes
        for r in rows:
            c.execute(
                "INSERT OR IGNORE INTO ratings (night, game, base, player, version, rank, "
                "rating, ci_low, ci_high, games, score, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (night_id, game, base, r["player"], r.get("version"), int(r["rank"]),
                 float(r["rating"]), float(r["ci_low"]), float(r["ci_high"]),
                 int(r["games"]), float(r["score"]), at),
            )  # fmt: skip
        return c.total_changes - before
