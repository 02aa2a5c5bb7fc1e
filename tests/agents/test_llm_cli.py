"""LLM agents and the base builder through the command line."""

from __future__ import annotations

import json
import runpy
import sys

import pytest

from agents.llm import clear_engines
from arena.cli import main


@pytest.fixture(autouse=True)
def fresh_engines():
    clear_engines()
    yield
    clear_engines()


def test_arena_match_with_an_llm_agent_end_to_end(tiny_base, tiny_adapters, tmp_path, capsys):
    out = tmp_path / "m.jsonl"
    spec = f"llm:{tiny_base}@{tiny_adapters[0]}"
    argv = ["--workspace", str(tmp_path / "ws"), "match", "--game", "tic_tac_toe"]
    assert main([*argv, "--agents", spec, "random", "--games", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 games in" in printed and "illegal moves 0, unparseable outputs 0" in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4 and all(r["termination"] == "normal" for r in records)
    seats = [seat for r in records for seat in r["seats"] if seat["spec"] == spec]
    assert len(seats) == 4 and {seat["version"] for seat in seats} == {"v1"}


def test_arena_match_finds_a_workspace_base_by_name(tiny_base, tmp_path, capsys):
    ws = tmp_path / "ws"
    (ws / "base").mkdir(parents=True)
    (ws / "base" / "tiny").symlink_to(tiny_base)
    argv = ["--workspace", str(ws), "match", "--game", "kuhn_poker", "--games", "2"]
    assert main([*argv, "--agents", "llm:tiny,temperature=0", "random"]) == 0
    assert "2 games in" in capsys.readouterr().out
    assert len(list((ws / "matches").glob("*/matches.jsonl"))) == 1


def test_llm_spec_mistakes_are_one_line_errors(tiny_base, tmp_path, capsys):
    argv = ["--workspace", str(tmp_path), "match", "--game", "tic_tac_toe", "--agents"]
    assert main([*argv, "llm:nowhere", "random"]) == 2
    assert main([*argv, f"llm:{tiny_base}@champion", "random"]) == 2
    assert main([*argv, f"llm:{tiny_base},mode=chat", "random"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("arena: error: ") for line in err)
    assert "base model 'nowhere' not found" in err[0]
    assert "registry" in err[1] and "mode='chat'" in err[2]


def test_base_build_command_and_script(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["base", "build", "--preset", "tiny", "--out", str(out), "--steps", "2", "--seed", "1"]
    assert main(argv) == 0
    assert "play it: arena match" in capsys.readouterr().out
    assert json.loads((out / "arena_base.json").read_text())["config"]["steps"] == 2
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    script = ["build_base.py", "--out", str(tmp_path / "s"), "--steps", "2", "--seed", "1"]
    old, sys.argv = sys.argv, script
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path("scripts/build_base.py", run_name="__main__")
    finally:
        sys.argv = old
    assert done.value.code == 0
    a, b = (out / "model.safetensors").read_bytes(), (tmp_path / "s/model.safetensors").read_bytes()
    assert a == b  # same preset, seed and steps: the same model, through either entry point
