"""Game strings are checked before OpenSpiel sees them (issue 12).

Each case names the failure it guards against. Crash cases run the real `arena` command in a
child process with a memory and time limit, because a segmentation fault or an out-of-memory
kill cannot be caught in the test process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from games import InputError, load_game
from games.game_strings import canonical_game_string, parse_game_string


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _arena(*argv: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARENA_WORKSPACE": str(tmp_path / "ws")}
    env.pop("ARENA_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", "import sys; from arena.cli import main; sys.exit(main())", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limited,
        env=env,
    )


@pytest.mark.parametrize(
    ("game", "expected"),
    [
        ("connect_four(rows=0)", "rows=0: must be an integer between 1"),  # was SIGSEGV
        ("connect_four(rows=-1)", "rows=-1: must be an integer between 1"),  # was a C++ error
        ("hex(board_size=0)", "board_size=0: must be an integer between 1"),  # was a C++ error
        # was: allocation until the kernel killed the process (24 GB)
        ("connect_four(rows=100000,columns=100000)", "is too large"),
        ("dark_chess(fen=rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP w KQkq - 0 1)", "standard start"),
        ("universal_poker(numPlayers=3)", "only with its default parameters"),  # was SIGSEGV
        ("hanabi(colors=7)", "only with its default parameters"),  # was SIGABRT
    ],
)
def test_crashing_game_strings_are_one_line_errors(game, expected, tmp_path):
    done = _arena("match", "--game", game, "--agents", "random", "random", "--games", "1",
                  tmp_path=tmp_path)  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arena: error: game "), done.stderr
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("game", "expected"),
    [
        ("tic_tac_toe(x=1)", "has no parameter 'x'"),
        ("connect_four(rows=abc)", "rows=abc: expected an integer"),
        ("connect_four(rows=5,rows=6)", "'rows' given twice"),  # OpenSpiel kept the last one
        ("connect_four(rows=5", "parameters in parentheses"),
        ("go(komi=nan)", "expected a finite number"),
        ("go(board_size=25)", "between 1 and 19"),
        ("hex(swap=maybe)", "expected true or false"),
        ("bargaining(instances_file=/etc/passwd)", "does not load game files"),
        ("nfg_game", "nfg_game"),  # was IndexError (map::at): `arena games --all` crashed
        ("goofspiel", "not a 2-player turn-based game"),
        ("misere(game=connect_four(rows=0))", "rows=0"),
        ("x" * 2000, "too long"),
        # fuzz (long profile): no tensors, so only its 1 MB state text shows the size; each
        # game took over a minute and wrote megabytes of prompts
        ("coin_game(columns=99999)", "state text 1000110 characters"),
    ],
)
def test_bad_game_strings_name_the_problem(game, expected):
    with pytest.raises(InputError, match=None) as error:
        load_game(game)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_canonical_form_loads_the_same_game():
    assert canonical_game_string(" connect_four( rows = 5 , columns=6 ) ") == (
        "connect_four(rows=5,columns=6)"
    )
    assert load_game("go(komi=7,board_size=9)").spec == "go(komi=7.0,board_size=9)"
    assert load_game("hex(swap=true,board_size=3)").params["swap"] is True
    assert load_game("misere(game=tic_tac_toe)").spec == "misere(game=tic_tac_toe())"
    assert parse_game_string("a(b=c(d=1,e=2),f=3)") == ("a", [("b", "c(d=1,e=2)"), ("f", "3")])


def test_size_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("ARENA_MAX_GAME_SIZE", "50")
    with pytest.raises(InputError, match="ARENA_MAX_GAME_SIZE"):
        load_game("connect_four(rows=9,columns=9)")
    monkeypatch.setenv("ARENA_MAX_GAME_SIZE", "many")
    with pytest.raises(InputError, match=r"\$ARENA_MAX_GAME_SIZE must be a positive integer"):
        load_game("connect_four(rows=8,columns=9)")
