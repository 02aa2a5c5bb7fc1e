"""The config faces in the arena: ``arena nightly --print-config`` (the resolved night with
where each value came from), the checks a night makes before any work (issue 18, item 14: each
case here was accepted, or failed after work had started), and the derived request models."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from arena.cli import main
from arena.nightly.config import TABLES, parse_config


def _nightly(ws: Path, *args: str) -> list[str]:
    return ["--workspace", str(ws), "nightly", *args]


def _one_line_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("arena: error: "), captured.err
    return lines[0]


def test_print_config_shows_every_table_and_where_each_value_came_from(tmp_path, capsys):
    ws = tmp_path / "ws"
    source = "configs/nightly.toml"
    argv = _nightly(ws, "--config", source, "--set", "gate.max_pairs=40", "--print-config")
    assert main([*argv, "--set", "sft_train.train.epochs=2"]) == 0
    out = capsys.readouterr().out
    lines = {line.split("=")[0].strip(): line for line in out.splitlines() if " = " in line}
    for name in TABLES:
        assert f"\n[{name}]\n" in out
    assert "\n[sft_train.train]\n" in out and "\n[dpo_train.lora]\n" in out
    number = next(i for i, t in enumerate(Path(source).read_text().splitlines(), 1)
                  if t.startswith("min_pairs"))  # fmt: skip
    assert lines["min_pairs"].endswith(f"# {source}:{number}")
    assert lines["max_pairs"].split("#")[0].strip() == "max_pairs = 40"
    assert lines["max_pairs"].endswith("# --set gate.max_pairs=40")
    assert lines["margin"].endswith("# default") and "margin = 0.05" in lines["margin"]
    assert "learning_rate = 0.0003" in out  # DPO's own default, read from the dataclass
    assert not ws.exists()  # no work: not even the workspace folder

    # the output is the config: read back, it builds the same run configs
    again = parse_config(out.replace(f"{source}", "x"), "printed.toml")
    first = parse_config(Path(source).read_text(), source, ("gate.max_pairs=40",))
    fixed = {"game": "tic_tac_toe", "candidate": "random", "champion": "random", "seed": 1}
    assert again.gate_config(**fixed) == first.gate_config(**fixed)
    assert again.sft_run_config(data="d", base="b", out="o").train.epochs == 2
    assert again.night == first.night and again.league == first.league


def test_print_config_without_a_file_shows_the_defaults(tmp_path, capsys):
    assert main(_nightly(tmp_path / "ws", "--print-config", "--set", "night.seed=5")) == 0
    out = capsys.readouterr().out
    assert "seed = 5" in out and "# --set night.seed=5" in out
    assert 'league = ["self=2", "previous=1"]' in out
    assert tomllib.loads(out)["tournament"]["pairs"] == 10
    code = main(_nightly(tmp_path / "ws"))
    assert "give --config" in _one_line_error(capsys, code)


def test_set_flags_are_checked_like_the_file(tmp_path, capsys):
    for flag, message in (
        ("gate.margin=0.9", "margin must lie strictly between 0 and 0.5"),
        ("gate", "expected TABLE.KEY=VALUE"),
        ("colour.x=1", "unknown table(s) ['colour']"),
        ("night.workers=many", "[night] workers: expected int, got str"),
    ):
        code = main(_nightly(tmp_path / "ws", "--print-config", "--set", flag))
        assert message in _one_line_error(capsys, code), flag


def _base(folder: Path, games: list[str] | None) -> Path:
    """A folder that looks like a base model to the checks (they do not load it)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if games is not None:
        (folder / "arena_base.json").write_text(json.dumps({"config": {"games": games}}))
    return folder


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[night]\nseed = 99999999999999999999", "seed must be an integer between 0 and"),
        ("[night]\nseed = -1", "seed must be an integer between 0 and"),
        # chess: not a game the preset builds the base on (a chess game of the tiny base did
        # not finish in 90 s); the base is built by the night, its games are the preset's
        ("[night]\ngames = ['chess']", "'chess' is not a game the base 'small' was built on"),
        ("[selfplay]\nleague = ['llm:/etc/passwd=1']", "no base model at /etc/passwd"),
        ("[selfplay]\nleague = ['llm:small@/nowhere/v1=1']", "no adapter folder at /nowhere/v1"),
        ("[selfplay]\nleague = ['llm:elsewhere=1']", "no workspace base 'elsewhere'"),
        ("[prefs_data]\nrollout_agent = 'llm:../x'", "[prefs_data] rollout_agent: 'llm:../x'"),
        # was exit 1 and "run the same command to resume", after the night had started
        ("[night]\nbase = '../../../../etc/passwd'", "base '../../../../etc/passwd': no base"),
    ],
)
def test_the_night_refuses_before_any_work(tmp_path, capsys, toml, message):
    ws = tmp_path / "ws"
    config = tmp_path / "n.toml"
    config.write_text(toml)
    for extra in ((), ("--print-config",)):
        code = main(_nightly(ws, "--config", str(config), *extra))
        assert message in _one_line_error(capsys, code)
    assert not ws.exists()  # no lock, no registry, no Ray


def test_games_are_checked_against_the_base(tmp_path, capsys):
    ws = tmp_path / "ws"
    built = _base(tmp_path / "built", ["tic_tac_toe"])  # an arena base: its manifest's games
    config = tmp_path / "n.toml"
    config.write_text(f"[night]\nbase = '{built}'\ngames = ['connect_four']")
    code = main(_nightly(ws, "--config", str(config), "--print-config"))
    assert "not a game the base" in _one_line_error(capsys, code)
    hub = _base(tmp_path / "hub", None)  # another causal LM folder: any playable game
    league = f"llm:{hub}=1"
    config.write_text(f"[night]\nbase = '{hub}'\ngames = ['hex(board_size=3)']\n"
                      f"[selfplay]\nleague = ['self=1', '{league}']")  # fmt: skip
    assert main(_nightly(ws, "--config", str(config), "--print-config")) == 0
    assert f'league = ["self=1", "{league}"]' in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["promote", "v1"], ["rollback"], ["rollback", "--to", "v1"]])
def test_promote_and_rollback_need_a_registry_and_do_not_create_one(tmp_path, capsys, argv):
    ws = tmp_path / "ws"
    code = main(["--workspace", str(ws), *argv, "--reason", "test"])
    assert "no registry at" in _one_line_error(capsys, code)
    assert not (ws / "registry.sqlite").exists()


def test_every_config_field_declares_its_help():
    from arena.execution.session import ExecOptions
    from arena.play.terminal import PlayConfig
    from arena.serve.config import ServerConfig
    from arena.serve.models import MatchRequest, MoveRequest
    from training.config import CONFIG_KINDS, PlaySpec

    todo = [ExecOptions, PlayConfig, ServerConfig, MatchRequest, MoveRequest, PlaySpec]
    todo += list(CONFIG_KINDS.values())
    todo += [t.own for t in TABLES.values() if t.own] + [t.runs for t in TABLES.values() if t.runs]
    seen = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help"
            if f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
                if dataclasses.is_dataclass(value):
                    todo.append(type(value))
    assert len(seen) >= 20


def test_request_models_are_derived_from_their_dataclasses():
    from arena.serve.models import MatchRequest, NewMatch

    fields = NewMatch.model_fields
    assert list(fields) == [f.name for f in dataclasses.fields(MatchRequest)]
    for f in dataclasses.fields(MatchRequest):
        assert fields[f.name].description == f.metadata["help"]
    assert fields["seat"].default == "first" and fields["game"].is_required()
    body = NewMatch(game="tic_tac_toe", opponent="random", seed=3)
    assert MatchRequest(**body.model_dump()).seed == 3
    with pytest.raises(ValueError, match="seed must be an integer between 0 and"):
        NewMatch(game="tic_tac_toe", opponent="random", seed=-1)  # the dataclass's own check
