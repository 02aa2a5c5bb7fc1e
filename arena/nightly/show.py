"""``arena nightly --print-config``: the resolved night, every table and key, with where each
value came from (``default``, ``FILE:LINE``, or the ``--set`` flag), as TOML that parses back.

The values are read from the configs the first night of the first game would build
(``arena.nightly.config.night_values``), so what is printed is what runs, defaults included;
the keys the night sets itself (paths, players) are left out. A value that is not set (None)
has no TOML form: its line is printed as a comment.
"""

from __future__ import annotations

import json
from typing import Any

from games import load_game
from games.configs import build, config_fields, keys_of, nested_type

COLUMN = 44  # where the origin comments start


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):  # an inline table: train_resources = {"worker_node" = 1}
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def _origin(origins: dict[tuple, str], path: tuple) -> str:
    for end in range(len(path), 1, -1):  # a key inside an inline table: the table's line
        if path[:end] in origins:
            return origins[path[:end]]
    return "default"


def _table(instance: Any, path: tuple, origins: dict, skip: set[str], out: list[str]) -> list:
    """Lines of ``instance``'s fields under ``path`` (flattened configs inline); returns the
    nested configs, printed afterwards as their own tables."""
    later = []
    for f, hint in config_fields(type(instance)):
        value = getattr(instance, f.name)
        if f.metadata.get("flatten"):
            later += _table(value, path, origins, skip, out)
        elif nested_type(hint) and value is not None:
            later.append((path + (f.name,), value))
        elif f.name not in skip:
            origin = _origin(origins, path + (f.name,))
            if value is None:
                out.append(f"{'# ' + f.name + ' =':<{COLUMN}} # {origin}, unset")
                continue
            text = f.metadata.get("text")  # the form the file uses (league: "self=2")
            line = f"{f.name} = {_toml(text(value) if text else value)}"
            out.append(f"{line:<{COLUMN}} # {origin}")
    return later


def describe(config) -> str:
    """The resolved config as TOML with one origin comment per key (see the module docstring)."""
    from arena.nightly.config import TABLES, night_values

    game = load_game(config.night.games[0]).spec
    out = [f"# arena nightly: the resolved config ({config.source}); origins after '#'"]
    for name, table in TABLES.items():
        out.append(f"\n[{name}]")
        later = []
        if table.attr:
            later += _table(getattr(config, table.attr), (name,), config.origins, set(), out)
        if table.runs:
            fixed = night_values(config, name, game)
            runs = build(table.runs, config.overrides.get(name, {}), f"[{name}]", fixed)
            skip = set(fixed) | (keys_of(table.own) if table.own else set())
            later += _table(runs, (name,), config.origins, skip, out)
        while later:
            path, value = later.pop(0)
            out.append(f"\n[{'.'.join(path)}]")
            later += _table(value, path, config.origins, set(), out)
    return "\n".join(out) + "\n"
