"""One declaration per config field: the dataclass field, with its help in ``metadata``.

Every config of the arena is a frozen dataclass whose fields carry their help text
(``option(default, "help")`` is ``dataclasses.field(default=..., metadata={"help": ...})``).
The faces are derived from those fields and nothing else:

* dicts (a nightly TOML table, a run manifest, an HTTP body): ``build(cls, data, where)``
  checks the keys and the types, naming the key in one line (``InputError``), merges nested
  tables with the field's own default (``[dpo_train.train] max_steps = 5`` keeps DPO's learning
  rate), and constructs the dataclass, whose ``__post_init__`` checks the ranges;
* the command line: ``games.config_flags.Flags`` (argparse flags, defaults read from here);
* the server's request models: ``arena.serve.models.request_model`` (pydantic).

So a default or a range lives in one place, and every door refuses a bad value the same way.

Metadata keys a field may carry besides ``help`` (all optional):
``flag`` (command-line option string(s); ``"--lr"``), ``no_flag`` (a bool's off switch;
``"--no-quant"``), ``metavar``, ``names`` (words a flag accepts for values: ``{"first": 0}``),
``convert`` (text -> value, for values given as text, e.g. league entries ``"self=2"``),
``text`` (value -> the form ``convert`` reads back, for printing), ``prefix`` (a nested config's
flag prefix; default ``"<field>-"``), ``flatten`` (a nested config's keys sit at its parent's
level, in tables and on the command line).

Example::

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Run:
    ...     pairs: int = option(10, "seat-swapped pairs")
    >>> build(Run, {"pairs": 3}).pairs
    3
    >>> build(Run, {"pairs": "3"}, "[run]")
    Traceback (most recent call last):
    games.errors.InputError: [run] pairs: expected int, got str
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, Field
from typing import Any, Literal

from games.errors import InputError


def option(default: Any = MISSING, help: str = "", *, default_factory: Any = MISSING, **face):
    """A dataclass field that documents itself: ``field(default, metadata={"help": ...})``."""
    if not help:
        raise TypeError("a config field needs its help text")
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={"help": help, **face}
    )


def nested(cls: type, help: str, *, default_factory: Any = None, **face):
    """A nested config (its own defaults unless ``default_factory`` gives others)."""
    return option(default_factory=default_factory or cls, help=help, **face)


# ----------------------------------------------------------------------------- reading fields


def config_fields(cls: type) -> list[tuple[Field, Any]]:
    """``(field, resolved type hint)`` of dataclass ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def default_of(f: Field) -> Any:
    """The field's default (``default_factory`` called), or ``MISSING`` when it is required."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def unwrap(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def nested_type(hint: Any) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), else None."""
    inner, _ = unwrap(hint)
    return inner if dataclasses.is_dataclass(inner) and isinstance(inner, type) else None


def defaults(cls: type, base: Any = None) -> dict:
    """The defaults of ``cls`` as a nested dict (required fields left out); ``base``: an
    instance whose values stand in for the defaults (a field's own default instance)."""
    out = {}
    for f, hint in config_fields(cls):
        value = getattr(base, f.name) if base is not None else default_of(f)
        if value is MISSING:
            continue
        inner = nested_type(hint)
        out[f.name] = defaults(inner, value) if inner and value is not None else value
    return out


def to_dict(config: Any) -> dict:
    """A JSON-ready dict of a config (nested configs as dicts, tuples kept as sequences)."""
    return dataclasses.asdict(config)


# ---------------------------------------------------------------------------- building configs


def _at(where: str, name: str) -> str:
    """``nightly.toml [gate] margin``: where a value came from, then its key path."""
    return f"{where} {name}" if where and name else where or name


def merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``; tables (dicts) merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def keys_of(cls: type) -> set[str]:
    """The keys a table of ``cls`` accepts: its fields, and those of flattened nested configs."""
    keys = set()
    for f, hint in config_fields(cls):
        keys.add(f.name)
        if f.metadata.get("flatten"):
            keys |= keys_of(nested_type(hint))
    return keys


def build(cls: type, data: Any, where: str = "", fixed: dict | None = None, path: str = "") -> Any:
    """Dataclass ``cls`` from a dict (TOML table, manifest, parsed flags).

    Keys and types are checked here (``where`` names the table in messages); the dataclass's
    ``__post_init__`` checks the values. ``fixed``: values the caller sets, on top of ``data``;
    ``path``: the key path of a nested table (``train``), for messages.

    Raises:
        InputError: an unknown or missing key, a value of the wrong type, or a value the
            dataclass refuses; one line, naming the key.
    """
    if not isinstance(data, dict):
        what = _at(where, path) or cls.__name__
        raise InputError(f"{what}: expected a table, got {type(data).__name__}")
    data = merge(data, fixed or {})
    unknown = sorted(str(k) for k in set(data) - keys_of(cls))
    if unknown:
        raise InputError(f"{_at(where, path) or cls.__name__}: unknown key(s) {unknown}")
    values = {}
    for f, hint in config_fields(cls):
        inner = nested_type(hint)
        if f.metadata.get("flatten"):
            given = {k: data[k] for k in keys_of(inner) if k in data}
            data.setdefault(f.name, {})
            if isinstance(data[f.name], dict):
                data[f.name] = merge(data[f.name], given)
        if f.name not in data:
            if default_of(f) is MISSING:
                raise InputError(f"{_at(where, path) or cls.__name__}: missing key '{f.name}'")
            continue
        value, key = data[f.name], f"{path}.{f.name}" if path else f.name
        name = _at(where, key)
        if inner is not None and isinstance(value, dict):
            own = default_of(f)
            base = defaults(inner, own) if own not in (MISSING, None) else {}
            inside = path if f.metadata.get("flatten") else key  # flattened: the parent's keys
            values[f.name] = build(inner, merge(base, value), where, path=inside)
        else:
            if "convert" in f.metadata and _is_text(value):
                value = _convert(f.metadata["convert"], value, name)
            values[f.name] = coerce(hint, value, name)
    try:
        return cls(**values)
    except ValueError as error:  # InputError included; ratings raises ValueError
        raise InputError(f"{where}: {error}" if where else str(error)) from None


def _is_text(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    )


def _convert(convert, value: Any, where: str) -> Any:
    try:
        return convert(value)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None


def coerce(hint: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type ``hint`` (lists become tuples, ints floats)."""
    inner, optional = unwrap(hint)
    if value is None:
        if optional:
            return None
        raise InputError(f"{where}: a value is required")
    hint = inner
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return coerce(arg, value, where)
            except InputError:
                continue
        raise InputError(f"{where}: {value!r} is none of {hint}")
    if origin is Literal:
        if isinstance(value, bool) or value not in args:
            choices = ", ".join(map(str, args))
            raise InputError(f"{where} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(args[0], v, where) for v in value)
        if len(value) != len(args):
            raise InputError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(coerce(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise InputError(f"{where}: expected a list, got {type(value).__name__}")
        return [coerce(args[0], v, where) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a table, got {type(value).__name__}")
        if not args:
            return dict(value)
        return {
            coerce(args[0], k, where): coerce(args[1], v, f"{where}.{k}") for k, v in value.items()
        }
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict):
            return build(hint, value, where)
        raise InputError(f"{where}: expected a table, got {type(value).__name__}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
            raise InputError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise InputError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value
