"""Games as text: OpenSpiel states rendered for a player, an action codec, and openings.

Imports neither Ray nor torch.
"""

from games.catalog import CURATED_GAMES, GameHandle, load_game, playable_games
from games.errors import InputError
from games.observation import (
    MOVE_MARKER,
    Observation,
    ParseFailure,
    completion_text,
    legal_texts,
    observe,
    parse_action,
)
from games.openings import (
    Opening,
    apply_opening,
    random_observations,
    sample_chance,
    sample_opening,
)

__all__ = [
    "CURATED_GAMES",
    "MOVE_MARKER",
    "GameHandle",
    "InputError",
    "Observation",
    "Opening",
    "ParseFailure",
    "apply_opening",
    "completion_text",
    "legal_texts",
    "load_game",
    "observe",
    "parse_action",
    "playable_games",
    "random_observations",
    "sample_chance",
    "sample_opening",
]
