"""The registry's rows as frozen dataclasses (what readers such as the web server get)."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, fields

STATUSES = ("candidate", "champion", "rejected", "retired")  # a version's status
BASE_VERSION = "v0"  # the bare base: the first champion of every (game, base)


def now() -> str:
    """UTC timestamp, ISO 8601 with milliseconds."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class _Row:
    @classmethod
    def from_row(cls, row: sqlite3.Row):
        values = {}
        for f in fields(cls):
            value = row[f.name]
            if f.name in ("report", "config", "result") and isinstance(value, str):
                value = json.loads(value)
            values[f.name] = value
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class VersionRow(_Row):
    """An adapter version (``path`` None: ``v0``, the bare base)."""

    game: str
    base: str
    version: str
    number: int
    parent: str | None
    status: str
    path: str | None
    run_id: str | None
    manifest_sha256: str | None
    night: str | None
    created_at: str


@dataclass(frozen=True)
class ChampionRow(_Row):
    game: str
    base: str
    version: str
    since: str
    event_id: int | None


@dataclass(frozen=True)
class GateDecisionRow(_Row):
    """A gate decision with its full report (``report``: the gate run's JSON)."""

    id: int
    game: str
    base: str
    candidate: str
    champion: str
    decision: str
    reason: str
    report: dict
    night: str | None
    created_at: str


@dataclass(frozen=True)
class EventRow(_Row):
    """A change of the champion or a verdict: ``init``, ``promote``, ``reject``, ``rollback``."""

    id: int
    game: str
    base: str
    kind: str
    from_version: str | None
    to_version: str
    reason: str
    actor: str
    night: str | None
    gate_id: int | None
    created_at: str


@dataclass(frozen=True)
class RatingRow(_Row):
    """One player's Bradley-Terry rating (Elo scale, 95% interval) in a night's snapshot."""

    id: int
    night: str
    game: str
    base: str
    player: str
    version: str | None
    rank: int
    rating: float
    ci_low: float
    ci_high: float
    games: int
    score: float
    created_at: str


@dataclass(frozen=True)
class NightRow(_Row):
    night: str
    config: dict
    status: str
    outcome: str | None
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class StageRow(_Row):
    night: str
    game: str
    stage: str
    status: str
    attempts: int
    started_at: str
    finished_at: str | None
    seconds: float | None
    result: dict | None
    error: str | None
