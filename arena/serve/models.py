"""The API's request bodies: config dataclasses, and the pydantic models FastAPI validates
JSON with, derived from them.

A request is declared once, as a dataclass whose fields carry their help
(``games.configs.option``) and whose ``__post_init__`` checks the values (``games.limits``), like
every config of the arena. ``request_model`` derives the pydantic model: the same fields, types,
defaults and help (as OpenAPI descriptions), and a validator that builds the dataclass, so a
value the dataclass refuses is a 422 whose one-line message names it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, create_model, model_validator

from games.configs import config_fields, default_of, option
from games.limits import check_int, check_text

MAX_TEXT = 64  # characters of a game, opponent or move in a request
MAX_WEB_SEED = 2**31 - 1


@dataclass(frozen=True)
class MatchRequest:
    """``POST /api/matches``: a new game against an opponent."""

    game: str = option(help="a game the server offers (GET /api/games)")
    opponent: str = option(help="an opponent name (GET /api/opponents)")
    seat: Literal["first", "second"] = option("first", "your seat")
    seed: int | None = option(None, "the game's seed (default: a random one)")

    def __post_init__(self) -> None:
        check_text("game", self.game, max_len=MAX_TEXT)
        check_text("opponent", self.opponent, max_len=MAX_TEXT)
        if self.seed is not None:
            check_int("seed", self.seed, 0, MAX_WEB_SEED)


@dataclass(frozen=True)
class MoveRequest:
    """``POST /api/matches/{id}/moves``: the person's move."""

    move: str = option(help="a legal move's label, as the board shows it (b3, 5, bet)")

    def __post_init__(self) -> None:
        check_text("move", self.move, max_len=MAX_TEXT)


def request_model(cls: type, name: str) -> type[BaseModel]:
    """The pydantic model of dataclass ``cls`` (see the module docstring), named ``name`` in
    the OpenAPI document."""
    fields = {}
    for f, hint in config_fields(cls):
        default = default_of(f)
        fields[f.name] = (
            hint,
            Field(
                default=... if default is dataclasses.MISSING else default,
                description=f.metadata.get("help"),
            ),
        )

    def check(model: BaseModel) -> BaseModel:
        cls(**model.model_dump())  # the dataclass's own checks; InputError is a ValueError
        return model

    validator = model_validator(mode="after")(check)
    return create_model(name, __doc__=cls.__doc__, __validators__={"check": validator}, **fields)


NewMatch = request_model(MatchRequest, "NewMatch")
MoveIn = request_model(MoveRequest, "MoveIn")
