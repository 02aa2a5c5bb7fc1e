"""Fuzz: the `arena` command as a user (or an attacker) types it (issue 12).

Property, for every generated command line: exit 0, or exit 2 whose last stderr line is one
`arena: error: ...` line; never a traceback, another status or a hang (each example is bounded
in time). Commands run in-process through `arena.cli.main`, the entry point of the console
script; the Ray runs (tournament, selfplay, gate) are fuzzed through their config dataclasses,
which the CLI, the nightly config and the HTTP API all build, so no example starts Ray.
ARENA_FUZZ=long runs many more examples.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from games import InputError

LONG = os.environ.get("ARENA_FUZZ") == "long"

NUMBERS = st.one_of(
    st.integers(-3, 12).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False).map(repr),
    st.sampled_from(["", " ", "1e3", "0x10", "٣", "²", "1_000", "--games", "-"]),
)
SPECS = st.one_of(
    st.sampled_from(["random", "mcts:3", "solver", "human", "llm:", "llm:nobase", "llm:x@"]),
    st.builds(
        lambda kind, arg: f"{kind}:{arg}",
        st.sampled_from(["random", "mcts", "MCTS", "solver", "llm", "human", "alpha"]),
        st.one_of(NUMBERS, st.text(max_size=12)),
    ),
    st.builds(
        lambda key, value: f"llm:nobase,{key}={value}",
        st.sampled_from(["temperature", "retries", "max_new_tokens", "mode", "t", "bogus", ""]),
        NUMBERS,
    ),
)


@pytest.fixture(scope="module")
def small_limits():
    """A low games limit, so a generated --games value that is valid stays quick to play."""
    saved = os.environ.get("ARENA_MAX_GAMES")
    os.environ["ARENA_MAX_GAMES"] = "6"
    yield
    if saved is None:
        os.environ.pop("ARENA_MAX_GAMES", None)
    else:
        os.environ["ARENA_MAX_GAMES"] = saved


@settings(max_examples=400 if LONG else 25)
@given(
    games=NUMBERS,
    seed=NUMBERS,
    batch=NUMBERS,
    plies=NUMBERS,
    level=st.sampled_from(["debug", "INFO", "Warning", "LOUD", "", "10"]),
)
def test_match_options(cli, small_limits, tmp_path_factory, games, seed, batch, plies, level):
    ws = tmp_path_factory.mktemp("ws")
    argv = ["--workspace", str(ws), "--log-level", level, "match", "--game", "tic_tac_toe"]
    argv += ["--agents", "random", "mcts:2", "--games", games, "--seed", seed]
    argv += ["--batch", batch, "--opening-plies", plies]
    cli(argv).assert_clean()


@settings(max_examples=300 if LONG else 25)
@given(first=SPECS, second=SPECS)
def test_agent_specs(cli, small_limits, tmp_path_factory, first, second):
    ws = tmp_path_factory.mktemp("ws")
    argv = ["--workspace", str(ws), "match", "--game", "tic_tac_toe", "--agents", first, second]
    cli([*argv, "--games", "2"]).assert_clean()


@settings(max_examples=300 if LONG else 25)
@given(
    argv=st.lists(
        st.one_of(
            st.sampled_from(["match", "games", "data", "sft", "prefs", "train", "eval", "--all"]),
            st.sampled_from(["--game", "--games", "--run-id", "--out", "--seed", "--help"]),
            st.sampled_from(["tic_tac_toe", "random", "kuhn_poker", "reproduce", "devsets"]),
            NUMBERS,
            st.text(max_size=8),
        ),
        max_size=6,
    )
)
def test_any_argv(cli, small_limits, tmp_path_factory, argv):
    """Random words after `arena`: usage errors, never a traceback (no Ray command is drawn)."""
    ws = tmp_path_factory.mktemp("ws")
    cli(["--workspace", str(ws), *argv]).assert_clean()


def _run_config(kind: str, values: dict):
    """The config as the CLI and the nightly config build it: through ``games.configs.build``
    (flattened keys: ``seed`` is the match options', ``margin`` the SPRT's)."""
    from arena.execution.session import ExecOptions
    from arena.runs.gate import GateRunConfig
    from arena.runs.selfplay import SelfplayConfig
    from arena.runs.tournament import TournamentConfig
    from games.configs import build

    if kind == "tournament":
        return build(
            TournamentConfig, {"game": "tic_tac_toe", "players": ("random", "mcts:2")}, "", values
        )
    if kind == "selfplay":
        fixed = {"game": "tic_tac_toe", "player": "random", "league": (("mcts:2", 1.0),)}
        return build(SelfplayConfig, fixed, "", values)
    if kind == "gate":
        fixed = {"game": "tic_tac_toe", "candidate": "random", "champion": "mcts:2"}
        return build(GateRunConfig, fixed, "", values)
    return build(ExecOptions, values)


VALUES = st.one_of(
    st.integers(-5, 50),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)
FIELDS = {
    "tournament": ["pairs", "seed", "opening_plies", "move_cap"],
    "selfplay": ["pairs", "seed", "opening_plies", "move_cap", "temperature"],
    "gate": ["margin", "alpha", "beta", "min_pairs", "max_pairs", "batch_pairs", "seed"],
    "exec": ["workers", "cpus_per_worker", "gpus_per_worker", "batch", "address"],
}


@settings(max_examples=400 if LONG else 40)
@given(data=st.data(), kind=st.sampled_from(sorted(FIELDS)))
def test_run_configs_accept_or_refuse_in_one_line(small_limits, data, kind):
    """What `arena tournament|selfplay|gate`, the nightly config and the API build."""
    keys = data.draw(st.lists(st.sampled_from(FIELDS[kind]), unique=True, max_size=3))
    values = {key: data.draw(VALUES) for key in keys}
    try:
        _run_config(kind, values)
    except InputError as error:  # ratings.GateConfig's ValueError too: build wraps it
        assert "\n" not in str(error) and str(error)


REQUIRED = {
    "sft-data": {"inputs": ["logs"], "out": "o"},
    "prefs-data": {"inputs": ["logs"], "out": "o"},
    "sft": {"data": "d", "base": "b", "out": "o"},
    "dpo": {"data": "d", "base": "b", "adapter": "a", "out": "o"},
    "eval": {"game": "tic_tac_toe", "agent": "random", "out": "o"},
}


@settings(max_examples=300 if LONG else 30)
@given(
    kind=st.sampled_from(["sft-data", "prefs-data", "sft", "dpo", "eval"]),
    obj=st.dictionaries(
        st.sampled_from(
            [
                "inputs",
                "out",
                "data",
                "base",
                "adapter",
                "game",
                "agent",
                "seed",
                "heldout",
                "rollouts",
                "threshold",
                "pairs",
                "limit",
                "train",
                "lora",
                "beta",
                "bogus",
            ]
        ),  # fmt: skip
        st.recursive(
            st.one_of(VALUES, st.just("tic_tac_toe")),
            lambda inner: st.one_of(
                st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner)
            ),
            max_leaves=6,
        ),
        max_size=6,
    ),
)
def test_training_configs_from_dict(kind, obj):
    """Manifests and the nightly config rebuild configs with ``from_dict``: a refusal is one
    InputError line naming what is wrong (a given key, or the missing one); an accepted dict
    is used whole (every given value is in the config, none dropped) and round-trips."""
    from training.config import CONFIG_KINDS, from_dict, to_dict

    obj = {**REQUIRED[kind], **obj}  # most examples get past the required keys
    try:
        config = from_dict(CONFIG_KINDS[kind], obj)
    except InputError as error:
        message = str(error)
        assert message.startswith("config") and "\n" not in message
        assert "missing key" in message or any(key in message for key in obj), message
        return
    stored = to_dict(config)
    for key, value in obj.items():
        assert key in stored and _same(value, stored[key]), (key, value, stored.get(key))
    assert from_dict(CONFIG_KINDS[kind], stored) == config


def _same(given, stored) -> bool:
    """``given`` (as a TOML table or a manifest holds it) is what the config stored: lists
    for tuples, an int for a float, the given keys of a nested table."""
    if isinstance(given, dict):
        return isinstance(stored, dict) and all(
            k in stored and _same(v, stored[k]) for k, v in given.items()
        )
    if isinstance(given, list | tuple):
        return (
            isinstance(stored, list | tuple)
            and len(given) == len(stored)
            and all(_same(a, b) for a, b in zip(given, stored, strict=True))
        )
    if isinstance(given, float) and given != given:
        return isinstance(stored, float) and stored != stored
    return given == stored and isinstance(given, bool) == isinstance(stored, bool)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2", "--seed", "-1"],
         "seed must be an integer between 0 and"),  # was a numpy traceback
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2",
          "--opening-plies", "-1"], "opening_plies must be"),  # was silently accepted
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2",
          "--run-id", ""], "--run-id must not be empty"),  # was silently the default id
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2",
          "--pairs", "1000000000000"], "exceed the limit of"),  # was a silent hang
        (["gate", "--game", "tic_tac_toe", "--candidate", "random", "--champion", "mcts:2",
          "--max-pairs", "1000000000"], "exceed the limit of"),
        (["selfplay", "--game", "tic_tac_toe", "--player", "random", "--seed", "-3"],
         "seed must be"),
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2",
          "--workers", "100000"], "workers must be an integer between 1 and"),
        (["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:2",
          "--cpus-per-worker", "nan"], "cpus_per_worker must be a finite number"),
        (["match", "--game", "tic_tac_toe", "--agents", "random", "random", "--games",
          "100000000000"], "exceed the limit of"),  # was a silent hang
        (["match", "--game", "tic_tac_toe", "--agents", "mcts:99999999999999999999", "random"],
         "simulations must be an integer between 1 and"),  # was an OpenSpiel traceback
        (["match", "--game", "tic_tac_toe", "--agents", "mcts:²", "random"],
         "simulations must be"),  # '²'.isdigit() is True, int('²') a traceback
        (["match", "--game", "tic_tac_toe", "--agents", "llm:x,retries=1000000000", "random"],
         "retries=1000000000: must be 0 to"),
        (["--log-level", "LOUD", "games"], "invalid choice: 'LOUD'"),  # was silently WARNING
        (["data", "sft", "--play", "tic_tac_toe", "--play-games", "1000000000"],
         "exceed the limit of"),
    ],
)  # fmt: skip
def test_issue_examples_are_refused_before_any_work(cli, tmp_path, monkeypatch, argv, expected):
    monkeypatch.delenv("ARENA_MAX_GAMES", raising=False)  # the default limit
    result = cli(["--workspace", str(tmp_path), *argv])
    result.assert_clean()
    assert result.code == 2 and expected in result.error, result.err
    assert not (tmp_path / "runs").exists()  # refused before a run folder (or Ray) appeared
