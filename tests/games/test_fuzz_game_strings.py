"""Fuzz: generated game strings through `arena match`, in a child process (issue 12).

The property: every game string gives a played game (exit 0) or one `arena: error:` line
(exit 2); never a traceback, a crash (segmentation fault, abort), memory exhaustion or a hang.
OpenSpiel crashes cannot be caught in-process, so one long-lived child runs the real CLI on each
string under a memory limit, and a per-example time bound; a child that dies is reported with
the string that killed it and replaced. ARENA_FUZZ=long runs many more examples.
"""

from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys

import pyspiel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

LONG = os.environ.get("ARENA_FUZZ") == "long"
EXAMPLE_S = 60

CHILD = r"""
import contextlib, io, json, sys, tempfile
from arena.cli import main
out = tempfile.mkdtemp()
print("READY", flush=True)
for line in sys.stdin:
    game = json.loads(line)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(["match", "--game=" + game, "--agents", "random", "random", "--games", "1",
                         "--out", out + "/m.jsonl"])
        except SystemExit as stop:
            code = stop.code
        except BaseException:
            import traceback
            traceback.print_exc(file=err)
            code = 1
    print(json.dumps({"code": code, "err": err.getvalue()[-2000:]}), flush=True)
"""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


class Child:
    """The CLI in a child process with a memory limit; restarted after a crash."""

    def __init__(self, workspace: str):
        self.workspace = workspace
        self.proc = None

    def start(self) -> None:
        env = {**os.environ, "ARENA_WORKSPACE": self.workspace, "PYTHONUNBUFFERED": "1"}
        env.pop("ARENA_DEBUG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the C++ side's own stderr (already in "err" above)
            text=True,
            preexec_fn=_limited,
            env=env,
        )
        assert self._read(120) == "READY"

    def _read(self, seconds: float) -> str | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        if not ready:
            return None
        return self.proc.stdout.readline().strip()

    def run(self, game: str) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps(game) + "\n")
        self.proc.stdin.flush()
        line = self._read(EXAMPLE_S)
        if line is None:
            self.close()
            return {"code": "hang", "err": f"no answer within {EXAMPLE_S} s"}
        if not line:
            status = self.proc.wait()
            self.proc = None
            return {"code": f"crash (exit status {status})", "err": ""}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    runner = Child(str(tmp_path_factory.mktemp("ws")))
    yield runner
    runner.close()


def _two_player_games() -> dict[str, dict]:
    specs = {}
    for game_type in pyspiel.registered_games():
        if game_type.dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL:
            specs[game_type.short_name] = dict(game_type.parameter_specification)
    return specs


SPECS = _two_player_games()
NAMES = sorted(SPECS)
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)


def _value(default) -> st.SearchStrategy[str]:
    ints = st.one_of(
        st.integers(-3, 30), st.integers(-(2**70), 2**70), st.sampled_from([99999, 100001])
    ).map(str)
    if isinstance(default, bool):
        return st.one_of(st.sampled_from(["true", "false", "True", "1", "yes"]), TEXT)
    if isinstance(default, int):
        return st.one_of(ints, ints.map(lambda s: s + ".0"), TEXT)
    if isinstance(default, float):
        floats = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False).map(repr)
        return st.one_of(floats, ints, TEXT)
    if isinstance(default, dict):
        return st.sampled_from(["tic_tac_toe", "tic_tac_toe()", "connect_four(rows=0)", "x()"])
    return st.one_of(TEXT, st.sampled_from([str(default), "1;2;3", "[1;99999]", ""]))


@st.composite
def game_strings(draw) -> str:
    """A game name (mostly real) and parameters (mostly the game's own, values of any kind)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(TEXT)
    name = draw(st.sampled_from(NAMES))
    spec = SPECS[name]
    keys = sorted(spec) + ["bogus"]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=3))
    items = [f"{key}={draw(_value(spec.get(key, 0)))}" for key in chosen]
    space = draw(st.sampled_from(["", " "]))
    return f"{name}{space}({','.join(items)})" if items or draw(st.booleans()) else name


@settings(max_examples=2000 if LONG else 60)
@given(game=game_strings())
def test_any_game_string_plays_or_is_refused_in_one_line(child, game):
    result = child.run(game)
    assert result["code"] in (0, 2), (game, result)
    assert "Traceback" not in result["err"], (game, result["err"])
    if result["code"] == 2:
        lines = [line for line in result["err"].splitlines() if line.strip()]
        assert lines[-1].startswith("arena: error: "), (game, result["err"])
