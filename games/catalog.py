"""Loading OpenSpiel games by name, with parameters, and checking that the arena can play them.

The arena plays two-player, turn-based (sequential) games. Four games have curated text views
(see ``games.views``); any other such OpenSpiel game falls back to a generic view.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import threading

import pyspiel

from games.errors import InputError
from games.game_strings import canonical_game_string
from games.handle import CURATED_GAMES, GameHandle
from games.limits import Limits, limits
from games.observation import observe

__all__ = ["CURATED_GAMES", "GameHandle", "load_game", "playable_games", "quiet_spiel_errors"]

_STDERR_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def load_game(spec: str) -> GameHandle:
    """Load ``spec`` (``"tic_tac_toe"``, ``"connect_four(rows=5,columns=6)"``) for the arena.

    The string is checked first (``games.game_strings``: names, types, ranges), the loaded
    game's size against ``Limits.max_game_size``, and one initial state and its observation
    are created inside the error handler, so a game that loads here can be played.
    ``handle.spec`` is the canonical string.

    Raises:
        InputError: the name is not an OpenSpiel game, a parameter is unknown, mistyped or out
            of range, the game is too large, or it is not a 2-player sequential game.
    """
    if not isinstance(spec, str):
        raise InputError(f"a game must be a string, got {type(spec).__name__}")
    spec = canonical_game_string(spec)
    name = spec.split("(", 1)[0]
    with quiet_spiel_errors():
        try:
            game = pyspiel.load_game(spec)
        except (pyspiel.SpielError, RuntimeError, ValueError, IndexError, MemoryError) as error:
            raise InputError(f"game '{spec}': {_first_line(error)}") from None
    gtype = game.get_type()
    if game.num_players() != 2 or gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise InputError(
            f"game '{spec}' is not a 2-player turn-based game; the arena plays only those"
        )
    with quiet_spiel_errors():
        _check_size(spec, game)
    params = dict(game.get_parameters())
    handle = GameHandle(spec=spec, name=name, params=params, game=game)
    _probe(handle)
    return handle


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.splitlines()[:1])[:300]


def _check_size(spec: str, game: pyspiel.Game) -> None:
    """Refuse a game whose shapes exceed the limit, before any state is allocated."""
    limit = limits().max_game_size
    sizes = {"distinct actions": game.num_distinct_actions(), "game length": 0, "tensor": 0}
    gtype = game.get_type()
    for key, method, provided in (
        ("game length", game.max_game_length, True),
        ("tensor", game.observation_tensor_size, gtype.provides_observation_tensor),
        ("tensor", game.information_state_tensor_size, gtype.provides_information_state_tensor),
    ):
        if not provided:
            continue
        try:
            sizes[key] = max(sizes[key], int(method()))
        except (pyspiel.SpielError, RuntimeError, ValueError):
            continue  # the game does not provide it
    for what, size in sizes.items():
        if size > limit or size < 0:
            raise InputError(
                f"game '{spec}' is too large ({what} {size} > limit {limit}; set "
                f"${Limits.ENV['max_game_size']} to raise it)"
            )


def _check_text_size(spec: str, text: str) -> None:
    """Games without tensors (coin_game) are measured by their text: a prompt of a million
    characters is no game for the arena, and every move would write one to the match log."""
    limit = limits().max_game_size
    if len(text) > limit:
        raise InputError(
            f"game '{spec}' is too large (state text {len(text)} characters > limit {limit}; "
            f"set ${Limits.ENV['max_game_size']} to raise it)"
        )


def _probe(handle: GameHandle) -> None:
    """One initial state and its observation, created where a failure is still an InputError."""
    with quiet_spiel_errors():
        try:
            state = handle.game.new_initial_state()
            _check_text_size(handle.spec, str(state))
            if not state.is_chance_node() and not state.is_terminal():
                if not state.legal_actions():
                    raise ValueError("no legal move in the initial state")
                _check_text_size(handle.spec, observe(handle, state).prompt)
        except InputError:
            raise
        except Exception as error:  # OpenSpiel raises many kinds; all mean "cannot play this"
            reason = _first_line(error)
            raise InputError(f"game '{handle.spec}' cannot be played: {reason}") from None


@contextlib.contextmanager
def quiet_spiel_errors():
    """OpenSpiel writes "OpenSpiel exception: ..." to the C++ stderr before raising; the error
    reaches the user once, as an InputError, so that line is dropped and the rest passed on."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(fd)
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not line.startswith("OpenSpiel exception:")
            ]
            if kept:
                sys.stderr.write("".join(kept))


def playable_games() -> list[str]:
    """Every registered OpenSpiel game that loads with default parameters and fits the arena."""
    names = []
    for name in pyspiel.registered_names():
        try:
            load_game(name)
        except InputError:
            continue
        names.append(name)
    return names
