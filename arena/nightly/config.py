"""``nightly.toml``: what a night does, validated completely before any work starts.

Every table of the file is declared by dataclasses, never by a list of keys written here:

* the night's own keys: ``NightSection`` (``[night]``), ``DatasetsSection``, ``SelfplaySection``
  (the league), ``GateSection``, ``RegressionSection``, ``TournamentSection``;
* the other keys of ``[selfplay]``, ``[sft_data]``, ``[sft_train]``, ``[prefs_data]``,
  ``[dpo_train]``, ``[eval]``, ``[gate]`` and ``[tournament]`` override the defaults of the run
  configs the single commands use (``SelfplayConfig``, ``training.config.SFTDataConfig``, ...):
  a key left out keeps that dataclass's default, so tuned training defaults flow into the night
  without being copied here, and a field added to a run config is a key of its table at once.

``TABLES`` maps each table to those classes. The keys the night sets itself (paths, the game, the
players: ``night_values``) are refused in the file. Unknown keys, bad types and bad values are one
``InputError`` naming the table and the key, before the night starts: each run config is built
here as the first night of each game would build it. ``arena nightly --print-config`` shows the
resolved file with where each value came from (``arena.nightly.show``).

See ``configs/nightly.toml`` for a commented example.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from arena.execution.session import ExecOptions
from arena.nightly.origins import apply_sets, toml_origins
from arena.runs.gate import GateRunConfig
from arena.runs.selfplay import SelfplayConfig, league_text, parse_league
from arena.runs.tournament import TournamentConfig
from games import InputError, load_game
from games.configs import build, keys_of, nested, option, to_dict
from games.limits import check_float, check_int, check_seed, check_text
from training.config import DPORunConfig, EvalConfig, PrefsDataConfig, SFTDataConfig, SFTRunConfig

PREVIOUS = "previous"
SELF = "self"


def _scripted(where: str, spec: str) -> None:
    from agents import parse_spec

    if parse_spec(spec).kind in ("llm", "human"):
        raise InputError(f"{where}: '{spec}' must be a scripted agent here")


@dataclass(frozen=True)
class NightSection:
    """``[night]``: games, base, seeds and resources."""

    games: tuple[str, ...] = option(
        ("tic_tac_toe",), "game specs, each with its own champion and cycle"
    )
    base: str = option("small", "a workspace base name (small -> WORKSPACE/base/small) or a folder")
    build_preset: str = option("small", 'build a missing base with this preset; "" never')
    seed: int = option(0, "seed of every run of the night (the night id is mixed in)")
    placement: ExecOptions = nested(
        ExecOptions, "Ray match workers: self-play, gate, tournament", flatten=True
    )
    train_cpus: float = option(1.0, "CPUs the training task requests (a node on a cluster)")
    train_gpus: float = option(0.0, "GPUs the training task requests (a GPU node on a cluster)")
    train_resources: dict[str, float] = option(
        help="custom Ray resources the training task requests, e.g. {worker_node = 1} for nodes "
        "started with `ray start --resources '{\"worker_node\": 1}'`",
        default_factory=dict,
    )
    threads: int = option(1, "torch CPU threads in training and evaluation (1 on a shared CPU)")
    play: str = option(
        "",
        "LLM options on every spec the night plays its versions with (eval, gate, regression, "
        'tournament, self-play), e.g. "sym=1": average over the board\'s symmetric images',
    )
    device: str | None = option(
        None, "training/evaluation device (default: CUDA when the task got a GPU, else CPU)"
    )

    def __post_init__(self) -> None:
        from training.base_model import PRESETS

        if not self.games:
            raise InputError("games is empty")
        specs = [load_game(g).spec for g in self.games]  # unknown games fail here
        if len(set(specs)) != len(specs):
            raise InputError(f"games repeat: {list(self.games)}")
        check_text("base", self.base)
        if self.build_preset and self.build_preset not in PRESETS:
            raise InputError(
                f"unknown build_preset '{self.build_preset}'; choose from {', '.join(PRESETS)} "
                'or ""'
            )
        check_seed("seed", self.seed)
        check_float("train_cpus", self.train_cpus, 0, 1024)
        check_float("train_gpus", self.train_gpus, 0, 64)
        if not isinstance(self.train_resources, dict):
            raise InputError("train_resources must be a table of name = amount")
        for name, amount in self.train_resources.items():
            check_float(f"train_resources.{name}", amount, 0, 1e6)
        check_int("threads", self.threads, 1, 1024)
        if self.play:
            from agents import parse_spec
            from agents.llm.options import LLMOptions

            options = parse_spec(f"llm:x,{self.play}").options
            if {"temperature", "t", "temp"} & set(options):
                raise InputError("play: the night sets the temperature itself (argmax play)")
            LLMOptions.parse(options)


@dataclass(frozen=True)
class DatasetsSection:
    """``[datasets]``: which datasets a night builds."""

    sft: Literal["first", "always", "never"] = option(
        "first",
        "SFT rows from expert play: first (only while the champion is the bare base), always, "
        "or never",
    )
    expert: str = option("solver", "the expert whose moves become SFT rows (a scripted agent)")
    opponent: str = option("random", "who the expert plays (a scripted agent)")
    games: int = option(200, "games of the expert")
    prefs: Literal["after_first", "always", "never"] = option(
        "after_first",
        "preference pairs at the self-play positions, then DPO/IPO: after_first (once an "
        "adapter is champion), always, or never",
    )
    teacher: str = option(
        "{champion}",
        "who plays the champion's seats in self-play, a spec in which {champion} is the "
        "champion's own spec: the champion itself, or a search over its policy, e.g. "
        "search:{champion},sims=64 (expert iteration: SFT distils the search's moves)",
    )
    selfplay_sft: bool = option(
        False,
        "also make SFT rows at the teacher's self-play positions (labelled by [sft_data] "
        "label), so each night adds the positions the champion meets",
    )
    replay_nights: int = option(
        0, "add the SFT rows of up to this many earlier nights of the game (a replay buffer)"
    )
    replay_rows: int = option(0, "at most this many replayed rows (a uniform sample; 0: all)")

    def __post_init__(self) -> None:
        from agents import parse_spec

        if self.sft == "never" and self.prefs == "never":
            raise InputError("sft and prefs are both 'never': nothing to train")
        if self.games < 0 or self.games == 1:
            raise InputError("games must be 0 (no expert games) or at least 2")
        if self.sft != "never" and self.games == 0 and not self.selfplay_sft:
            raise InputError("games = 0 needs selfplay_sft = true (no SFT rows)")
        if "{champion}" not in self.teacher:
            raise InputError(f"teacher must contain {{champion}}: {self.teacher!r}")
        parse_spec(self.teacher.replace("{champion}", "llm:x"))
        check_int("replay_nights", self.replay_nights, 0)
        check_int("replay_rows", self.replay_rows, 0)
        for spec in (self.expert, self.opponent):
            _scripted("[datasets]", spec)


@dataclass(frozen=True)
class SelfplaySection:
    """``[selfplay]``'s own key (the rest override ``SelfplayConfig``)."""

    league: tuple[tuple[str, float], ...] = option(
        ((SELF, 2.0), (PREVIOUS, 1.0)),
        "the champion's opponents with weights: 'self' is the champion, 'previous' the "
        "previous champion (when there is one), or any agent spec",
        convert=parse_league,
        text=league_text,
    )

    def __post_init__(self) -> None:
        from agents import parse_spec

        for spec, weight in self.league:
            if spec not in (SELF, PREVIOUS):
                parse_spec(spec)
            if not (math.isfinite(weight) and weight > 0):
                raise InputError(f"league weight of '{spec}' must be positive")


@dataclass(frozen=True)
class GateSection:
    """``[gate]``'s own keys (the rest override ``arena.runs.gate.GateRunConfig``).

    ``by = "exploitability"``: for games with an exact exploitability (poker), the candidate is
    promoted when its exploitability is lower than the champion's by at least the margin (no
    games are played; other games keep the SPRT). In poker a win rate hides the size of wins:
    the bare ``small`` base wins 0.525 of its games against the CFR solver while losing 0.14
    chips per game (LEARNING.md section 5), so a gate on games can reject a better policy.
    """

    by: Literal["games", "exploitability"] = option(
        "games",
        "games: the SPRT on seat-swapped games; exploitability: exact, for poker (see above)",
    )
    exploitability_margin: float = option(
        0.005, "chips per game the candidate's exploitability must improve by"
    )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.exploitability_margin) and 0 <= self.exploitability_margin < 1):
            raise InputError("exploitability_margin must be in [0, 1)")


@dataclass(frozen=True)
class RegressionSection:
    """``[regression]``: the champion against the previous champion, after the decision.

    A champion is rolled back when its dev-set metric is worse than the previous champion's
    by more than ``devset_tolerance``, or when, over ``pairs`` seat-swapped pairs against it,
    the upper end of its score's 95% interval (pentanomial, ``ratings.elo_estimate``) falls
    below ``0.5 - score_tolerance``.
    """

    devset_tolerance: float = option(
        0.05, "dev-set accuracy points (exploitability for poker) a champion may lose"
    )
    pairs: int = option(0, "> 0: also play the champion against the previous one, in pairs")
    score_tolerance: float = option(0.0, "how far below 0.5 the score's upper bound may fall")

    def __post_init__(self) -> None:
        check_int("pairs", self.pairs, 0)
        for key in ("devset_tolerance", "score_tolerance"):
            check_float(key, getattr(self, key), 0, 1, hi_open=True)


@dataclass(frozen=True)
class TournamentSection:
    """``[tournament]``'s own keys (the rest override ``arena.runs.tournament``'s config)."""

    recent: int = option(3, "the champion plus this many most recent other versions (v0 too)")
    scripted: tuple[str, ...] = option(("random", "mcts:50"), "scripted reference players")
    pairs: int = option(10, "seat-swapped pairs per pairing")

    def __post_init__(self) -> None:
        check_int("recent", self.recent, 0)
        check_int("pairs", self.pairs, 1)
        for spec in self.scripted:
            _scripted("[tournament]", spec)


@dataclass(frozen=True)
class Table:
    """One table of the file: the night's own keys (``own``, stored as ``NightlyConfig.<attr>``)
    and the run config its other keys override (``runs``)."""

    attr: str | None = None
    own: type | None = None
    runs: type | None = None


# The file's tables, in the order --print-config shows them.
TABLES: dict[str, Table] = {
    "night": Table("night", NightSection),
    "datasets": Table("datasets", DatasetsSection),
    "selfplay": Table("selfplay", SelfplaySection, SelfplayConfig),
    "sft_data": Table(runs=SFTDataConfig),
    "sft_train": Table(runs=SFTRunConfig),
    "prefs_data": Table(runs=PrefsDataConfig),
    "dpo_train": Table(runs=DPORunConfig),
    "eval": Table(runs=EvalConfig),
    "gate": Table("gating", GateSection, GateRunConfig),
    "regression": Table("regression", RegressionSection),
    "tournament": Table("tournament", TournamentSection, TournamentConfig),
}


@dataclass(frozen=True)
class NightlyConfig:
    """The whole night, resolved: the own tables (typed) and the run-config overrides (the keys
    given, type-checked); ``origins``: where each given value came from (``--print-config``)."""

    night: NightSection = field(default_factory=NightSection)
    datasets: DatasetsSection = field(default_factory=DatasetsSection)
    selfplay: SelfplaySection = field(default_factory=SelfplaySection)
    gating: GateSection = field(default_factory=GateSection)
    regression: RegressionSection = field(default_factory=RegressionSection)
    tournament: TournamentSection = field(default_factory=TournamentSection)
    overrides: dict[str, dict] = field(default_factory=dict)
    source: str | None = None
    origins: dict[tuple, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def league(self) -> tuple[tuple[str, float], ...]:
        return self.selfplay.league

    def to_dict(self) -> dict:
        """The night as a TOML-shaped dict (what the registry and the report record)."""
        out: dict[str, Any] = {}
        for name, table in TABLES.items():
            own = to_dict(getattr(self, table.attr)) if table.attr else {}
            out[name] = {**own, **self.overrides.get(name, {})}
        return {**out, "source": self.source}

    def run_config(self, table: str, **fixed) -> Any:
        """The run config of ``table``: its defaults, the file's overrides (nested tables merge
        with the defaults: ``[dpo_train.train] max_steps = 5`` keeps DPO's own learning rate),
        then the night's own values (``fixed``: paths, game, players)."""
        return build(TABLES[table].runs, self.overrides.get(table, {}), f"[{table}]", fixed)

    # The run configs the stages build (one name each, for readable stage code).
    def selfplay_config(self, **fixed) -> SelfplayConfig:
        return self.run_config("selfplay", **fixed)

    def sft_data_config(self, **fixed) -> SFTDataConfig:
        return self.run_config("sft_data", **fixed)

    def sft_run_config(self, **fixed) -> SFTRunConfig:
        return self.run_config("sft_train", **fixed)

    def prefs_data_config(self, **fixed) -> PrefsDataConfig:
        return self.run_config("prefs_data", **fixed)

    def dpo_run_config(self, **fixed) -> DPORunConfig:
        return self.run_config("dpo_train", **fixed)

    def eval_config(self, **fixed) -> EvalConfig:
        return self.run_config("eval", **fixed)

    def gate_config(self, **fixed) -> GateRunConfig:
        return self.run_config("gate", **fixed)

    def tournament_config(self, **fixed) -> TournamentConfig:
        return self.run_config("tournament", **fixed)


def night_values(config: NightlyConfig, table: str, game: str) -> dict[str, Any]:
    """The keys the night sets in ``table`` for ``game``, with the values its first night gives
    them: the bare base (v0) for every LLM player, no previous champion yet, and '-' for the
    folders it creates. The file may not set these keys; the check builds each run config
    with them, so that a bad value is found before any work."""
    v0 = f"llm:{config.night.base}@v0"
    teacher = config.datasets.teacher.replace("{champion}", v0)
    league = tuple((s, w) for s, w in config.league if s != PREVIOUS)
    paths = {"out": "-", "eval_data": None, "game": game}
    return {
        "selfplay": {"game": game, "player": teacher, "league": league, "seed": 0},
        "sft_data": {
            "inputs": (),
            "out": "-",
            "play": None,
            "agents": (config.datasets.expert, teacher),
        },
        "sft_train": {**paths, "data": "-", "base": config.night.base, "init_adapter": None},
        "prefs_data": {"inputs": (), "out": "-", "play": None},
        "dpo_train": {**paths, "data": "-", "base": config.night.base, "adapter": "-"},
        "eval": {"game": game, "agent": v0, "out": "-", "device": config.night.device},
        "gate": {"game": game, "candidate": v0, "champion": v0, "seed": 0},
        "tournament": {
            "game": game,
            "players": (v0, *config.tournament.scripted),
            "format": "round-robin",
            "seed": 0,
        },
    }[table]


def parse_config(
    text: str, source: str = "nightly.toml", sets: tuple[str, ...] = ()
) -> NightlyConfig:
    """Parse and validate a nightly config (TOML text, then ``--set TABLE.KEY=VALUE`` flags)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: not valid TOML ({error})") from None
    origins = toml_origins(text, source)
    apply_sets(raw, sets, origins)
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        raise InputError(f"{source}: unknown table(s) {unknown}; known: {sorted(TABLES)}")
    own, overrides = {}, {}
    for name, table in TABLES.items():
        given = raw.get(name, {})
        if not isinstance(given, dict):
            raise InputError(f"{source}: '{name}' must be a [table]")
        mine = keys_of(table.own) if table.own else set()
        if table.own:
            where = f"{source} [{name}]"
            own[table.attr] = build(table.own, {k: v for k, v in given.items() if k in mine}, where)
        rest = {k: v for k, v in given.items() if k not in mine}
        if rest and not table.runs:
            raise InputError(f"{source} [{name}]: unknown key(s) {sorted(rest)}")
        if table.runs:
            overrides[name] = rest
    config = NightlyConfig(**own, overrides=overrides, source=source, origins=origins)
    for name, table in TABLES.items():
        if table.runs:
            _check_runs(config, name, source)
    return config


def _check_runs(config: NightlyConfig, table: str, source: str) -> None:
    """The table's overrides against its run config, as each game's first night builds it."""
    where = f"{source} [{table}]"
    given = config.overrides[table]
    for game in config.night.games:
        fixed = night_values(config, table, load_game(game).spec)
        refused = sorted(set(given) & set(fixed))
        if refused:
            raise InputError(f"{where}: the night sets {refused} itself; remove them")
        build(TABLES[table].runs, given, where, fixed)


def load_config(path: str | Path, sets: tuple[str, ...] = ()) -> NightlyConfig:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no nightly config at {path}")
    return parse_config(path.read_text(), str(path), sets)


def default_config(sets: tuple[str, ...] = ()) -> NightlyConfig:
    """Every default (``--print-config`` without ``--config``), with ``--set`` flags on top."""
    return parse_config("", "defaults", sets)
