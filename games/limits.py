"""Ranges and size limits that every entry point shares (CLI, nightly config, HTTP API).

The config dataclasses call these checks in ``__post_init__``, so a value is refused the same
way whichever door it came through, with one line that names the option, the accepted range and
the value. Size limits bound the work one command can start (games per run, the size of a game,
MCTS simulations): a request beyond them is refused before anything runs, with the environment
variable that raises the limit, instead of hanging or exhausting memory.

Example::

    >>> check_int("pairs", 0, lo=1)
    Traceback (most recent call last):
    games.errors.InputError: pairs must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from games.errors import InputError

# Seeds enter numpy's SeedSequence (non-negative), torch.manual_seed and SQLite (64-bit signed).
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Configured ceilings on the work one request may start.

    Attributes:
        max_games: games one run may schedule (``--games``; pairs x 2 x pairings).
        max_game_size: the largest number of distinct actions, game length or observation
            tensor size a game may have (tic_tac_toe: 27, go 19x19: 72922 cursor moves).
        max_mcts_simulations: simulations per move of an ``mcts:N`` agent.
    """

    max_games: int = 100_000
    max_game_size: int = 100_000
    max_mcts_simulations: int = 100_000

    ENV = {
        "max_games": "ARENA_MAX_GAMES",
        "max_game_size": "ARENA_MAX_GAME_SIZE",
        "max_mcts_simulations": "ARENA_MAX_MCTS_SIMULATIONS",
    }

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, each overridden by its environment variable when set."""
        values = {}
        for field, var in cls.ENV.items():
            text = os.environ.get(var)
            if text is None or not text.strip():
                continue
            try:
                values[field] = int(text.strip())
            except ValueError:
                raise InputError(f"${var} must be a positive integer, got {text!r}") from None
            if values[field] < 1:
                raise InputError(f"${var} must be a positive integer, got {text!r}")
        return cls(**values)


def limits() -> Limits:
    """The limits in force now (read from the environment on each call; cheap)."""
    return Limits.from_env()


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "a number"


def check_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]``; InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(f"{name} must be an integer {_range_text(lo, hi)}, got {value}")
    return value


def check_optional_int(
    name: str, value: object, lo: int | None = None, hi: int | None = None
) -> int | None:
    return None if value is None else check_int(name, value, lo, hi)


def check_float(
    name: str,
    value: object,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` as a finite float in the range (``lo_open``/``hi_open`` exclude the ends)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    bad = bad or (lo is not None and (value <= lo if lo_open else value < lo))
    bad = bad or (hi is not None and (value >= hi if hi_open else value > hi))
    if bad:
        left = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        right = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        text = " and ".join(t for t in (left, right) if t) or "finite"
        raise InputError(f"{name} must be a finite number {text}, got {value:g}")
    return value


def check_seed(name: str, value: object) -> int:
    return check_int(name, value, 0, MAX_SEED)


def check_games(name: str, games: int, what: str = "games") -> int:
    """Refuse a run of more than ``Limits.max_games`` games before it starts."""
    limit = limits().max_games
    if games > limit:
        raise InputError(
            f"{name}: {games} {what} exceed the limit of {limit} games per run "
            f"(set ${Limits.ENV['max_games']} to raise it, or split the run)"
        )
    return games


def check_text(name: str, value: object, *, allow_empty: bool = False, max_len: int = 1000) -> str:
    """A string without control characters, of bounded length (names, specs, paths)."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip() and not allow_empty:
        raise InputError(f"{name} must not be empty")
    if len(value) > max_len:
        raise InputError(f"{name} is too long ({len(value)} characters; at most {max_len})")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{name} contains a control character: {value!r}")
    return value


MAX_OPENING_PLIES = 1000
MAX_MOVE_CAP = 1_000_000


def check_match_options(
    seed: object, opening_plies: object, move_cap: object | None = None
) -> None:
    """What every run of matches shares: the run seed, random opening plies and the move cap."""
    check_seed("seed", seed)
    check_int("opening_plies", opening_plies, 0, MAX_OPENING_PLIES)
    if move_cap is not None:
        check_int("move_cap", move_cap, 1, MAX_MOVE_CAP)


def check_regular_file(path, what: str = "input"):
    """``path`` if it is a regular file. A device (``/dev/zero``), a FIFO or a socket would be
    read forever or block, so it is refused; a missing path is FileNotFoundError as usual."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such {what}: {path}")
    if not path.is_file():
        raise InputError(f"{what} {path} is not a regular file")
    return path
