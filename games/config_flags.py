"""The command-line face of a config dataclass: argparse flags derived from its fields.

``Flags(TournamentConfig).add_to(parser)`` adds one flag per field: ``--pairs`` from
``pairs: int = option(10, "pairs per pairing")``, with the type, the default (read from the
dataclass, shown in ``--help``), the help, ``choices`` for a ``Literal``, ``nargs`` for a
tuple, ``--x/--no-x`` for a bool, and the fields of nested configs under their prefix
(``--lora-r``). ``Flags(...).build(args, **fixed)`` turns the parsed arguments back into the
dataclass through ``games.configs.build``, so the command line refuses exactly what a TOML
table or a manifest would (one line, ``InputError``).

Per command, ``exclude`` leaves out fields the command sets itself (output paths it derives),
``rename`` gives fields other option strings, and ``defaults`` gives a command's own default
(or one for a field that has none).
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Literal

from games.configs import build, config_fields, default_of, merge, nested_type, unwrap


class Switch(argparse.Action):
    """A bool as two option strings, ``--x`` (True) and ``--no-x`` (False)."""

    def __init__(self, option_strings, dest, on=(), **kwargs):
        self.on = tuple(on)
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string in self.on)

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


@dataclass
class Item:
    """One derived flag: the field's key path in the config and the argparse arguments."""

    path: tuple[str, ...]
    flags: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)
    names: dict | None = None  # flag words -> values (``--seat first`` -> 0)

    @property
    def dest(self) -> str:
        return self.kwargs["dest"]


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return " ".join(_show(v) for v in value)
    return str(value)


class Flags:
    """Flags of dataclass ``cls`` (see the module docstring)."""

    def __init__(
        self,
        cls: type,
        *,
        prefix: str = "",
        exclude: tuple[str, ...] = (),
        rename: dict[str, str | tuple[str, ...]] | None = None,
        defaults: dict[str, Any] | None = None,
    ):
        self.cls = cls
        self.exclude = set(exclude)
        self.rename = rename or {}
        self.command_defaults = defaults or {}
        self.items: list[Item] = []
        self._walk(cls, (), prefix, None)

    def _walk(self, cls: type, path: tuple[str, ...], prefix: str, instance: Any) -> None:
        for f, hint in config_fields(cls):
            here = (*path, f.name)
            key = ".".join(here)
            if key in self.exclude:
                continue
            default = getattr(instance, f.name) if instance is not None else default_of(f)
            inner = nested_type(hint)
            if inner is not None and not unwrap(hint)[1]:
                sub = "" if f.metadata.get("flatten") else f.metadata.get("prefix", f"{f.name}-")
                self._walk(inner, here, prefix + sub, default)
                continue
            default = self.command_defaults.get(key, default)
            self.items.append(self._item(f, hint, here, prefix, default))

    def _item(self, f, hint, path, prefix: str, default: Any) -> Item:
        meta = f.metadata
        key = ".".join(path)
        flags = self.rename.get(key) or meta.get("flag") or f.name.replace("_", "-")
        flags = (flags,) if isinstance(flags, str) else tuple(flags)
        flags = tuple(s if s.startswith("-") else f"--{prefix}{s}" for s in flags)
        names = meta.get("names")
        if names and default in names.values():  # the word a flag takes for the default value
            default = next(word for word, value in names.items() if value == default)
        help_text = meta.get("help", "").replace("%", "%%")  # argparse formats help with %
        if not (default is MISSING or default is None or default is False or default == ()):
            shown = meta["text"](default) if "text" in meta else default  # the form typed
            help_text += f" (default {_show(shown)})"
        kwargs = {"dest": flags[0].lstrip("-").replace("-", "_"), "help": help_text}
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        if default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        inner, _ = unwrap(hint)
        if inner is bool:
            off = meta.get("no_flag") or f"--no-{flags[0].removeprefix('--')}"
            off = (off,) if isinstance(off, str) else tuple(off)
            if isinstance(default, bool):  # the switch that stands for the default
                kwargs["help"] = help_text.removesuffix(" (default True)")
                kwargs["help"] += f" (default {flags[0] if default else off[0]})"
            kwargs.update(action=Switch, on=flags)
            kwargs.pop("metavar", None)
            return Item(path, (*flags, *off), kwargs)
        if names:
            kwargs["choices"] = tuple(names)
            return Item(path, flags, kwargs, names)
        if "convert" in meta:  # given as text, turned into the value by the field's converter
            kwargs.update(type=str, nargs="+" if typing.get_origin(inner) is tuple else None)
            return Item(path, flags, kwargs)
        if typing.get_origin(inner) is tuple:
            args = typing.get_args(inner)
            kwargs["nargs"] = "+" if args[-1] is Ellipsis else len(args)
            inner = args[0]
        if typing.get_origin(inner) is Literal:
            kwargs["choices"] = typing.get_args(inner)
            inner = type(kwargs["choices"][0])
        if inner in (int, float, str):
            kwargs["type"] = inner
        else:
            raise TypeError(f"{self.cls.__name__}.{key}: no flag for {hint}; exclude it")
        return Item(path, flags, kwargs)

    def add_to(self, parser: argparse.ArgumentParser | Any, title: str | None = None) -> None:
        """Add the flags to ``parser`` (in an argument group titled ``title``, if given)."""
        target = parser.add_argument_group(title) if title else parser
        for item in self.items:
            target.add_argument(*item.flags, **item.kwargs)

    def values(self, args: argparse.Namespace) -> dict:
        """The parsed values as a nested dict, keyed like the dataclass's fields."""
        out: dict = {}
        for item in self.items:
            value = getattr(args, item.dest)
            if item.names is not None and value in item.names:
                value = item.names[value]
            table = out
            for part in item.path[:-1]:
                table = table.setdefault(part, {})
            table[item.path[-1]] = value
        return out

    def build(self, args: argparse.Namespace, **fixed) -> Any:
        """The dataclass from the parsed arguments, with the command's own ``fixed`` values
        (dicts merge into nested configs: ``quant={"compute_dtype": "bfloat16"}``)."""
        return build(self.cls, merge(self.values(args), fixed))
