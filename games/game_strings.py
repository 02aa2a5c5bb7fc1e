"""Game strings (``connect_four(rows=5,columns=6)``) checked before OpenSpiel sees them.

OpenSpiel trusts its parameters: ``connect_four(rows=0)`` kills the process with a segmentation
fault, ``rows=-1`` raises a C++ ``std::vector`` error, and ``connect_four(rows=100000,
columns=100000)`` allocates until the kernel kills the process. None of that can be caught
after the fact, so a game string is checked here first, in three steps:

1. Syntax: ``name`` or ``name(key=value,...)``, nested game values (``misere(game=tic_tac_toe)``)
   included; a duplicate key, an unknown key or an empty value is refused.
2. Types and sane ranges, from the game's own parameter specification: an int where the
   default is an int (a positive default means the value must be >= 1, a zero default >= 0);
   a finite float where the default is a float; ``true``/``false`` for booleans; strings of
   printable characters, and no parameter that names a file to read. ``RANGES`` holds the
   exact ranges of parameters that OpenSpiel mishandles inside the generic rule.
3. Size: after loading (which only computes shapes), the number of distinct actions, the
   longest game and the observation tensor must stay within ``Limits.max_game_size`` before a
   state is allocated. The caller (``games.catalog.load_game``) then creates one initial state
   and its observation inside the error handler.

The result is the canonical string (``connect_four(rows=5,columns=6)``: no spaces, floats with
a decimal point, booleans as ``True``/``False``), which OpenSpiel loads as written.
"""

from __future__ import annotations

import decimal
import functools
import math
import re

import pyspiel

from games.errors import InputError
from games.limits import limits

MAX_GAME_STRING = 1000
MAX_NESTING = 3
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT = re.compile(r"^[+-]?[0-9]{1,18}$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$")

# Parameters with exact ranges, where the generic rule (positive default -> >= 1) lets values
# through that OpenSpiel mishandles. Found by tests/games/test_fuzz_game_strings.py.
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("go", "board_size"): (1, 19),
    ("phantom_go", "board_size"): (1, 19),
    ("cursor_go", "board_size"): (1, 19),
    ("leduc_poker", "starting_player"): (0, 1),  # 99999: a SpielError in the middle of a game
}
# Games whose parameters crash the process (segmentation fault or abort) across most of their
# range (universal_poker: numPlayers, numRanks, numSuits, numRounds, numHoleCards, the card
# strings; hanabi: colors, ranks, players): the arena plays them only with their defaults.
DEFAULTS_ONLY = frozenset({"universal_poker", "hanabi"})
# A FEN (the start position of chess-like games): a malformed one makes OpenSpiel allocate
# until memory runs out, one with a rank missing is a segmentation fault; only the standard
# start position is accepted.
STANDARD_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` at ``sep`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ')'")
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth:
        raise ValueError("unbalanced '('")
    parts.append(text[start:])
    return parts


def parse_game_string(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``"name(k=v,...)"`` -> ``("name", [("k", "v"), ...])``, values as written (stripped).

    Raises:
        ValueError: the string is not of that form.
    """
    text = text.strip()
    if "(" not in text:
        if ")" in text:
            raise ValueError("unbalanced ')'")
        return text, []
    name, _, rest = text.partition("(")
    if not rest.endswith(")"):
        raise ValueError("expected name(key=value,...) with the parameters in parentheses")
    body = rest[:-1]
    _split_top(body, ",")  # balance check of the whole body
    params = []
    if body.strip():
        for item in _split_top(body, ","):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"parameter '{item.strip()}' is not key=value")
            params.append((key.strip(), value.strip()))
    return name.strip(), params


@functools.cache
def _specs() -> dict[str, dict[str, object]]:
    return {g.short_name: dict(g.parameter_specification) for g in pyspiel.registered_games()}


def _unknown_game(name: str, where: str) -> InputError:
    return InputError(
        f"{where}unknown game '{name}'. Supported: tic_tac_toe, connect_four, kuhn_poker, "
        "leduc_poker (curated views), or any 2-player turn-based OpenSpiel game such as "
        "hex(board_size=5) or breakthrough (generic view); `arena games` lists them"
    )


def _value(game: str, key: str, default: object, text: str, depth: int, label: str) -> str:
    """Check one value against its default's type and range; its canonical text."""
    what = f"{label}: parameter {key}={text}"
    if not text:
        raise InputError(f"{what}: empty value")
    if isinstance(default, dict):
        inner = canonical_game_string(text, depth=depth + 1, where=f"{label}: parameter {key}: ")
        return inner if inner.endswith(")") else inner + "()"  # a bare name reads as a string
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise InputError(f"{what}: expected true or false")
        return "True" if text.lower() == "true" else "False"
    if isinstance(default, int):
        if not _INT.match(text):
            raise InputError(f"{what}: expected an integer")
        value = int(text)
        lo, hi = RANGES.get((game, key), (1 if default > 0 else 0 if default == 0 else None, None))
        cap = limits().max_game_size
        hi = cap if hi is None else min(hi, cap)
        if (lo is not None and value < lo) or value > hi:
            span = f"between {lo} and {hi}" if lo is not None else f"at most {hi}"
            raise InputError(f"{what}: must be an integer {span}")
        return str(value)
    if isinstance(default, float):
        if not _FLOAT.match(text) or not math.isfinite(float(text)):
            raise InputError(f"{what}: expected a finite number")
        value = float(text)
        if abs(value) > 1e9:
            raise InputError(f"{what}: must be between -1e9 and 1e9")
        text = repr(value)
        if "e" in text:  # OpenSpiel reads 1e-05 as a string: write it out positionally
            text = format(decimal.Decimal(text), "f")
        return text if "." in text else text + ".0"
    if "file" in key.lower():
        raise InputError(f"{what}: the arena does not load game files")
    if key == "fen" and text != STANDARD_FEN:
        raise InputError(f"{what}: the arena plays only from the standard start position")
    if len(text) > 200 or any(not c.isprintable() for c in text) or "=" in text or "(" in text:
        raise InputError(f"{what}: expected a short printable string without '=' or '('")
    return text


def canonical_game_string(text: str, *, depth: int = 0, where: str = "") -> str:
    """Check ``text`` (syntax, parameter names, types, ranges) and return its canonical form.

    Does not load the game; ``games.catalog.load_game`` does, and checks the size limit.

    Raises:
        InputError: one line naming what is wrong (e.g. ``connect_four(rows=0)``: ``parameter
            rows='0': must be an integer between 1 and 100000``).
    """
    if not isinstance(text, str):
        raise InputError(f"{where}a game must be a string, got {type(text).__name__}")
    if len(text) > MAX_GAME_STRING:
        raise InputError(f"{where}game string too long ({len(text)} > {MAX_GAME_STRING})")
    if any(not c.isprintable() for c in text):
        raise InputError(f"{where}game {text[:100]!r}: contains a control character")
    if depth > MAX_NESTING:
        raise InputError(f"{where}game nested more than {MAX_NESTING} deep")
    try:
        name, params = parse_game_string(text)
    except ValueError as error:
        raise InputError(f"{where}game {text.strip()!r}: {error}") from None
    if not _NAME.match(name) or name not in _specs():
        raise _unknown_game(name or text.strip(), where)
    spec = _specs()[name]
    label = f"{where}game '{text.strip()}'"
    if params and name in DEFAULTS_ONLY:
        raise InputError(
            f"{label}: the arena plays {name} only with its default parameters (OpenSpiel "
            "crashes on many of its values)"
        )
    seen: set[str] = set()
    parts = []
    for key, value in params:
        if key in seen:
            raise InputError(f"{label}: parameter '{key}' given twice")
        seen.add(key)
        if key not in spec:
            known = ", ".join(sorted(spec)) or "none"
            raise InputError(
                f"{label}: '{name}' has no parameter '{key}' (its parameters: {known})"
            )
        parts.append(f"{key}={_value(name, key, spec[key], value, depth, label)}")
    return f"{name}({','.join(parts)})" if parts else name
