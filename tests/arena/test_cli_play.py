"""CLI smoke tests with tiny budgets: `arena games`, `arena match`, and one-line user errors."""

import json
import subprocess
import sys

import pytest

from arena.cli import main
from games.records import read_matches


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "arena", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_lists_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "match" in result.stdout and "games" in result.stdout


def test_games_shows_a_prompt_per_curated_game(capsys):
    assert main(["games"]) == 0
    out = capsys.readouterr().out
    for name in ("tic_tac_toe", "connect_four", "kuhn_poker", "leduc_poker"):
        assert f"== {name}" in out
    assert out.count("Move:") == 4


def test_match_writes_records_and_prints_wdl(tmp_path, capsys):
    out = tmp_path / "m.jsonl"
    code = main(
        [
            "match",
            "--game",
            "connect_four",
            "--agents",
            "mcts:30",
            "random",
            "--games",
            "6",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    records = list(read_matches(out))
    assert len(records) == 6
    printed = capsys.readouterr().out
    assert "mcts:30" in printed and "W" in printed and "6 games" in printed


def test_match_with_odd_game_count_and_default_output(tmp_path, capsys):
    code = main(
        [
            "--workspace",
            str(tmp_path),
            "match",
            "--game",
            "kuhn_poker",
            "--agents",
            "solver",
            "random",
            "--games",
            "3",
        ]
    )
    assert code == 0
    shards = list((tmp_path / "matches").glob("*/matches.jsonl"))
    assert len(shards) == 1 and len(list(read_matches(shards[0]))) == 3


@pytest.mark.parametrize(
    "args,message",
    [
        (["match", "--game", "chess9", "--agents", "random", "random"], "unknown game 'chess9'"),
        (["match", "--game", "tic_tac_toe", "--agents", "random", "alpha"], "unknown agent spec"),
        (["match", "--game", "kuhn_poker", "--agents", "mcts", "random"], "perfect-information"),
        (
            ["match", "--game", "tic_tac_toe", "--agents", "random", "random", "--games", "0"],
            "games must be an integer >= 1",
        ),
        (
            [
                "match",
                "--game",
                "tic_tac_toe",
                "--agents",
                "random",
                "random",
                "--out",
                "/proc/forbidden/x.jsonl",
            ],
            "cannot write",
        ),
    ],
)
def test_user_mistakes_give_one_line_not_a_traceback(args, message, cli):
    """In-process (``arena.cli.main``, as the console script calls it); the process around it
    is test_help_lists_subcommands' and the game-string tests' (tests/games)."""
    result = cli(list(args))
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err
    assert result.err.strip().count("\n") == 0 or "%|" in result.err


def test_match_records_are_valid_json_lines(tmp_path):
    out = tmp_path / "m.jsonl"
    assert (
        main(
            [
                "match",
                "--game",
                "leduc_poker",
                "--agents",
                "solver",
                "random",
                "--games",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for line in out.read_text().splitlines():
        assert json.loads(line)["schema_version"] == 1


@pytest.mark.slow
def test_demo_plays_the_local_base_against_scripted_agents_on_ray(tmp_path, tiny_base):
    import shutil

    shutil.copytree(tiny_base, tmp_path / "base" / "tiny")  # the demo reuses a built base
    result = run_cli("--workspace", str(tmp_path), "demo", "--pairs", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "building the tiny base" not in result.stdout
    for player in ("random", "mcts:25", "solver", "llm:tiny"):
        assert player in result.stdout
    assert "12 games on" in result.stdout  # 6 pairings x 1 pair x 2 games
    shards = list((tmp_path / "matches").glob("demo-*/shard-*.jsonl"))
    assert sum(len(list(read_matches(s))) for s in shards) == 12
