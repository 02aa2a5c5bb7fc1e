"""Defaults every layer shares, defined once, and how argparse reads a config's defaults.

A default lives in exactly one place: the constants here (opening plies, the local batch), the
match loop's ``DEFAULT_MOVE_CAP``, or a field of a config dataclass (``TournamentConfig.pairs``,
``ExecOptions.workers``, ...). Command-line flags read theirs with ``field_default`` instead of
repeating the number, so ``--help`` and the library cannot drift apart.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

DEFAULT_OPENING_PLIES = 2  # random plies before play in board games (0..N, uniformly)
DEFAULT_BATCH = 32  # games played in lockstep per batch (the LLM batch)


def field_default(config: type, name: str):
    """The default of field ``name`` of dataclass ``config``."""
    for f in fields(config):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
            raise KeyError(f"{config.__name__}.{name} has no default")
    raise KeyError(f"{config.__name__} has no field '{name}'")
