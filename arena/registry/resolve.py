"""How agent specs find registry versions: ``llm:BASE@v3`` and ``llm:BASE@champion``.

``agents/`` sits below ``arena/`` and may not import it, so ``agents.spec`` holds a resolver hook
that a process installs explicitly with :func:`install` (the CLI, the server, Ray workers):
importing ``arena`` installs nothing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from agents.spec import ResolvedAdapter, set_adapter_resolver
from arena.registry.store import Registry, base_key
from games.workspace import Workspace

_READERS: dict[Path, tuple[tuple[int, int], Registry]] = {}
_READERS_LOCK = threading.Lock()


def reader(path: str | Path) -> Registry:
    """A cached read-only registry per file in this process (agents following ``@champion``
    query it before every decision: one indexed SELECT, no reconnect). A file replaced since
    (restored, rebuilt) is opened again rather than read through the old one."""
    key = Path(path).expanduser().resolve()
    try:
        stat = os.stat(key)
        identity = (stat.st_dev, stat.st_ino)
    except OSError:
        identity = (0, 0)
    with _READERS_LOCK:
        cached = _READERS.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        reg = Registry(key, readonly=True)
        _READERS[key] = (identity, reg)
        return reg


def resolve_for_agents(base: str, ref: str, game: str, workspace=None):
    """The resolver :func:`install` puts into ``agents.spec``: ``llm:BASE@v3`` /
    ``llm:BASE@champion`` -> the adapter folder (None for v0, the bare base)."""
    root = workspace.root if isinstance(workspace, Workspace) else workspace
    row = reader(Workspace.resolve(root).registry).resolve(game, base_key(base), ref)
    return ResolvedAdapter(Path(row.path) if row.path else None, row.version)


def install() -> None:
    """Install :func:`resolve_for_agents` into ``agents.spec`` for this process (idempotent)."""
    set_adapter_resolver(resolve_for_agents)
