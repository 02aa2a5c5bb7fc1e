"""What a player sees: a game state rendered as text from the acting player's point of view.

Every view produces a prompt body and one canonical text per legal action. The prompt never
shows information the acting player does not have: poker views are built by replaying the
state's history and naming only the acting player's own card and the public card.

The full prompt (see ``games.observation``) looks like this for tic_tac_toe::

    Game: tic_tac_toe
    You are player 1 (o). Three in a row wins.
    Board (rows a-c, columns 1-3):
      1 2 3
    a . . .
    b . x .
    c . . .
    Legal moves: a1, a2, a3, b1, b3, c1, c2, c3
    Move:

and an LLM answers by completing it with `` b3`` and a newline.
"""

from __future__ import annotations

from typing import Protocol

import pyspiel

from games.handle import GameHandle


class GameView(Protocol):
    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        """Prompt lines (without the legal-moves line) for ``player``, who is to act."""

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        """The canonical text of ``action`` in ``state``: what an LLM completes the prompt with."""


ROW_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _board_lines(state: pyspiel.State) -> list[str]:
    return [line for line in str(state).splitlines() if line.strip()]


class TicTacToeView:
    marks = ("x", "o")

    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        rows = _board_lines(state)
        width = len(rows[0])
        header = "  " + " ".join(str(c + 1) for c in range(width))
        board = [f"{ROW_LETTERS[r]} " + " ".join(row) for r, row in enumerate(rows)]
        return [
            f"You are player {player} ({self.marks[player]}). Three in a row wins.",
            f"Board (rows a-{ROW_LETTERS[len(rows) - 1]}, columns 1-{width}):",
            header,
            *board,
        ]

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        row, col = divmod(action, 3)
        return f"{ROW_LETTERS[row]}{col + 1}"


class ConnectFourView:
    marks = ("x", "o")

    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        rows = _board_lines(state)  # OpenSpiel prints the top row first
        width, height = len(rows[0]), len(rows)
        lines = [
            f"You are player {player} ({self.marks[player]}). Drop a piece into a column; "
            "four in a row (across, up or diagonal) wins.",
            f"Board (row 1 is the bottom, columns 1-{width}):",
            "  " + " ".join(str(c + 1) for c in range(width)),
        ]
        for index, row in enumerate(rows):
            lines.append(f"{height - index} " + " ".join(row))
        return lines

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        return str(action + 1)


class _PokerView:
    """Replays a poker history into (deals, betting rounds) as the acting player sees it."""

    rank_names: tuple[str, ...] = ()

    def card_name(self, card: int) -> str:
        raise NotImplementedError

    def _replay(self, state: pyspiel.State) -> tuple[list[int], list[int], list[list[str]], bool]:
        """Returns (private cards by seat, public cards, betting per round, facing a bet now)."""
        game = state.get_game()
        replay = game.new_initial_state()
        private: list[int] = []
        public: list[int] = []
        rounds: list[list[str]] = [[]]
        facing_bet = False
        for action in state.history():
            if replay.is_chance_node():
                if len(private) < game.num_players():
                    private.append(action)
                else:
                    public.append(action)
                    rounds.append([])
                    facing_bet = False
            else:
                actor = replay.current_player()
                word = self.betting_word(action, facing_bet)
                rounds[-1].append(f"player {actor} {word}")
                facing_bet = word in ("bets", "raises") or (facing_bet and word != "calls")
            replay.apply_action(action)
        return private, public, rounds, facing_bet

    def facing_bet(self, state: pyspiel.State) -> bool:
        return self._replay(state)[3]

    def betting_word(self, action: int, facing_bet: bool) -> str:
        raise NotImplementedError


class KuhnPokerView(_PokerView):
    rank_names = ("Jack", "Queen", "King")

    def card_name(self, card: int) -> str:
        return self.rank_names[card]

    def betting_word(self, action: int, facing_bet: bool) -> str:
        if action == 0:
            return "folds" if facing_bet else "checks"
        return "calls" if facing_bet else "bets"

    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        private, _, rounds, _ = self._replay(state)
        bets = sum(1 for entry in rounds[0] if entry.endswith(("bets", "calls")))
        betting = ", ".join(rounds[0]) if rounds[0] else "none yet"
        return [
            f"You are player {player}. Your card: {self.card_name(private[player])}.",
            "Deck: Jack < Queen < King, one card each, ante 1, one bet of 1.",
            f"Betting so far: {betting}.",
            f"Pot: {2 + bets}.",
        ]

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        facing = self.facing_bet(state)
        return ("fold" if facing else "check") if action == 0 else ("call" if facing else "bet")


class LeducPokerView(_PokerView):
    rank_names = ("Jack", "Queen", "King")
    suit_names = ("spades", "hearts")

    def card_name(self, card: int) -> str:
        rank, suit = divmod(card, len(self.suit_names))
        return f"{self.rank_names[rank]} of {self.suit_names[suit]}"

    def betting_word(self, action: int, facing_bet: bool) -> str:
        if action == 0:
            return "folds"
        if action == 1:
            return "calls" if facing_bet else "checks"
        return "raises" if facing_bet else "bets"

    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        private, public, rounds, _ = self._replay(state)
        info = state.information_state_string(player)
        pot = info.split("[Pot: ", 1)[1].split("]", 1)[0] if "[Pot: " in info else "?"
        board = self.card_name(public[0]) if public else "not dealt yet"
        lines = [
            f"You are player {player}. Your card: {self.card_name(private[player])}.",
            "Deck: two each of Jack < Queen < King; a pair with the public card wins, "
            "else the higher card. Bets are 2 in round 1 and 4 in round 2.",
            f"Public card: {board}.",
        ]
        for index, entries in enumerate(rounds):
            lines.append(f"Round {index + 1} betting: {', '.join(entries) or 'none yet'}.")
        lines.append(f"Pot: {pot}.")
        return lines

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        facing = self.facing_bet(state)
        if action == 0:
            return "fold"
        if action == 1:
            return "call" if facing else "check"
        return "raise" if facing else "bet"


class GenericView:
    """Fallback for any 2-player turn-based OpenSpiel game.

    Shows the player's observation string (or information-state string) and OpenSpiel's action
    names, lower-cased. When two legal actions share a name, the id is appended (``name#id``)
    so that every canonical text is unique.
    """

    def describe(self, state: pyspiel.State, player: int) -> list[str]:
        gtype = state.get_game().get_type()
        if gtype.provides_observation_string:
            text = state.observation_string(player)
        elif gtype.provides_information_state_string:
            text = state.information_state_string(player)
        else:
            text = str(state)
        return [f"You are player {player}.", "State:", *text.rstrip().splitlines()]

    def action_text(self, state: pyspiel.State, player: int, action: int) -> str:
        return " ".join(state.action_to_string(player, action).lower().split())


_CURATED: dict[str, GameView] = {
    "tic_tac_toe": TicTacToeView(),
    "connect_four": ConnectFourView(),
    "kuhn_poker": KuhnPokerView(),
    "leduc_poker": LeducPokerView(),
}


def view_for(handle: GameHandle) -> GameView:
    """The curated view for ``handle``'s game, or the generic one."""
    return _CURATED.get(handle.name, GenericView())
