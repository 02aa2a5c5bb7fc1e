"""The acting player's observation (prompt + legal actions as text) and the action codec.

The codec maps each legal action to one canonical text and parses text back. Parsing a
model's output (``parse_action``) is tolerant of case, surrounding whitespace, quotes and a
trailing period, and also accepts OpenSpiel's own action names. People get one grammar,
``parse_label``: the label the board shows and nothing else (OpenSpiel's names for
connect_four, ``x4``, mean column 5: a person typing them would not get what they read). Neither
raises on bad text: they return a ``ParseFailure`` whose ``kind`` tells an illegal move (a real
move of this game that is not legal now) from text that names no move at all; illegal-move
accounting depends on that distinction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyspiel

from games.handle import GameHandle
from games.views import view_for

MOVE_MARKER = "Move:"


def completion_text(action_text: str) -> str:
    """What follows the prompt for an action: ``" b3\\n"`` (space, move, newline)."""
    return f" {action_text}\n"


@dataclass(frozen=True)
class ParseFailure:
    """Text that does not name a legal move. ``kind``: ``illegal`` or ``unparseable``."""

    kind: Literal["illegal", "unparseable"]
    text: str
    message: str


@dataclass(frozen=True)
class Observation:
    """What the acting player sees. ``state`` is the live OpenSpiel state (never serialised)."""

    game: str
    player: int
    prompt: str
    actions: tuple[int, ...]
    texts: tuple[str, ...]
    state: pyspiel.State
    handle: GameHandle = field(repr=False, compare=False)

    def text_of(self, action: int) -> str:
        return self.texts[self.actions.index(action)]

    def parse(self, text: str) -> int | ParseFailure:
        return parse_action(self, text)


def _normalise(text: str) -> str:
    """Lower-case, collapse whitespace, drop surrounding quotes/backticks and a final period."""
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip("`'\"").rstrip(".").strip()
    return " ".join(text.lower().split())


def legal_texts(
    handle: GameHandle, state: pyspiel.State
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Legal action ids and their canonical texts, unique within the state."""
    view = view_for(handle)
    player = state.current_player()
    actions = tuple(state.legal_actions(player))
    texts = [view.action_text(state, player, a) for a in actions]
    if len(set(texts)) != len(texts):
        texts = [
            f"{t}#{a}" if texts.count(t) > 1 else t for t, a in zip(texts, actions, strict=True)
        ]
    return actions, tuple(texts)


def observe(handle: GameHandle, state: pyspiel.State) -> Observation:
    """Render ``state`` for the player to act (a decision node, not chance or terminal)."""
    if state.is_terminal() or state.is_chance_node():
        raise ValueError("observe() needs a decision node: the state is terminal or chance")
    player = state.current_player()
    actions, texts = legal_texts(handle, state)
    lines = [f"Game: {handle.spec}", *view_for(handle).describe(state, player)]
    lines.append("Legal moves: " + ", ".join(texts))
    lines.append(MOVE_MARKER)
    return Observation(
        game=handle.spec,
        player=player,
        prompt="\n".join(lines),
        actions=actions,
        texts=texts,
        state=state,
        handle=handle,
    )


def parse_action(obs: Observation, text: str) -> int | ParseFailure:
    """Map ``text`` to a legal action id of ``obs``, or explain why it is not one."""
    wanted = _normalise(text)
    for action, canonical in zip(obs.actions, obs.texts, strict=True):
        if wanted == canonical.lower():
            return action
    state = obs.state
    for action in obs.actions:
        if wanted == _normalise(state.action_to_string(obs.player, action)):
            return action
    if wanted:
        game = state.get_game()
        handle_view = view_for(obs.handle)
        for action in range(game.num_distinct_actions()):
            if action in obs.actions:
                continue
            try:
                names = {
                    handle_view.action_text(state, obs.player, action).lower(),
                    _normalise(state.action_to_string(obs.player, action)),
                }
            except (pyspiel.SpielError, IndexError, ValueError, RuntimeError):
                continue
            if wanted in names:
                return ParseFailure("illegal", text, f"'{wanted}' is not legal now")
    return ParseFailure(
        "unparseable", text, f"'{text.strip()[:40]}' names no move; legal: {', '.join(obs.texts)}"
    )


def parse_label(obs: Observation, text: str) -> int | ParseFailure:
    """The legal action whose label (its canonical text, what the board and the legal-move
    list show) is ``text``, up to case, surrounding spaces, quotes and a final period. What
    people type goes through here, in the terminal and the web API alike."""
    wanted = _normalise(str(text))
    for action, label in zip(obs.actions, obs.texts, strict=True):
        if wanted == label.lower():
            return action
    legal = ", ".join(obs.texts)
    shown = "".join(c if c.isprintable() else "?" for c in str(text).strip()[:40])
    if wanted:
        view = view_for(obs.handle)
        for action in range(obs.state.get_game().num_distinct_actions()):
            if action in obs.actions:
                continue
            try:
                label = view.action_text(obs.state, obs.player, action).lower()
            except (pyspiel.SpielError, IndexError, ValueError, RuntimeError):
                continue
            if wanted == label:
                return ParseFailure("illegal", text, f"'{shown}' is not legal now; legal: {legal}")
    return ParseFailure("unparseable", text, f"'{shown}' names no move; legal: {legal}")
