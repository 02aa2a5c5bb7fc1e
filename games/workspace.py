"""The workspace: where every artefact of the arena lives (default ``./arena-data``).

On a cluster only the driver needs it: other nodes either see it at the same path, or get what
they need from it by content hash through Ray (``arena.execution.artifacts``). Layout::

    base/<name>/            locally built base model + tokenizer (HF folder)
    adapters/<game>/<ver>/  adapter (safetensors) + manifest.json
    matches/<run>/          JSONL shards
    datasets/<run>/         sft.jsonl, prefs.jsonl + manifest
    runs/<run>/             manifests, reports
    registry.sqlite         the adapter registry (arena/registry.py)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from games import InputError

DEFAULT_WORKSPACE = "arena-data"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` may be a folder name here (see ``check_name``)."""
    return bool(_NAME.match(name))


def check_name(kind: str, name: str) -> str:
    """Run ids, versions and base names become folder names: keep them to a safe alphabet."""
    if not _NAME.match(name):
        raise InputError(f"invalid {kind} '{name}': use letters, digits, '.', '_' or '-'")
    return name


@dataclass(frozen=True)
class Workspace:
    root: Path

    @staticmethod
    def resolve(path: str | Path | None = None) -> Workspace:
        """``path``, else ``$ARENA_WORKSPACE``, else ``./arena-data``."""
        chosen = path or os.environ.get("ARENA_WORKSPACE") or DEFAULT_WORKSPACE
        return Workspace(Path(chosen).expanduser().resolve())

    def base(self, name: str) -> Path:
        return self.root / "base" / check_name("base name", name)

    def adapter(self, game: str, version: str) -> Path:
        return self.root / "adapters" / game / check_name("version", version)

    def matches(self, run: str) -> Path:
        return self.root / "matches" / check_name("run id", run)

    def datasets(self, run: str) -> Path:
        return self.root / "datasets" / check_name("run id", run)

    def runs(self, run: str) -> Path:
        return self.root / "runs" / check_name("run id", run)

    @property
    def registry(self) -> Path:
        return self.root / "registry.sqlite"
