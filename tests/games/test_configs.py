"""The one declaration per config field (``games.configs``) and its command-line face
(``games.config_flags``): flags, defaults, help, choices, switches, tuples, nested tables, and
one-line ``InputError``s that name the key."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

import pytest

from games import InputError
from games.config_flags import Flags
from games.configs import build, defaults, nested, option


@dataclass(frozen=True)
class Inner:
    rate: float = option(0.1, "how fast")
    steps: int = option(-1, "how long")

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise InputError(f"rate must be > 0, got {self.rate}")


@dataclass(frozen=True)
class Flat:
    seed: int = option(0, "the seed")


@dataclass(frozen=True)
class Outer:
    name: str = option(help="required name", metavar="NAME")
    mode: Literal["fast", "slow"] = option("fast", "the mode")
    agents: tuple[str, ...] | None = option(None, "some specs")
    pair: tuple[str, str] = option(("a", "b"), "two specs")
    limit: int | None = option(None, "an optional cap")
    balance: bool = option(True, "balance the seats", no_flag="--no-balance")
    verbose: bool = option(False, "talk more")
    seat: int = option(0, "the seat", names={"first": 0, "second": 1})
    inner: Inner = nested(Inner, "the inner table")
    slow: Inner = nested(
        Inner, "other defaults", default_factory=lambda: Inner(rate=0.5), prefix=""
    )
    flat: Flat = nested(Flat, "flattened", flatten=True)


def parse(flags: Flags, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(exit_on_error=False)
    flags.add_to(parser)
    return parser.parse_args(argv)


def actions(flags: Flags) -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    flags.add_to(parser)
    return {a.dest: a for a in parser._actions}


def test_a_field_becomes_a_flag_with_its_type_default_help_and_choices():
    got = actions(Flags(Outer))
    assert got["name"].required and got["name"].option_strings == ["--name"]
    assert got["mode"].choices == ("fast", "slow") and got["mode"].default == "fast"
    assert got["mode"].help == "the mode (default fast)"
    assert got["limit"].type is int and got["limit"].default is None
    assert got["limit"].help == "an optional cap"  # no default shown for None
    assert got["agents"].nargs == "+" and got["pair"].nargs == 2
    assert got["pair"].default == ("a", "b") and "(default a b)" in got["pair"].help
    assert got["seat"].choices == ("first", "second") and got["seat"].default == "first"


def test_nested_configs_get_prefixed_flags_with_their_own_defaults():
    got = actions(Flags(Outer))
    assert got["inner_rate"].option_strings == ["--inner-rate"] and got["inner_rate"].default == 0.1
    # a nested field with prefix "" and other defaults (like DPO's TrainOptions)
    assert got["rate"].option_strings == ["--rate"] and got["rate"].default == 0.5
    assert got["seed"].option_strings == ["--seed"]  # flattened


def test_bool_fields_are_on_off_switches():
    flags = Flags(Outer)
    got = actions(flags)
    assert got["balance"].option_strings == ["--balance", "--no-balance"]
    assert got["verbose"].option_strings == ["--verbose", "--no-verbose"]
    assert "(default --balance)" in got["balance"].help
    args = parse(flags, ["--name", "x", "--no-balance", "--verbose"])
    assert (args.balance, args.verbose) == (False, True)
    assert parse(flags, ["--name", "x"]).balance is True


def test_parsed_flags_build_the_dataclass():
    flags = Flags(Outer)
    argv = ["--name", "x", "--mode", "slow", "--agents", "p", "q", "--seat", "second"]
    argv += ["--inner-rate", "2", "--seed", "7", "--limit", "3"]
    config = flags.build(parse(flags, argv))
    assert config == Outer(
        name="x", mode="slow", agents=("p", "q"), limit=3, seat=1,
        inner=Inner(rate=2.0), slow=Inner(rate=0.5), flat=Flat(seed=7),
    )  # fmt: skip
    assert flags.build(parse(flags, ["--name", "x"]), name="set by the command").name == (
        "set by the command"
    )
    with pytest.raises(argparse.ArgumentError):
        parse(flags, ["--name", "x", "--mode", "medium"])


def test_commands_exclude_rename_and_give_their_own_defaults():
    flags = Flags(Outer, exclude=("inner", "slow.steps"), rename={"name": "--who"},
                  defaults={"name": "nobody", "flat.seed": 5})  # fmt: skip
    got = actions(flags)
    assert "inner_rate" not in got and "steps" not in got and "rate" in got
    assert got["who"].default == "nobody" and not got["who"].required
    assert got["seed"].default == 5
    assert flags.build(parse(flags, [])).flat.seed == 5


def test_a_field_without_a_flag_form_must_be_excluded():
    @dataclass(frozen=True)
    class Odd:
        table: dict = option(help="no flag for this")

    with pytest.raises(TypeError, match="exclude it"):
        Flags(Odd)
    Flags(Odd, exclude=("table",))


def test_every_field_has_help():
    with pytest.raises(TypeError, match="help"):
        option(3)


def test_tables_build_with_defaults_and_merge_nested_tables():
    config = build(Outer, {"name": "x", "slow": {"steps": 4}, "seed": 2}, "[t]")
    assert config.slow == Inner(rate=0.5, steps=4)  # the field's own default rate is kept
    assert config.flat.seed == 2 and config.pair == ("a", "b")
    assert build(Outer, {"name": "x", "pair": ["c", "d"], "inner": {"rate": 1}}).pair == ("c", "d")
    assert defaults(Outer)["slow"] == {"rate": 0.5, "steps": -1} and "name" not in defaults(Outer)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "colour": 1}, "[t]: unknown key(s) ['colour']"),
        ({"name": "x", "inner": {"size": 1}}, "[t] inner: unknown key(s) ['size']"),
        ({}, "[t]: missing key 'name'"),
        ({"name": 3}, "[t] name: expected str, got int"),
        ({"name": "x", "inner": {"steps": "many"}}, "[t] inner.steps: expected int, got str"),
        ({"name": "x", "limit": True}, "[t] limit: expected int, got bool"),
        ({"name": "x", "mode": "medium"}, "[t] mode must be one of fast, slow, got 'medium'"),
        ({"name": "x", "pair": ["a"]}, "[t] pair: expected 2 items, got 1"),
        ({"name": "x", "inner": 3}, "[t] inner: expected a table, got int"),
        ({"name": "x", "inner": {"rate": -1}}, "[t]: rate must be > 0, got -1.0"),
    ],
)
def test_bad_tables_are_one_input_error_naming_the_key(data, message):
    with pytest.raises(InputError) as error:
        build(Outer, data, "[t]")
    assert str(error.value) == message


def test_text_values_go_through_the_fields_converter():
    def pairs(entries):
        if isinstance(entries, str):
            entries = [entries]
        return tuple((e.split("=")[0], float(e.split("=")[1])) for e in entries)

    @dataclass(frozen=True)
    class League:
        league: tuple[tuple[str, float], ...] = option((), "opponents", convert=pairs)

    assert build(League, {"league": ["a=2", "b=1"]}).league == (("a", 2.0), ("b", 1.0))
    assert build(League, {"league": [["a", 2]]}).league == (("a", 2.0),)  # a manifest's form
    flags = Flags(League)
    assert flags.build(parse(flags, ["--league", "a=3"])).league == (("a", 3.0),)
