"""Match records: the typed, validated form of one game in the JSONL match logs.

A record holds everything needed to replay and learn from a game: the opening, every decision
with the prompt the player saw, the legal moves as text, the chosen action and the agent's
policy, plus the full action history (chance outcomes included) for exact replay.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from games.game_strings import canonical_game_string
from games.jsonl import ReadStats, iter_jsonl, require
from games.limits import check_regular_file

SCHEMA_VERSION = 1
TERMINATIONS = ("normal", "illegal_move", "move_cap")


@dataclass(frozen=True)
class SeatRecord:
    spec: str
    version: str | None = None

    @staticmethod
    def from_dict(obj: dict) -> SeatRecord:
        version = obj.get("version")
        if version is not None and not isinstance(version, str):
            raise ValueError("seat 'version' must be a string or null")
        return SeatRecord(spec=require(obj, "spec", str, "seat: "), version=version)


@dataclass(frozen=True)
class MoveRecord:
    """One decision. ``policy`` and ``prior`` are aligned with ``legal_actions`` (or null).

    ``prior`` (added later, absent in older records) is the policy a search agent started
    from, its LLM's own; ``policy`` is then the search's visit-count distribution.
    """

    ply: int
    player: int
    prompt: str
    legal_actions: list[int]
    legal_texts: list[str]
    action: int | None
    text: str | None
    policy: list[float] | None = None
    raw: str | None = None
    illegal: int = 0
    unparseable: int = 0
    version: str | None = None
    prior: list[float] | None = None

    @staticmethod
    def from_dict(obj: dict) -> MoveRecord:
        where = f"move {obj.get('ply', '?')}: "
        legal = require(obj, "legal_actions", list, where)
        texts = require(obj, "legal_texts", list, where)
        if len(legal) != len(texts) or not legal:
            raise ValueError(f"{where}legal_actions and legal_texts must be non-empty, same length")
        if not all(isinstance(a, int) for a in legal) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"{where}legal_actions must be ints and legal_texts strings")
        action = obj.get("action")
        if action is not None and (not isinstance(action, int) or action not in legal):
            raise ValueError(f"{where}action {action!r} is not one of legal_actions")
        policy = _distribution(obj, "policy", len(legal), where)
        prior = _distribution(obj, "prior", len(legal), where)
        player = require(obj, "player", int, where)
        if player not in (0, 1):
            raise ValueError(f"{where}player must be 0 or 1")
        return MoveRecord(
            ply=require(obj, "ply", int, where),
            player=player,
            prompt=require(obj, "prompt", str, where),
            legal_actions=legal,
            legal_texts=texts,
            action=action,
            text=obj.get("text"),
            policy=policy,
            raw=obj.get("raw"),
            illegal=int(obj.get("illegal", 0)),
            unparseable=int(obj.get("unparseable", 0)),
            version=obj.get("version"),
            prior=prior,
        )


def _distribution(obj: dict, key: str, size: int, where: str) -> list[float] | None:
    """``obj[key]``: null/absent, or probabilities aligned with the ``size`` legal actions."""
    values = obj.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or len(values) != size:
        raise ValueError(f"{where}{key} must be a list aligned with legal_actions")
    if any(isinstance(p, bool) or not isinstance(p, int | float) or not p >= 0 for p in values):
        raise ValueError(f"{where}{key} must hold non-negative numbers")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-4):
        raise ValueError(f"{where}{key} sums to {sum(values):.6f}, not 1")
    return [float(p) for p in values]


@dataclass(frozen=True)
class MatchRecord:
    match_id: str
    game: str
    seed: int
    opening: dict
    seats: list[SeatRecord]
    moves: list[MoveRecord]
    history: list[int]
    returns: list[float]
    termination: str
    pair_index: int | None = None
    swapped: bool = False
    run_id: str | None = None
    game_params: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def score(self, seat: int) -> float:
        """1 for a win, 0.5 for a draw, 0 for a loss of ``seat`` (by sign of the return gap)."""
        gap = self.returns[seat] - self.returns[1 - seat]
        return 1.0 if gap > 0 else 0.0 if gap < 0 else 0.5

    @staticmethod
    def from_dict(obj: dict) -> MatchRecord:
        version = require(obj, "schema_version", int)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported schema_version {version} (this reader: {SCHEMA_VERSION})"
            )
        seats = [SeatRecord.from_dict(s) for s in require(obj, "seats", list)]
        returns = require(obj, "returns", list)
        if len(seats) != 2 or len(returns) != 2:
            raise ValueError("a match has exactly 2 seats and 2 returns")
        if not all(isinstance(r, int | float) and math.isfinite(r) for r in returns):
            raise ValueError("returns must be finite numbers")
        termination = require(obj, "termination", str)
        if termination not in TERMINATIONS:
            raise ValueError(f"termination must be one of {TERMINATIONS}, got '{termination}'")
        moves = [MoveRecord.from_dict(m) for m in require(obj, "moves", list)]
        history = require(obj, "history", list)
        if not all(isinstance(a, int) for a in history):
            raise ValueError("history must be a list of action ids")
        pair_index = obj.get("pair_index")
        if pair_index is not None and not isinstance(pair_index, int):
            raise ValueError("pair_index must be an integer or null")
        return MatchRecord(
            match_id=require(obj, "match_id", str),
            game=_checked_game(require(obj, "game", str)),
            seed=require(obj, "seed", int),
            opening=require(obj, "opening", dict),
            seats=seats,
            moves=moves,
            history=history,
            returns=[float(r) for r in returns],
            termination=termination,
            pair_index=pair_index,
            swapped=bool(obj.get("swapped", False)),
            run_id=obj.get("run_id"),
            game_params=dict(obj.get("game_params") or {}),
            timing=dict(obj.get("timing") or {}),
        )


@functools.lru_cache(maxsize=256)
def _checked_game(game: str) -> str:
    """A record's game string passes the same rules as a user's: a crafted log must not reach
    OpenSpiel with ``connect_four(rows=0)`` when a builder or a rollout loads the game."""
    canonical_game_string(game)
    return game


def read_matches(
    path: str | Path,
    *,
    skip_bad: bool = False,
    quarantine: str | Path | None = None,
    stats: ReadStats | None = None,
) -> Iterator[MatchRecord]:
    """Stream validated match records from one JSONL file (see ``games.jsonl.iter_jsonl``)."""
    return iter_jsonl(
        path, MatchRecord.from_dict, skip_bad=skip_bad, quarantine=quarantine, stats=stats
    )


def match_files(path: str | Path) -> list[Path]:
    """A JSONL file, or every ``*.jsonl`` in a folder (a run's shards), sorted."""
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob("*.jsonl"))
    return [check_regular_file(path, "match log")]
