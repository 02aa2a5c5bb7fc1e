"""The position as data the play page can draw and click: a grid or cards, plus move texts.

The text views (``games.views``) are for models; a browser needs to know which cell to draw
and which action a click on it means. Board games give a grid of cells (tic_tac_toe: a click on
an empty cell; connect_four: a click anywhere in a column); poker gives the cards the person
may see. Every game also gets its text lines and the legal moves as buttons, so a game without
a drawn board is still playable.
"""

from __future__ import annotations

from arena.play.human import HumanGame

GRID_GAMES = ("tic_tac_toe", "connect_four")


def _grid(game: HumanGame) -> dict:
    state = game.state
    rows = [line for line in str(state).splitlines() if line.strip()]
    legal = set() if game.done or game.agent_to_move else set(state.legal_actions())
    cells = []
    for r, row in enumerate(rows):
        out = []
        for c, mark in enumerate(row):
            if game.handle.name == "tic_tac_toe":
                action = r * len(row) + c
            else:  # connect_four: a click anywhere in a column drops a piece there
                action = c
            out.append({"mark": mark, "action": action if action in legal else None})
        cells.append(out)
    return {"kind": "grid", "rows": cells}


def _cards(game: HumanGame) -> dict:
    from games.views import view_for

    view = view_for(game.handle)
    private, public, _, _ = view._replay(game.state)
    mine = view.card_name(private[game.human_seat]) if len(private) > game.human_seat else None
    theirs = None
    if game.done and len(private) > 1 - game.human_seat:
        theirs = view.card_name(private[1 - game.human_seat])
    return {
        "kind": "cards",
        "yours": mine,
        "public": [view.card_name(c) for c in public],
        "opponent": theirs,
    }


def board_data(game: HumanGame) -> dict:
    """``{"kind": "grid", "rows": [[{"mark", "action"}]]}``, ``{"kind": "cards", ...}`` or
    ``{"kind": "text"}`` for games without a drawn board."""
    if game.handle.name in GRID_GAMES:
        return _grid(game)
    if game.handle.name in ("kuhn_poker", "leduc_poker"):
        return _cards(game)
    return {"kind": "text"}
