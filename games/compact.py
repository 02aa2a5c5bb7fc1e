"""The compact view: the same observation in fewer tokens, for small locally built bases.

A chat LLM needs the full prompt (``games.observe``): the rules in words, the coordinates, the
legal moves. A small base pretrained on the arena's own text does not, and on a CPU every token
costs: the full tic_tac_toe prompt is about 90 tokens for a 3-token answer. The compact view
keeps what decides the move and puts the board right before ``Move:``::

    tic_tac_toe o
     a1 a2 a3
     b1 x b3
     c1 c2 c3
    Move:

Empty cells show their own move text, so the legal moves are tokens of the prompt and the answer
(`` b3``) is a copy of one of them: choosing a move becomes pointing at a cell, which a small
transformer learns far faster than mapping a position in a row to a name (a compact board of
dots did not learn at all: SFT left argmax dev accuracy at the base's, measured in LEARNING.md).
Connect Four's moves are columns, so its compact view ends with ``Legal: 1 2 4 ...``, one token
per legal column, for the same reason.

It is a pure text transform of the full prompt, so match records, datasets and dev sets keep
the one canonical (full) prompt, and the model side (``agents.llm`` and training) applies the
transform when the base says it was built for it (``arena_base.json``: ``"view": "compact"``).
Cells stay separated by spaces, and the arena's own bases split text into words of letters and
digits before BPE (``training.base_model.build_tokenizer``), so a cell is one token (`` a1``), the
same token as the move that names it. (Bases built before that split letters from digits, GPT-2's
way: `` a1`` was two tokens; LEARNING.md compares the two.) Other tokenizers may split cells.

What is dropped: the "Game:" label, sentences of rules (``Deck: ...``, "Three in a row wins"),
the board caption and column header, and for board games the legal-moves line (the empty
cells are the legal moves). Card games keep their legal-moves line: ``check``/``bet`` and
``fold``/``call`` depend on the betting, which the model should not have to infer; their cards
are written as ranks (Jack 1 < Queen 2 < King 3, see ``_RANKS``).
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
            head.append(f"p{card.group(1)} card {_rank(card.group(2))}")
        elif line.startswith("Public card: ") and line.endswith("."):
            body.append(f"Public card: {_rank(line[len('Public card: ') : -1])}.")
        elif line.startswith(("Board (", "Deck: ")) or _is_header(line):
            continue
        elif line.startswith("Legal moves: ") and name == "connect_four":
            body.append("Legal: " + " ".join(line[len("Legal moves: ") :].split(", ")))
        elif line.startswith("Legal moves: ") and name in BOARD_GAMES:
            continue
        elif name == "tic_tac_toe" and _is_row(line):
            row, cells = line[0], line.split()[1:]
            body.append(
                "".join(f" {row}{i + 1}" if c == "." else f" {c}" for i, c in enumerate(cells))
            )
        else:
            body.append(line)
    return "\n".join([" ".join(head), *body, MOVE_MARKER])


# Cards by rank, as digits. Measured (LEARNING.md, kuhn_poker): with the words pre-tokenizer
# " Jack", " Queen" and " King" are whole tokens that the rules corpus never needs to tell apart
# (legal moves and next positions do not depend on the card), so the small base gave them
# embeddings at cosine 0.95-0.97, and SFT learnt a policy blind to the card (exploitability
# 0.66 after a night, worse than random's 0.46); with the ranks as digits, tokens the base
# does tell apart, the same data and budget reached 0.069. Suits do not matter in Leduc.
_RANKS = {"Jack": "1", "Queen": "2", "King": "3"}


def _rank(card: str) -> str:
    """``"Queen"`` or ``"Queen of hearts"`` -> ``"2"``; other text is kept."""
    return _RANKS.get(card.split(" ", 1)[0], card)


def _is_row(line: str) -> bool:
    """A tic_tac_toe board row such as ``b . x .``."""
    parts = line.split()
    return (
        len(parts) > 1
        and len(parts[0]) == 1
        and parts[0].isalpha()
        and all(len(p) == 1 for p in parts[1:])
    )


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
