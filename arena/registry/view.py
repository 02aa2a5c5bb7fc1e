"""What the server and the leaderboard read from the registry, behind one small interface.

The registry (SQLite, ``arena.registry.store``) holds adapter versions, the champion per
(game, base), gate decisions, promotions and rollbacks, and nightly rating snapshots. The
people-facing parts need only a read-only view of it; keeping every registry call in this
module means a change of the registry's API is a change here only. Without a registry file
(a fresh workspace) every query answers "nothing yet".
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from games import InputError
from games.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionInfo:
    """One adapter version (``path`` None: the bare base serving as a version, e.g. v0)."""

    game: str
    base: str
    version: str
    status: str
    parent: str | None = None
    path: Path | None = None
    created_at: str | None = None
    night: str | None = None
    run_id: str | None = None
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GateEvent:
    """A gate decision, promotion or rollback, with the report behind it when there is one."""

    when: str
    kind: str
    version: str | None
    reason: str = ""
    base: str = ""
    night: str | None = None
    gate_id: int | None = None
    previous: str | None = None
    actor: str = ""
    numbers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RatingPoint:
    """One player's rating in one night's snapshot."""

    night: str
    player: str
    rating: float
    ci_low: float
    ci_high: float
    games: int = 0
    base: str = ""


class RegistryUnavailable(InputError):
    """The registry file exists but cannot be read now (damaged, being restored, or emptied
    beside registered adapters): the server answers 503 and tries again on the next request."""


class RegistryView:
    """Read-only queries the server and ``arena leaderboard`` make.

    The registry file is opened read-only on first use and reopened when it appears later (a
    server started before the first night) or is replaced (a restored backup); a missing
    registry reads as empty. One that cannot be read raises ``RegistryUnavailable`` (logged
    once per distinct cause, not on every poll) until it can be read again: no restart needed.
    """

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self._registry = None
        self._identity: tuple | None = None
        self._lock = threading.Lock()
        self._logged: str | None = None

    def _drop(self) -> None:
        if self._registry is not None:
            try:
                self._registry.close()
            except sqlite3.Error:
                pass
        self._registry, self._identity = None, None

    def _unavailable(self, error: Exception) -> RegistryUnavailable:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if text != self._logged:
            logger.error("registry unavailable: %s", text)
            self._logged = text
        return RegistryUnavailable(
            f"the registry cannot be read now ({text}); it is read again on the next request"
        )

    def _open(self):
        from arena.registry.store import Registry

        with self._lock:
            path = self.workspace.registry
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                self._drop()
                stat = None
            # a replaced file (a restored backup, a rebuild) or one written in place since it
            # was opened (a checkpoint, or damage) is opened again: SQLite's page cache would
            # otherwise keep answering from the old bytes
            identity = None if stat is None else (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
            if self._registry is not None and identity != self._identity:
                self._drop()
            if self._registry is None and (stat is not None or _has_adapters(self.workspace)):
                try:
                    self._registry = Registry.open(path, readonly=True)
                    self._identity = identity
                except (InputError, sqlite3.Error) as error:
                    raise self._unavailable(error) from None
            if self._registry is not None and self._logged is not None:
                logger.warning("registry readable again")
                self._logged = None
            return self._registry

    def _read(self, query, default):
        """``query(registry)``, or ``default`` without a registry file; a file that stopped
        being readable mid-way is closed (reopened next time) and raises RegistryUnavailable."""
        reg = self._open()
        if reg is None:
            return default
        try:
            return query(reg)
        except sqlite3.DatabaseError as error:
            with self._lock:
                self._drop()
                raise self._unavailable(error) from None

    @property
    def available(self) -> bool:
        return self._open() is not None

    def bases(self, game: str | None = None) -> list[str]:
        keys = self._read(lambda reg: reg.keys(), [])
        return sorted({b for g, b in keys if game is None or g == game})

    def champion(self, game: str, base: str) -> VersionInfo | None:
        row = self._read(lambda reg: reg.champion(game, base), None)
        return _info(row) if row else None

    def versions(self, game: str, base: str | None = None) -> list[VersionInfo]:
        return [_info(r) for r in self._read(lambda reg: reg.versions(game, base), [])]

    def version(self, game: str, version: str, base: str | None = None) -> VersionInfo | None:
        for info in self.versions(game, base):
            if info.version == version:
                return info
        return None

    def events(self, game: str) -> list[GateEvent]:
        rows = self._read(lambda reg: (reg.gate_decisions(game), reg.events(game)), ([], []))
        gates = {g.id: g for g in rows[0]}
        out = []
        for e in rows[1]:
            gate = gates.get(e.gate_id) if e.gate_id is not None else None
            kind = {"promote": "promoted", "reject": "rejected", "rollback": "rolled back"}
            out.append(
                GateEvent(
                    when=e.created_at,
                    kind=kind.get(e.kind, e.kind),
                    version=e.to_version,
                    reason=e.reason,
                    base=e.base,
                    night=e.night,
                    gate_id=e.gate_id,
                    previous=e.from_version,
                    actor=e.actor,
                    numbers=gate.report if gate else {},
                )
            )
        return out

    def gate_report(self, gate_id: int) -> dict | None:
        for gate in self._read(lambda reg: reg.gate_decisions(), []):
            if gate.id == gate_id:
                return gate.to_dict()
        return None

    def nights_with_stages(self) -> list[tuple]:
        """(night row, its stage rows) for every night, oldest first."""
        return self._read(lambda reg: [(n, reg.stages(n.night)) for n in reg.nights()], [])

    def snapshots(self, game: str, base: str | None = None) -> list[RatingPoint]:
        return [
            RatingPoint(
                night=r.night,
                player=r.player,
                rating=r.rating,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                games=r.games,
                base=r.base,
            )
            for r in self._read(lambda reg: reg.ratings(game, base), [])
        ]


def _has_adapters(workspace: Workspace) -> bool:
    from arena.registry.layout import registered_folders

    return bool(registered_folders(workspace.root))


def _info(row) -> VersionInfo:
    path = Path(row.path) if row.path else None
    manifest = {}
    if path is not None and (path / "manifest.json").is_file():
        try:
            manifest = json.loads((path / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {"error": "manifest.json is not readable JSON"}
    return VersionInfo(
        game=row.game,
        base=row.base,
        version=row.version,
        status=row.status,
        parent=row.parent,
        path=path,
        created_at=row.created_at,
        night=row.night,
        run_id=row.run_id,
        manifest=manifest,
    )


def dev_scores(view: RegistryView, game: str, version: str) -> list[dict]:
    """Every dev-set score of ``version`` the nights recorded (their ``eval`` stage scores the
    candidate and the champion), oldest night first."""
    from arena.nightly.results import EvalResult

    out = []
    for night, stages in view.nights_with_stages():
        for stage in stages:
            if stage.game != game or stage.stage != "eval" or not stage.result:
                continue
            where = f"night {night.night} {game} stage eval"
            for role, entry in EvalResult.from_dict(stage.result, where).scores():
                if entry.version == version:
                    out.append({"night": night.night, "as": role, **entry.to_dict()})
    return out
