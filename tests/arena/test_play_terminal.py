"""`arena play` through a real pseudo-terminal, and the HumanGame rules it relies on."""

import re
import sys

import pexpect
import pytest

from arena.play.human import HumanGame
from games import InputError
from games.records import read_matches

LEGAL = re.compile(r"Legal moves: (.*)\r?\n")


def test_play_whole_game_in_a_pty_reasks_illegal_entries_and_saves_the_record(tmp_path):
    out = tmp_path / "human.jsonl"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "arena", "play", "--game", "tic_tac_toe", "--vs", "mcts:20", "--seed", "5"]
        + ["--show-policy", "--out", str(out)],
        cwd=str(tmp_path),
        timeout=60,
        encoding="utf-8",
    )
    child.expect("you are player 0")
    asked_again = False
    moves, played = 0, ""
    while True:
        index = child.expect([LEGAL, r"Game over: you (\w+)"])
        if index == 1:
            outcome = child.match.group(1)
            break
        legal = child.match.group(1)
        child.expect_exact("your move> ")
        if moves == 1:  # one unparseable entry and one occupied cell, each asked again
            child.sendline("zz")
            child.expect("names no move; legal: .*try again")
            child.expect_exact("your move> ")
            child.sendline(played)
            child.expect("is not legal now")
            child.expect_exact("your move> ")
            asked_again = True
        first = legal.split()[0]  # "a1  a2  ..." -> "a1": labels, any case and spacing
        child.sendline(first if moves % 2 == 0 else f"  {first.upper()} ")
        child.expect(f"you play {first}")
        played = first
        moves += 1
    assert asked_again and outcome in ("won", "lost", "drew")
    child.expect_exact("again? [y]es, [s]wap seats, [n]o> ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    (record,) = list(read_matches(out))
    assert [s.spec for s in record.seats] == ["human", "mcts:20"]
    human_moves = [m for m in record.moves if m.player == 0]
    assert len(human_moves) == moves and all(m.policy is None for m in human_moves)
    assert all(m.policy is not None for m in record.moves if m.player == 1)
    score = {"won": 1.0, "drew": 0.5, "lost": 0.0}[outcome]
    assert record.score(0) == score


def test_human_game_refuses_out_of_turn_finished_and_bad_moves():
    game = HumanGame("tic_tac_toe", "random", human_seat=1, seed=0, match_id="t")
    with pytest.raises(InputError, match="not your turn"):
        game.play_human("a1")
    from agents import make_agent
    from games import load_game

    agent = make_agent("random", load_game("tic_tac_toe"))
    game.step_agent(agent)
    with pytest.raises(InputError, match="names no move"):
        game.play_human("z9")
    for entry in ("0", "1", "²", "①"):  # labels only: never a position in the list
        with pytest.raises(InputError, match="names no move"):
            game.play_human(entry)
    with pytest.raises(InputError, match="not over yet"):
        game.record()
    while not game.done:
        if game.agent_to_move:
            game.step_agent(agent)
        else:
            game.play_human(game.observation().texts[0])
    with pytest.raises(InputError, match="game is over"):
        game.play_human("a1")
    record = game.record()
    assert record.seats[1].spec == "human" and record.history == game.state.history()
