"""A loaded game (``GameHandle``): the leaf that views, openings and observations share.

``games.catalog.load_game`` makes handles (checked and probed); this module only holds the type,
so that the modules ``load_game`` itself uses can name it without importing the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyspiel

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
