"""The compact view: the same observation in fewer tokens, for small locally built bases.

A chat LLM needs the full prompt (``games.observe``): the rules in words, the coordinates, the
legal moves. A small base pretrained on the arena's own text does not, and on a CPU every token
costs: the full tic_tac_toe prompt is about 90 tokens for a 3-token answer. The compact view
keeps what decides the move and puts the board right before ``Move:``::

    tic_tac_toe o
    a . . .
    b . x .
    c . . .
    Move:

It is a pure text transform of the full prompt, so match records, datasets and dev sets keep
the one canonical (full) prompt, and the model side (``agents.llm`` and training) applies the
transform when the base says it was built for it (``arena_base.json``: ``"view": "compact"``).
Cells stay separated by spaces: the byte-level pre-tokenizer then keeps one token per cell.

What is dropped: the "Game:" label, sentences of rules (``Deck: ...``, "Three in a row wins"),
the board caption and column header, and for board games the legal-moves line (the empty
cells are the legal moves). Card games keep their legal-moves line: ``check``/``bet`` and
``fold``/``call`` depend on the betting, which the model should not have to infer.
"""

from __future__ import annotations

import re

from games.observation import MOVE_MARKER

VIEWS = ("full", "compact")
BOARD_GAMES = ("tic_tac_toe", "connect_four")
_MARK = re.compile(r"^You are player (\d+) \((\w+)\)\.")
_CARD = re.compile(r"^You are player (\d+)\. Your card: (.+)\.$")


def compact_prompt(prompt: str) -> str:
    """The compact view of a full prompt; prompts of other games are returned unchanged."""
    lines = prompt.split("\n")
    if not lines or not lines[0].startswith("Game: ") or lines[-1] != MOVE_MARKER:
        return prompt
    game = lines[0][len("Game: ") :]
    name = game.split("(", 1)[0]
    head = [game]
    body: list[str] = []
    for line in lines[1:-1]:
        mark, card = _MARK.match(line), _CARD.match(line)
        if mark:
            head.append(mark.group(2))
        elif card:
            head.append(f"p{card.group(1)} {card.group(2)}")
        elif line.startswith(("Board (", "Deck: ")) or _is_header(line):
            continue
        elif line.startswith("Legal moves: ") and name in BOARD_GAMES:
            continue
        else:
            body.append(line)
    return "\n".join([" ".join(head), *body, MOVE_MARKER])


def _is_header(line: str) -> bool:
    """A column header such as ``  1 2 3``."""
    parts = line.split()
    return bool(parts) and line.startswith(" ") and all(p.isdigit() for p in parts)


def model_prompt(prompt: str, view: str) -> str:
    """The text a model with ``view`` reads for the canonical ``prompt``."""
    if view == "compact":
        return compact_prompt(prompt)
    if view == "full":
        return prompt
    raise ValueError(f"unknown prompt view '{view}' (one of {', '.join(VIEWS)})")
