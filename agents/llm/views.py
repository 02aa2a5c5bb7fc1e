"""Which prompt view a base reads: ``compact`` for bases built for it, else ``full``.

A locally built base records its view in ``arena_base.json`` (``training.base_model``); any
other model (a hub LLM, a folder without that file) reads the full prompt. The agent and the
trainers both ask here, so an adapter is always trained and played on the same text.
"""

from __future__ import annotations

import json
from pathlib import Path

from games import InputError
from games.compact import VIEWS, model_prompt

MANIFEST = "arena_base.json"

__all__ = ["base_view", "model_prompt"]


def base_view(folder: str | Path | None) -> str:
    """``"compact"`` or ``"full"`` for the base in ``folder`` (None or a hub id: full)."""
    path = Path(folder) / MANIFEST if folder else None
    if path is None or not path.is_file():
        return "full"
    try:
        view = json.loads(path.read_text()).get("view", "full")
    except (json.JSONDecodeError, AttributeError):
        raise InputError(f"{path}: not a valid base manifest") from None
    if view not in VIEWS:
        raise InputError(f"{path}: unknown prompt view '{view}' (one of {', '.join(VIEWS)})")
    return view
