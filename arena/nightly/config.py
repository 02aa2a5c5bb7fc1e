"""``nightly.toml``: what a night does, validated completely before any work starts.

Most sections are *overrides* of the configuration dataclasses the individual commands use
(``training.config.SFTDataConfig``, ``PrefsDataConfig``, ``SFTRunConfig``, ``DPORunConfig``,
``EvalConfig``, ``arena.runs.gate.GateRunConfig``, ``arena.runs.selfplay.SelfplayConfig``,
``arena.runs.tournament.TournamentConfig``): a key that is not set keeps that dataclass's default,
so tuned training defaults flow into the night without being copied here. Keys the night sets
itself (paths, the game, the players) are refused. Unknown keys, bad values, unknown games and
bases missing without a preset to build them are reported as one ``InputError`` per mistake,
before the night starts.

See ``configs/nightly.toml`` for a commented example.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from arena.runs.gate import GateRunConfig
from arena.runs.selfplay import SelfplayConfig, parse_league
from arena.runs.tournament import TournamentConfig
from games import InputError, load_game
from training.config import (
    DPORunConfig,
    EvalConfig,
    PrefsDataConfig,
    SFTDataConfig,
    SFTRunConfig,
    from_dict,
    to_dict,
)

WHEN = ("first", "always", "never", "after_first")
PREVIOUS = "previous"
GATE_BY = ("games", "exploitability")


@dataclass(frozen=True)
class NightSection:
    """``[night]``: games, base, seeds and resources.

    Attributes:
        games: game specs, each with its own champion and cycle.
        base: a workspace base name (``small`` -> ``<workspace>/base/small``) or a folder.
        build_preset: build a missing base with this preset (``arena base build``); "" never.
        seed: seed of every run of the night (the night id is mixed in).
        workers, cpus_per_worker, gpus_per_worker: Ray match workers (self-play, gate, ...).
        train_cpus, train_gpus: resources the training task requests (a GPU node on a cluster).
        threads: torch CPU threads in training and evaluation (1 on a shared CPU).
        device: training/evaluation device (None: CUDA when the task got a GPU, else CPU).
    """

    games: tuple[str, ...] = ("tic_tac_toe",)
    base: str = "small"
    build_preset: str = "small"
    seed: int = 0
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    train_cpus: float = 1.0
    train_gpus: float = 0.0
    threads: int = 1
    device: str | None = None


@dataclass(frozen=True)
class DatasetsSection:
    """``[datasets]``: which datasets a night builds.

    Attributes:
        sft: ``first`` (only while the champion is the bare base), ``always`` or ``never``:
            SFT rows from expert trajectories.
        expert, opponent, games: the expert whose moves become SFT rows, who it plays, games.
        prefs: ``after_first`` (once an adapter is champion), ``always`` or ``never``:
            preference pairs at the self-play positions, then DPO/IPO.
        teacher: who plays the champion's seats in self-play, as a spec template in which
            ``{champion}`` is the champion's own spec: ``{champion}`` (the champion itself) or
            a search over its policy, e.g. ``search:{champion},sims=64`` (expert iteration:
            the search plays better than the policy alone, and SFT distils its moves).
        selfplay_sft: also make SFT rows at the teacher's self-play positions (labelled by
            ``[sft_data] label``: ``solver`` labels every optimal move, ``played`` keeps the
            teacher's own move), so each night adds the positions the champion meets.
        replay_nights: add the SFT rows of up to this many earlier nights of the game (a
            replay buffer: a night that continues from the champion keeps what earlier nights
            taught it); 0 trains on tonight's rows only.
        replay_rows: at most this many replayed rows (a uniform sample; 0: all of them).
    """

    sft: str = "first"
    expert: str = "solver"
    opponent: str = "random"
    games: int = 200
    prefs: str = "after_first"
    teacher: str = "{champion}"
    selfplay_sft: bool = False
    replay_nights: int = 0
    replay_rows: int = 0


@dataclass(frozen=True)
class RegressionSection:
    """``[regression]``: the champion against the previous champion, after the decision.

    A champion is rolled back when its dev-set metric is worse than the previous champion's
    by more than ``devset_tolerance`` (accuracy points; exploitability for poker), or when,
    over ``pairs`` seat-swapped pairs against it, the upper end of its score's 95% interval
    (pentanomial, ``ratings.elo_estimate``) falls below ``0.5 - score_tolerance``.
    """

    devset_tolerance: float = 0.05
    pairs: int = 0
    score_tolerance: float = 0.0


@dataclass(frozen=True)
class TournamentSection:
    """``[tournament]``: the nightly tournament behind the rating snapshot.

    Attributes:
        recent: the champion plus this many most recent other versions (v0 included).
        scripted: scripted reference players.
        pairs: seat-swapped pairs per pairing.
    """

    recent: int = 3
    scripted: tuple[str, ...] = ("random", "mcts:50")
    pairs: int = 10


@dataclass(frozen=True)
class GateSection:
    """``[gate]``'s own keys (the rest override ``arena.runs.gate.GateRunConfig``).

    Attributes:
        by: ``games``: the SPRT on seat-swapped games (win/draw/loss); ``exploitability``: for
            games with an exact exploitability (poker), the candidate is promoted when its
            exploitability is lower than the champion's by at least ``exploitability_margin``
            (no games are played; other games keep the SPRT). In poker a win rate hides the
            size of wins: the bare ``small`` base wins 0.525 of its games against the CFR
            solver while losing 0.14 chips per game (LEARNING.md section 5), so a gate on
            games can reject a better policy; exploitability is exact and measures what the
            issue asks (distance from equilibrium).
        exploitability_margin: chips per game the candidate must improve by.
    """

    by: str = "games"
    exploitability_margin: float = 0.005


@dataclass(frozen=True)
class NightlyConfig:
    """The whole night, resolved: own sections plus the validated override dicts."""

    night: NightSection = field(default_factory=NightSection)
    datasets: DatasetsSection = field(default_factory=DatasetsSection)
    regression: RegressionSection = field(default_factory=RegressionSection)
    tournament: TournamentSection = field(default_factory=TournamentSection)
    gating: GateSection = field(default_factory=GateSection)
    league: tuple[tuple[str, float], ...] = (("self", 2.0), (PREVIOUS, 1.0))
    selfplay: dict = field(default_factory=dict)
    sft_data: dict = field(default_factory=dict)
    sft_train: dict = field(default_factory=dict)
    prefs_data: dict = field(default_factory=dict)
    dpo_train: dict = field(default_factory=dict)
    eval: dict = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    tournament_run: dict = field(default_factory=dict)
    source: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    # Concrete run configs: the override dicts applied to each dataclass's defaults.

    def sft_data_config(self, **fixed) -> SFTDataConfig:
        return _build(SFTDataConfig, self.sft_data, fixed, "[sft_data]")

    def sft_run_config(self, **fixed) -> SFTRunConfig:
        return _build(SFTRunConfig, self.sft_train, fixed, "[sft_train]")

    def prefs_data_config(self, **fixed) -> PrefsDataConfig:
        return _build(PrefsDataConfig, self.prefs_data, fixed, "[prefs_data]")

    def dpo_run_config(self, **fixed) -> DPORunConfig:
        return _build(DPORunConfig, self.dpo_train, fixed, "[dpo_train]")

    def eval_config(self, **fixed) -> EvalConfig:
        return _build(EvalConfig, self.eval, fixed, "[eval]")

    def gate_config(self, **fixed) -> GateRunConfig:
        return _build(GateRunConfig, self.gate, fixed, "[gate]")

    def selfplay_config(self, **fixed) -> SelfplayConfig:
        return _build(SelfplayConfig, self.selfplay, fixed, "[selfplay]")

    def tournament_config(self, **fixed) -> TournamentConfig:
        return _build(TournamentConfig, self.tournament_run, fixed, "[tournament]")


# Keys each section may not set: the night decides them.
_FIXED = {
    "sft_data": ("inputs", "out", "play", "agents"),
    "sft_train": ("data", "base", "out", "eval_data", "init_adapter", "game"),
    "prefs_data": ("inputs", "out", "play"),
    "dpo_train": ("data", "base", "adapter", "out", "eval_data", "game"),
    "eval": ("game", "agent", "out", "device"),
    "gate": ("game", "candidate", "champion", "seed"),
    "selfplay": ("game", "player", "league", "seed"),
    "tournament": ("game", "players", "format", "seed"),
}
_PLACEHOLDERS = {
    SFTDataConfig: {"inputs": ("x",), "out": "x"},
    SFTRunConfig: {"data": "x", "base": "x", "out": "x"},
    PrefsDataConfig: {"inputs": ("x",), "out": "x"},
    DPORunConfig: {"data": "x", "base": "x", "adapter": "x", "out": "x"},
    EvalConfig: {"game": "tic_tac_toe", "agent": "random", "out": "x"},
    GateRunConfig: {"game": "tic_tac_toe", "candidate": "random", "champion": "mcts"},
    SelfplayConfig: {"game": "tic_tac_toe", "player": "random"},
    TournamentConfig: {"game": "tic_tac_toe", "players": ("random", "mcts")},
}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(cls: type, overrides: dict, fixed: dict, where: str):
    """``cls``'s defaults, then the overrides (nested tables merge with the defaults, so
    ``[dpo_train.train] max_steps = 5`` keeps DPO's own learning rate), then the night's own
    values (``fixed``: paths, game, players)."""
    defaults = to_dict(cls(**_PLACEHOLDERS[cls]))
    values = dict(_PLACEHOLDERS[cls])
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        values[key] = _merge(defaults[key], value) if nested else value
    try:
        return dataclasses.replace(from_dict(cls, values, where), **fixed)
    except ValueError as error:
        raise InputError(str(error)) from None


def _section(cls: type, raw: dict, where: str):
    try:
        return from_dict(cls, raw, where)
    except ValueError as error:
        raise InputError(str(error)) from None


def _overrides(name: str, cls: type, raw: dict, where: str) -> dict:
    """Check ``raw`` against ``cls`` now (unknown keys, types, the class's own checks)."""
    refused = sorted(set(raw) & set(_FIXED[name]))
    if refused:
        raise InputError(f"{where}: the night sets {refused} itself; remove them")
    _build(cls, raw, {}, where)
    return raw


def parse_config(text: str, source: str = "nightly.toml") -> NightlyConfig:
    """Parse and validate a nightly config (TOML text)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: not valid TOML ({error})") from None
    sections = {
        "night", "datasets", "regression", "tournament", "selfplay", "sft_data", "sft_train",
        "prefs_data", "dpo_train", "eval", "gate",
    }  # fmt: skip
    unknown = sorted(set(raw) - sections)
    if unknown:
        raise InputError(f"{source}: unknown section(s) {unknown}; known: {sorted(sections)}")
    for name, value in raw.items():
        if not isinstance(value, dict):
            raise InputError(f"{source}: '{name}' must be a [table]")
    w = lambda name: f"{source} [{name}]"  # noqa: E731
    night = _section(NightSection, raw.get("night", {}), w("night"))
    datasets = _section(DatasetsSection, raw.get("datasets", {}), w("datasets"))
    regression = _section(RegressionSection, raw.get("regression", {}), w("regression"))
    tour = dict(raw.get("tournament", {}))
    own_tour = {k: tour.pop(k) for k in ("recent", "scripted", "pairs") if k in tour}
    tournament = _section(TournamentSection, own_tour, w("tournament"))
    gate = dict(raw.get("gate", {}))
    own_gate = {k: gate.pop(k) for k in ("by", "exploitability_margin") if k in gate}
    gating = _section(GateSection, own_gate, w("gate"))
    selfplay = dict(raw.get("selfplay", {}))
    league_entries = selfplay.pop("league", ["self=2", f"{PREVIOUS}=1"])
    if not isinstance(league_entries, list) or not all(isinstance(e, str) for e in league_entries):
        raise InputError(f"{w('selfplay')}: league must be a list of 'SPEC=WEIGHT' strings")
    league = parse_league(league_entries)
    config = NightlyConfig(
        night=night,
        datasets=datasets,
        regression=regression,
        tournament=tournament,
        gating=gating,
        league=league,
        selfplay=_overrides("selfplay", SelfplayConfig, selfplay, w("selfplay")),
        sft_data=_overrides("sft_data", SFTDataConfig, raw.get("sft_data", {}), w("sft_data")),
        sft_train=_overrides("sft_train", SFTRunConfig, raw.get("sft_train", {}), w("sft_train")),
        prefs_data=_overrides(
            "prefs_data", PrefsDataConfig, raw.get("prefs_data", {}), w("prefs_data")
        ),
        dpo_train=_overrides("dpo_train", DPORunConfig, raw.get("dpo_train", {}), w("dpo_train")),
        eval=_overrides("eval", EvalConfig, raw.get("eval", {}), w("eval")),
        gate=_overrides("gate", GateRunConfig, gate, w("gate")),
        tournament_run=_overrides("tournament", TournamentConfig, tour, w("tournament")),
        source=source,
    )
    _check(config, source)
    return config


def _check(config: NightlyConfig, source: str) -> None:
    from agents import parse_spec

    n, d = config.night, config.datasets
    if not n.games:
        raise InputError(f"{source} [night]: games is empty")
    specs = [load_game(g).spec for g in n.games]  # unknown games fail here
    if len(set(specs)) != len(specs):
        raise InputError(f"{source} [night]: games repeat: {list(n.games)}")
    for key in ("workers", "threads"):
        if getattr(n, key) < 1:
            raise InputError(f"{source} [night]: {key} must be at least 1")
    for key in ("cpus_per_worker", "gpus_per_worker", "train_cpus", "train_gpus"):
        value = getattr(n, key)
        if not (math.isfinite(value) and value >= 0):
            raise InputError(f"{source} [night]: {key} must be >= 0, got {value}")
    if n.build_preset:
        from training.base_model import PRESETS

        if n.build_preset not in PRESETS:
            raise InputError(
                f"{source} [night]: unknown build_preset '{n.build_preset}'; "
                f'choose from {", ".join(PRESETS)} or ""'
            )
    for key in ("sft", "prefs"):
        if getattr(d, key) not in WHEN:
            raise InputError(f"{source} [datasets]: {key} must be one of {', '.join(WHEN)}")
    if d.sft == "after_first":
        raise InputError(f"{source} [datasets]: sft must be first, always or never")
    if d.sft == "never" and d.prefs == "never":
        raise InputError(f"{source} [datasets]: sft and prefs are both 'never': nothing to train")
    if d.games < 0 or d.games == 1:
        raise InputError(f"{source} [datasets]: games must be 0 (no expert games) or at least 2")
    if d.sft != "never" and d.games == 0 and not d.selfplay_sft:
        raise InputError(f"{source} [datasets]: games = 0 needs selfplay_sft = true (no SFT rows)")
    if "{champion}" not in d.teacher:
        raise InputError(f"{source} [datasets]: teacher must contain {{champion}}: {d.teacher!r}")
    parse_spec(d.teacher.replace("{champion}", "llm:x"))
    if d.replay_nights < 0 or d.replay_rows < 0:
        raise InputError(f"{source} [datasets]: replay_nights and replay_rows must be >= 0")
    for spec in (d.expert, d.opponent, *config.tournament.scripted):
        if parse_spec(spec).kind in ("llm", "human"):
            raise InputError(f"{source}: '{spec}' must be a scripted agent here")
    for spec, weight in config.league:
        if spec not in ("self", PREVIOUS):
            parse_spec(spec)
        if not (math.isfinite(weight) and weight > 0):
            raise InputError(f"{source} [selfplay]: league weight of '{spec}' must be positive")
    r, t = config.regression, config.tournament
    if r.pairs < 0 or t.pairs < 1 or t.recent < 0:
        raise InputError(
            f"{source}: [regression] pairs >= 0, [tournament] pairs >= 1 and recent >= 0"
        )
    g = config.gating
    if g.by not in GATE_BY:
        raise InputError(f"{source} [gate]: by must be one of {', '.join(GATE_BY)}, got '{g.by}'")
    if not (math.isfinite(g.exploitability_margin) and 0 <= g.exploitability_margin < 1):
        raise InputError(f"{source} [gate]: exploitability_margin must be in [0, 1)")
    for key in ("devset_tolerance", "score_tolerance"):
        value = getattr(r, key)
        if not (math.isfinite(value) and 0 <= value < 1):
            raise InputError(f"{source} [regression]: {key} must be in [0, 1), got {value}")


def load_config(path: str | Path) -> NightlyConfig:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no nightly config at {path}")
    return parse_config(path.read_text(), str(path))
