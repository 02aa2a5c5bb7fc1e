"""What the server and the leaderboard read from the registry, behind one small interface.

The registry (SQLite, ``arena.registry``) holds adapter versions, the champion per
(game, base), gate decisions, promotions and rollbacks, and nightly rating snapshots. The
people-facing parts need only a read-only view of it; keeping every registry call in this
module means a change of the registry's API is a change here only. Without a registry file
(a fresh workspace) every query answers "nothing yet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from arena.workspace import Workspace


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
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GateEvent:
    """A gate decision, promotion or rollback, with the report behind it when there is one."""

    when: str
    kind: str
    version: str | None
    reason: str = ""
    report: Path | None = None
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


class RegistryView:
    """Read-only queries the server and ``arena leaderboard`` make."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace

    @property
    def available(self) -> bool:
        return False

    def bases(self, game: str) -> list[str]:
        return []

    def champion(self, game: str, base: str) -> VersionInfo | None:
        return None

    def versions(self, game: str, base: str | None = None) -> list[VersionInfo]:
        return []

    def version(self, game: str, version: str) -> VersionInfo | None:
        return None

    def events(self, game: str) -> list[GateEvent]:
        return []

    def snapshots(self, game: str) -> list[RatingPoint]:
        return []
