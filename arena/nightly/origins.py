"""Where each value of a nightly config came from: the line of every key of the TOML file, and
the ``--set TABLE.KEY=VALUE`` flags applied on top (``arena nightly --print-config`` shows
them beside the values)."""

from __future__ import annotations

import re
import tomllib

from games import InputError

HEADER = re.compile(r"^\[\s*([A-Za-z0-9_.\- ]+?)\s*\]\s*(#.*)?$")
KEY = re.compile(r"^([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")


def toml_origins(text: str, source: str) -> dict[tuple, str]:
    """``{("gate", "max_pairs"): "nightly.toml:58", ...}``: the line of every key in ``text``
    (tables and dotted keys; a value inside an inline table or array is its key's line)."""
    origins, table = {}, ()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        header = HEADER.match(line)
        if header:
            table = tuple(part.strip() for part in header.group(1).split("."))
            continue
        key = KEY.match(line)
        if key:
            path = table + tuple(part.strip() for part in key.group(1).split("."))
            origins[path] = f"{source}:{number}"
    return origins


def apply_sets(raw: dict, sets: tuple[str, ...], origins: dict[tuple, str]) -> None:
    """``--set TABLE.KEY=VALUE`` onto the parsed file: VALUE is read as TOML (``3``,
    ``"x"``, ``["a", "b"]``), else taken as text; the flag is recorded as the key's origin."""
    for text in sets:
        key, sep, value = text.partition("=")
        path = tuple(part.strip() for part in key.split("."))
        if not sep or len(path) < 2 or not all(path):
            raise InputError(f"--set {text!r}: expected TABLE.KEY=VALUE, e.g. gate.max_pairs=40")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        table = raw
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise InputError(f"--set {text!r}: {part} is not a table")
        table[path[-1]] = parsed
        origins[path] = f"--set {text}"
