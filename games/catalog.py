"""Loading OpenSpiel games by name, with parameters, and checking that the arena can play them.

The arena plays two-player, turn-based (sequential) games. Four games have curated text views
(see ``games.views``); any other such OpenSpiel game falls back to a generic view.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyspiel

from games.errors import InputError

CURATED_GAMES: tuple[str, ...] = ("tic_tac_toe", "connect_four", "kuhn_poker", "leduc_poker")


@dataclass(frozen=True)
class GameHandle:
    """A loaded game plus the exact string that loads it again (``name(param=value,...)``)."""

    spec: str
    name: str
    params: dict[str, object]
    game: pyspiel.Game

    @property
    def curated(self) -> bool:
        return self.name in CURATED_GAMES

    @property
    def perfect_information(self) -> bool:
        info = self.game.get_type().information
        return info == pyspiel.GameType.Information.PERFECT_INFORMATION


def _unknown(name: str) -> InputError:
    return InputError(
        f"unknown game '{name}'. Supported: {', '.join(CURATED_GAMES)} (curated views), or any "
        "2-player turn-based OpenSpiel game such as hex(board_size=5) or breakthrough "
        "(generic view); `arena games` lists them"
    )


@functools.lru_cache(maxsize=64)
def load_game(spec: str) -> GameHandle:
    """Load ``spec`` (``"tic_tac_toe"``, ``"connect_four(rows=5,columns=6)"``) for the arena.

    Raises:
        InputError: the name is not an OpenSpiel game, the parameters are rejected, or the game
            is not a 2-player sequential game.
    """
    spec = spec.strip()
    name = spec.split("(", 1)[0].strip()
    if not name or name not in pyspiel.registered_names():
        raise _unknown(name or spec)
    try:
        game = pyspiel.load_game(spec)
    except pyspiel.SpielError as error:
        raise InputError(f"game '{spec}': {error}") from None
    gtype = game.get_type()
    if game.num_players() != 2 or gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise InputError(
            f"game '{spec}' is not a 2-player turn-based game; the arena plays only those"
        )
    params = dict(game.get_parameters())
    return GameHandle(spec=spec, name=name, params=params, game=game)


def playable_games() -> list[str]:
    """Every registered OpenSpiel game that loads with default parameters and fits the arena."""
    names = []
    for name in pyspiel.registered_names():
        try:
            load_game(name)
        except (InputError, pyspiel.SpielError, RuntimeError):
            continue
        names.append(name)
    return names
