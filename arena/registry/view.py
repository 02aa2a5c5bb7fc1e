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
    lo: float
    hi: float
    games: int = 0
    base: str = ""


class RegistryView:
    """Read-only queries the server and ``arena leaderboard`` make.

    The registry file is opened read-only on first use and reopened if it appears later (a
    server started before the first night); a missing or unreadable registry reads as empty.
    """

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self._registry = None
        self._lock = threading.Lock()

    def _open(self):
        from arena.registry.store import Registry

        with self._lock:
            if self._registry is None and self.workspace.registry.is_file():
                try:
                    self._registry = Registry.open(self.workspace.registry, readonly=True)
                except InputError as error:
                    logger.warning("registry not readable: %s", error)
            return self._registry

    @property
    def available(self) -> bool:
        return self._open() is not None

    def bases(self, game: str | None = None) -> list[str]:
        reg = self._open()
        if reg is None:
            return []
        return sorted({b for g, b in reg.keys() if game is None or g == game})

    def champion(self, game: str, base: str) -> VersionInfo | None:
        reg = self._open()
        row = reg.champion(game, base) if reg else None
        return _info(row) if row else None

    def versions(self, game: str, base: str | None = None) -> list[VersionInfo]:
        reg = self._open()
        return [_info(r) for r in reg.versions(game, base)] if reg else []

    def version(self, game: str, version: str, base: str | None = None) -> VersionInfo | None:
        for info in self.versions(game, base):
            if info.version == version:
                return info
        return None

    def events(self, game: str) -> list[GateEvent]:
        reg = self._open()
        if reg is None:
            return []
        gates = {g.id: g for g in reg.gate_decisions(game)}
        out = []
        for e in reg.events(game):
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
        reg = self._open()
        if reg is None:
            return None
        for gate in reg.gate_decisions():
            if gate.id == gate_id:
                return gate.to_dict()
        return None

    def snapshots(self, game: str, base: str | None = None) -> list[RatingPoint]:
        reg = self._open()
        if reg is None:
            return []
        return [
            RatingPoint(
                night=r.night,
                player=r.player,
                rating=r.rating,
                lo=r.ci_low,
                hi=r.ci_high,
                games=r.games,
                base=r.base,
            )
            for r in reg.ratings(game, base)
        ]


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
    reg = view._open()
    if reg is None:
        return []
    out = []
    for night in reg.nights():
        for stage in reg.stages(night.night):
            if stage.game != game or stage.stage != "eval" or not stage.result:
                continue
            for role, entry in stage.result.items():
                if isinstance(entry, dict) and entry.get("version") == version:
                    out.append({"night": night.night, "as": role, **entry})
    return out
