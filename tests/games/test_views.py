"""Games as text: render/parse round trips, hidden information, openings, errors."""

import numpy as np
import pytest

from games import (
    InputError,
    ParseFailure,
    apply_opening,
    completion_text,
    load_game,
    observe,
    random_observations,
    sample_opening,
)

ROUND_TRIP_GAMES = [
    ("tic_tac_toe", 1500),
    ("connect_four", 1500),
    ("kuhn_poker", 1000),
    ("leduc_poker", 1500),
    ("connect_four(rows=5,columns=6)", 300),
    ("breakthrough", 300),
    ("hex(board_size=5)", 300),
]


@pytest.mark.parametrize("spec,count", ROUND_TRIP_GAMES)
def test_every_legal_action_round_trips_through_its_text(spec, count):
    for obs in random_observations(spec, count, seed=0):
        assert len(set(obs.texts)) == len(obs.texts), obs.prompt
        assert obs.prompt.endswith("Move:")
        assert "Legal moves: " + ", ".join(obs.texts) in obs.prompt
        for action, text in zip(obs.actions, obs.texts, strict=True):
            assert obs.parse(text) == action
            assert obs.parse(f"  {text.upper()} \n") == action
            assert obs.parse(completion_text(text)) == action


def test_parse_tells_illegal_from_unparseable():
    handle = load_game("tic_tac_toe")
    state = handle.game.new_initial_state()
    state.apply_action(4)  # x takes b2
    obs = observe(handle, state)
    illegal = obs.parse("b2")
    assert isinstance(illegal, ParseFailure) and illegal.kind == "illegal"
    garbage = obs.parse("I resign, good game")
    assert isinstance(garbage, ParseFailure) and garbage.kind == "unparseable"
    assert isinstance(obs.parse(""), ParseFailure)
    assert obs.parse("'a1'.") == 0
    assert obs.parse("o(0,0)") == 0  # OpenSpiel's own action name is accepted too


def test_tic_tac_toe_prompt_is_exact():
    handle = load_game("tic_tac_toe")
    state = handle.game.new_initial_state()
    state.apply_action(4)
    assert observe(handle, state).prompt == (
        "Game: tic_tac_toe\n"
        "You are player 1 (o). Three in a row wins.\n"
        "Board (rows a-c, columns 1-3):\n"
        "  1 2 3\n"
        "a . . .\n"
        "b . x .\n"
        "c . . .\n"
        "Legal moves: a1, a2, a3, b1, b3, c1, c2, c3\n"
        "Move:"
    )


@pytest.mark.parametrize("spec", ["kuhn_poker", "leduc_poker"])
def test_poker_prompts_never_show_the_opponents_card(spec):
    view_names = {"kuhn_poker": ["Jack", "Queen", "King"]}
    for obs in random_observations(spec, 600, seed=3):
        state, player, prompt = obs.state, obs.player, obs.prompt
        history = state.history()
        own, other = history[player], history[1 - player]
        if spec == "kuhn_poker":
            names = view_names[spec]
            assert f"Your card: {names[own]}." in prompt
            assert names[other] not in prompt.replace("Jack < Queen < King", "")
        else:
            from games.views import LeducPokerView

            view = LeducPokerView()
            assert f"Your card: {view.card_name(own)}." in prompt
            public = (
                history[2]
                if len(history) > 2 and state.information_state_string(player).count("[Public:")
                else None
            )
            # the exact opponent card (rank and suit) appears nowhere, unless it is the public one
            if other != public:
                assert view.card_name(other) not in prompt


def test_leduc_betting_is_described_in_words():
    handle = load_game("leduc_poker")
    state = handle.game.new_initial_state()
    for action in (0, 3, 2, 1):  # deal J♠ / Q♥, player 0 bets, player 1 calls
        state.apply_action(action)
    state.apply_action(5)  # public card
    prompt = observe(handle, state).prompt
    assert "Round 1 betting: player 0 bets, player 1 calls." in prompt
    assert "Public card: King of hearts." in prompt
    assert "Legal moves: check, bet" in prompt


def test_unknown_game_lists_supported_games():
    with pytest.raises(InputError, match="tic_tac_toe, connect_four, kuhn_poker, leduc_poker"):
        load_game("chess960x")
    with pytest.raises(InputError, match="not a 2-player turn-based"):
        load_game("goofspiel")
    with pytest.raises(InputError, match="game 'connect_four\\(foo=1\\)'"):
        load_game("connect_four(foo=1)")


def test_openings_are_seeded_and_replayable():
    handle = load_game("tic_tac_toe")
    first = [sample_opening(handle, np.random.default_rng(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    openings = {sample_opening(handle, np.random.default_rng(s)).actions for s in range(40)}
    assert len(openings) > 10  # diverse
    assert all(len(o) <= 2 for o in openings)
    state = apply_opening(handle, first[0])
    assert list(state.history()) == list(first[0].actions)


def test_poker_opening_is_the_deal():
    handle = load_game("leduc_poker")
    opening = sample_opening(handle, np.random.default_rng(1))
    assert len(opening.actions) == 2
    assert not apply_opening(handle, opening).is_chance_node()
