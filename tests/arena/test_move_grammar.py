"""One move grammar for people (issue 18, findings 4 and 5): the labels the board shows are what
a person types, in the terminal and the API, for every curated game; and a person's game is
the match loop's game (forfeit, move cap, records).

Finding 4: in connect_four with column 4 full the legal moves are 1,2,3,5,6,7; "5" played
column 6 and "6" was refused as out of range (a label read as a position in the list).
Finding 5: Unicode digits ("²", "①") passed ``isdigit()`` and crashed ``int()`` (HTTP 500, a
traceback that lost the game in ``arena play``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.base import Decision
from arena.play.human import HumanGame
from games import CURATED_GAMES, InputError, load_game

UNICODE_DIGITS = ("²", "①", "٣", "５", "5\u0301", "Ⅴ")


def _column_four_full(human_seat: int) -> HumanGame:
    """connect_four with column 4 (action 3) full, the person to move."""
    game = HumanGame("connect_four", "random", human_seat=human_seat, seed=1, match_id="c4")
    for _ in range(6):
        obs = game.observation()
        game.live.apply(obs, Decision(action=3), 0.0)  # both seats drop into column 4
    assert game.to_move == human_seat and 3 not in game.observation().actions
    return game


def test_connect_four_labels_are_columns_whatever_is_full():
    game = _column_four_full(0)
    obs = game.observation()
    assert obs.texts == ("1", "2", "3", "5", "6", "7")
    assert game.parse_human("5").action == 4 and game.parse_human("6").action == 5
    with pytest.raises(InputError, match="'4' is not legal now"):
        game.parse_human("4")
    for entry in (*UNICODE_DIGITS, "0", "8", "x4", "-1", "5.0"):
        with pytest.raises(InputError, match="names no move|not legal now"):
            game.parse_human(entry)
    move = game.play_human(" 5 ")
    assert (move.action, move.text) == (4, "5")


def _to_human_turn(game: HumanGame, rng: np.random.Generator, plies: int) -> bool:
    """Random legal moves by both seats for ``plies`` plies, then on to the person's turn;
    False when the game ended first."""
    for _ in range(plies):
        if game.done:
            return False
        obs = game.observation()
        game.live.apply(obs, Decision(action=int(rng.choice(obs.actions))), 0.0)
    while not game.done and game.agent_to_move:
        obs = game.observation()
        game.live.apply(obs, Decision(action=int(rng.choice(obs.actions))), 0.0)
    return not game.done


@given(
    game=st.sampled_from(CURATED_GAMES),
    seed=st.integers(0, 2**31 - 1),
    plies=st.integers(0, 30),
    seat=st.sampled_from([0, 1]),
    pick=st.integers(0, 10**6),
    style=st.sampled_from(["plain", "upper", "spaced", "quoted"]),
)
def test_each_shown_label_plays_exactly_that_move(game, seed, plies, seat, pick, style):
    human = HumanGame(game, "random", human_seat=seat, seed=seed, match_id="p")
    if not _to_human_turn(human, np.random.default_rng(seed), plies):
        return
    obs = human.observation()
    for action, label in zip(obs.actions, obs.texts, strict=True):
        assert human.parse_human(label).action == action, (game, label)
    action = obs.actions[pick % len(obs.actions)]
    label = obs.text_of(action)
    typed = {"plain": label, "upper": label.upper(), "spaced": f"  {label} ",
             "quoted": f'"{label}"'}[style]  # fmt: skip
    for entry in UNICODE_DIGITS:
        with pytest.raises(InputError):  # refused cleanly, never a crash
            human.parse_human(entry)
    move = human.play_human(typed)
    assert (move.action, move.text, move.player) == (action, label, seat)


def test_an_agents_illegal_move_forfeits_as_in_batch_play():
    """The person's game is the match loop's game: the same forfeit, returns and record."""
    from games.match import MatchJob, play_match
    from games.openings import Opening

    game = HumanGame("tic_tac_toe", "random", human_seat=0, seed=4, match_id="f")
    game.play_human("b2")
    obs = game.observation()
    game.apply_agent(obs, Decision(action=4, text="b2"), 0.0)  # b2 is taken: illegal
    assert game.done and game.termination == "illegal_move" and game.outcome() == "win"
    record = game.record()
    assert record.termination == "illegal_move" and record.returns == [1.0, -1.0]

    class Taken:
        spec = "taken"
        version = None

        def act_batch(self, observations, rngs):
            return [Decision(action=4, text="b2") for _ in observations]

    class Centre(Taken):
        spec = "human"

        def act_batch(self, observations, rngs):
            return [Decision(action=4, text="b2") for _ in observations]

    job = MatchJob("f", "tic_tac_toe", ("human", "taken"), Opening(chance_seed=4), seed=4)
    batch = play_match(job, {"human": Centre(), "taken": Taken()})
    assert (batch.termination, batch.returns) == (record.termination, record.returns)
    assert [m.illegal for m in batch.moves] == [m.illegal for m in record.moves]


def test_the_move_cap_ends_a_persons_game_as_a_draw():
    game = HumanGame("tic_tac_toe", "random", human_seat=1, seed=0, match_id="c", move_cap=2)
    game.step_agent(load_agent())
    game.play_human(game.observation().texts[0])
    assert game.done and game.termination == "move_cap" and game.outcome() == "draw"
    assert game.record().termination == "move_cap"


def load_agent():
    from agents import make_agent

    return make_agent("random", load_game("tic_tac_toe"))
