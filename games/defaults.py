"""Defaults every layer shares, defined once.

A default lives in exactly one place: the constants here (opening plies, the local batch), the
match loop's ``DEFAULT_MOVE_CAP``, or a field of a config dataclass (``TournamentConfig.pairs``,
``ExecOptions.workers``, ...), from which command-line flags, nightly tables and request models
read it (``games.configs``), so ``--help`` and the library cannot drift apart.
"""

from __future__ import annotations

DEFAULT_OPENING_PLIES = 2  # random plies before play in board games (0..N, uniformly)
DEFAULT_BATCH = 32  # games played in lockstep per batch (the LLM batch)
