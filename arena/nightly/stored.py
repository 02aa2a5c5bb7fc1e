"""A night's stage result as stored JSON: the ``Result`` base of ``arena.nightly.results``.

``to_dict()`` writes the fields in order, tuples as lists, leaving out a field marked
``omitted()`` while it is None (the stages leave those keys out); ``from_dict(data, where)``
reads through ``games.configs.build`` (an unknown or missing key, or a wrong type, is one
``InputError`` naming ``where`` and the key), after undoing what ``games.files.json_safe`` did to
non-finite floats.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field
from typing import Any

from games.configs import build, config_fields, nested_type, unwrap


def omitted(default: Any = None) -> Any:
    """A field left out of ``to_dict()`` while it is None (the key was absent in the JSON)."""
    return field(default=default, metadata={"omit": True})


def plain(value: Any) -> Any:
    """A result as JSON-ready values: results as dicts (``omitted`` fields dropped while
    None), tuples as lists."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _fields(value: Any) -> dict:
    out = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is None and f.metadata.get("omit"):
            continue
        out[f.name] = plain(item)
    return out


class Result:
    """``to_dict`` / strict ``from_dict`` for frozen dataclasses of stored results."""

    def to_dict(self) -> dict:
        return _fields(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = ""):
        return build(cls, _numbers_back(cls, data), where or cls.__name__)


def _numbers_back(hint: Any, value: Any) -> Any:
    """Undo ``games.files.json_safe`` where ``hint`` wants floats: ``"inf"`` / ``"-inf"`` back
    to infinities and, where None is not allowed, null back to NaN (an interval over too few
    games); nested results and tuples are walked by their type hints. Anything else is left
    for ``build`` to check."""
    inner, optional = unwrap(hint)
    if inner is float:
        if value in ("inf", "-inf"):
            return float(value)
        return math.nan if value is None and not optional else value
    if typing.get_origin(inner) is tuple and isinstance(value, list):
        args = typing.get_args(inner)
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(kinds) == len(value):
            return [_numbers_back(k, v) for k, v in zip(kinds, value, strict=True)]
    cls = nested_type(inner)
    if cls is not None and isinstance(value, dict):
        hints = {f.name: h for f, h in config_fields(cls)}
        return {k: _numbers_back(hints[k], v) if k in hints else v for k, v in value.items()}
    return value
