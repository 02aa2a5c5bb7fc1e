"""Typed configurations for dataset builds and training runs.

Every run writes its resolved configuration into its manifest (``config.to_dict()``) and
``arena reproduce`` rebuilds it with ``from_dict``; unknown or mistyped keys are refused, so a
manifest from another version of the code fails loudly instead of silently changing a run.
Derived values (default paths, the quantisation dtype) are resolved in one visible place:
the CLI, before the config is built.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from games import InputError
from games.defaults import DEFAULT_OPENING_PLIES
from games.limits import (
    check_float,
    check_games,
    check_int,
    check_match_options,
    check_optional_int,
    check_seed,
)

DedupMode = Literal["none", "exact", "prompt"]
OutcomeFilter = Literal["any", "won", "not_lost"]
PrefMethod = Literal["rollout", "solver", "outcome"]
DPOLoss = Literal["sigmoid", "ipo"]
SFTLabel = Literal["played", "solver"]
PrefRejected = Literal["gap", "played"]
MAX_ROLLOUTS = 100_000  # rollouts per legal action (the cost of a preference pair)


@dataclass(frozen=True)
class PlaySpec:
    """Matches played in-process before a build (when no match log is given).

    Attributes:
        game: game spec, e.g. ``tic_tac_toe``.
        agents: the two agent specs; they play seat-swapped pairs.
        games: number of games (rounded up to whole pairs).
        seed: run seed of the matches (openings and agent randomness derive from it).
        opening_plies: random plies before play in board games.
    """

    game: str
    agents: tuple[str, str]
    games: int = 100
    seed: int = 0
    opening_plies: int = DEFAULT_OPENING_PLIES

    def __post_init__(self) -> None:
        check_int("games", self.games, 1)
        check_games("play", self.games)
        check_match_options(self.seed, self.opening_plies)


def _check_data(config) -> None:
    """Ranges the dataset builds share (SFTDataConfig, PrefsDataConfig)."""
    check_float("heldout", config.heldout, 0, 1, hi_open=True)
    check_seed("seed", config.seed)
    if config.seats is not None:
        for seat in config.seats:
            check_int("seats", seat, 0, 1)


@dataclass(frozen=True)
class SFTDataConfig:
    """``arena data sft``: expert moves from match logs as TRL prompt-completion rows.

    Attributes:
        inputs: match-log files or folders of shards.
        out: output folder (``sft.jsonl``, ``sft.heldout.jsonl``, ``manifest.json``).
        agents: keep only the moves of seats played by these specs (None: every seat).
        seats: keep only these seats (None: both).
        outcome: keep moves from any game, only games the mover won, or games it did not lose.
        dedup: ``exact`` drops repeated (prompt, completion); ``prompt`` keeps the first move
            per prompt; ``none`` keeps everything.
        balance_seats: downsample the larger seat so both seats have as many rows (per split).
        heldout: fraction of matches (by match id, so a game never straddles splits) held out.
        seed: seed of the split and of the balancing subsample.
        skip_bad: quarantine malformed match lines instead of stopping at the first one.
        play: play these matches first and build from their log.
        exclude_devset: drop dev-set positions and their symmetric images (counted in the
            manifest), so that ``arena eval`` measures positions the adapter never saw.
        label: ``played``: the move the seat played; ``solver``: every optimal move at the
            position by the exact solver (one row each; positions where every legal move is
            optimal teach nothing and are dropped). With logs of varied play (random, or the
            adapter's own self-play) this is expert labelling of the positions the player
            meets (DAgger, Ross et al. 2011) rather than of the expert's own narrow games.
    """

    inputs: tuple[str, ...]
    out: str
    agents: tuple[str, ...] | None = None
    seats: tuple[int, ...] | None = None
    outcome: OutcomeFilter = "any"
    dedup: DedupMode = "exact"
    balance_seats: bool = True
    heldout: float = 0.1
    seed: int = 0
    skip_bad: bool = False
    play: PlaySpec | None = None
    exclude_devset: bool = True
    label: SFTLabel = "played"

    def __post_init__(self) -> None:
        _check_data(self)


@dataclass(frozen=True)
class PrefsDataConfig:
    """``arena data prefs``: (chosen, rejected) completions at self-play positions.

    Attributes:
        method: ``rollout`` (branching rollouts from each legal action), ``solver`` (exact
            alpha-beta values; small deterministic perfect-information games) or ``outcome``
            (the move of a won game against a different move of a lost game at one prompt).
        rollout_agent: who plays on after the branching action, for the mover's side.
        rollout_opponent: who plays the other side (None: ``rollout_agent``).
        rollouts: rollouts per legal action (rollout method).
        threshold: minimum gap between the two actions' mean scores, as a fraction of the
            game's utility range (0.1 = 10% of the distance between a loss and a win).
        confidence: keep a pair only when P(gap > threshold) is at least this (rollout and
            outcome methods; see ``training.pref_data.gap_confidence``). None: method default.
        pairs_per_position: most pairs kept per position, largest gap first.
        max_positions: stop after this many distinct positions (rollouts are the cost).
        workers: Ray workers for rollouts (0: in this process).
        exclude_devset: drop dev-set positions and their symmetric images (see SFTDataConfig).
        rejected: ``gap``: the pair with the largest value gap at each position; ``played``:
            the move the logged player chose is the rejected answer, the best move by the
            method's values the chosen one, and only where the played move was worse (by more
            than the threshold, at the confidence level): pairs that target the player's own
            mistakes, so DPO moves mass where the policy actually goes wrong.
    """

    inputs: tuple[str, ...]
    out: str
    method: PrefMethod = "rollout"
    agents: tuple[str, ...] | None = None
    seats: tuple[int, ...] | None = None
    rollout_agent: str = "random"
    rollout_opponent: str | None = None
    rollouts: int = 16
    threshold: float = 0.1
    confidence: float | None = None
    pairs_per_position: int = 1
    max_positions: int | None = None
    dedup: DedupMode = "exact"
    balance_seats: bool = True
    heldout: float = 0.1
    seed: int = 0
    skip_bad: bool = False
    workers: int = 0
    play: PlaySpec | None = None
    exclude_devset: bool = True
    rejected: PrefRejected = "gap"

    def __post_init__(self) -> None:
        _check_data(self)
        check_int("rollouts", self.rollouts, 1, MAX_ROLLOUTS)
        check_float("threshold", self.threshold, 0, 1, hi_open=True)
        if self.confidence is not None:
            check_float("confidence", self.confidence, 0, 1, hi_open=True)
        check_int("pairs_per_position", self.pairs_per_position, 1, 10_000)
        check_optional_int("max_positions", self.max_positions, 1)
        check_int("workers", self.workers, 0, 1024)


@dataclass(frozen=True)
class LoraOptions:
    """LoRA on every linear layer of the base (Hu et al. 2021, "LoRA", Eq. 3: W + B A * a/r).

    ``dropout`` 0: on a CPU, peft's dropout on each adapted layer's input (28 of them on the
    ``small`` base) took a quarter of an SFT step (0.16 -> 0.12 CPU-s without it), and dev
    accuracy after the default SFT did not suffer (BENCHMARKS.md, LEARNING.md).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str = "all-linear"

    def __post_init__(self) -> None:
        check_int("lora_r", self.r, 1, 4096)
        check_int("lora_alpha", self.alpha, 1, 1_000_000)
        check_float("lora_dropout", self.dropout, 0, 1, hi_open=True)


@dataclass(frozen=True)
class QuantOptions:
    """How the frozen base is held while LoRA trains (decided in ``agents.llm.model_io``'s
    ``train_precision``; the manifest records the result under ``metrics.precision``).

    Attributes:
        enabled: QLoRA (Dettmers et al. 2023), the base in 4-bit ``quant_type`` with double
            quant; None (auto): on CUDA, not on CPU (where it only costs time, measured in
            BENCHMARKS.md). ``True`` trains QLoRA on CPU too.
        compute_dtype: the base's dtype (4-bit weights are dequantised to it); ``auto``:
            bfloat16 on CUDA, float32 on CPU.
    """

    enabled: bool | None = None
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"


@dataclass(frozen=True)
class TrainOptions:
    """What SFT and DPO share: optimiser, budget, lengths, logging, device.

    ``warmup`` is a number of steps, or a fraction of the run when below 1. ``report_to``:
    ``none`` or ``tensorboard`` (logs kept under ``<adapter>/tensorboard``). ``long_rows``: what
    to do with rows over ``max_length`` tokens (never truncated): drop and count, or error.
    ``threads``: torch CPU threads (None: torch's default). Small models on a shared CPU train
    several times faster with 1 thread; the count also affects float results bit for bit.

    Defaults are tuned for the arena's own small bases on a CPU (LEARNING.md): LoRA at 2e-4
    with batches of 8 for one epoch left the dev-set accuracy where it started; 3 epochs at
    2e-3 moved it inside the base's interval (0.370 -> 0.445); 8 epochs at 3e-3 beyond it
    (0.580 [0.511, 0.646]). For a hub LLM of a billion parameters, pass ``--lr 2e-4 --epochs 1``.
    """

    epochs: float = 8.0
    max_steps: int = -1
    learning_rate: float = 3e-3
    batch_size: int = 32
    grad_accum: int = 1
    max_length: int = 1024
    seed: int = 0
    logging_steps: int = 10
    warmup: float = 0.0
    report_to: str = "none"
    device: str | None = None
    gradient_checkpointing: bool = False
    long_rows: Literal["drop", "error"] = "drop"
    threads: int | None = None

    def __post_init__(self) -> None:
        check_float("epochs", self.epochs, 0, 1e6, lo_open=True)
        if self.max_steps != -1:
            check_int("max_steps", self.max_steps, 1, 100_000_000)
        check_float("learning_rate", self.learning_rate, 0, 1, lo_open=True)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_int("grad_accum", self.grad_accum, 1, 65_536)
        check_int("max_length", self.max_length, 1, 1_048_576)
        check_seed("seed", self.seed)
        check_int("logging_steps", self.logging_steps, 1)
        check_float("warmup", self.warmup, 0, 100_000_000)
        if self.report_to not in ("none", "tensorboard"):
            raise InputError(f"report_to must be none or tensorboard, got {self.report_to!r}")
        check_optional_int("threads", self.threads, 1, 1024)


@dataclass(frozen=True)
class SFTRunConfig:
    """``arena train sft``: from the base, or from ``init_adapter``, on prompt-completion rows.

    Attributes:
        data: training JSONL (``sft.jsonl``); ``eval_data`` is optional held-out rows.
        base: base model folder (``arena base build`` writes one).
        out: adapter output folder.
        init_adapter: continue training this adapter instead of a fresh LoRA.
    """

    data: str
    base: str
    out: str
    eval_data: str | None = None
    init_adapter: str | None = None
    game: str | None = None
    lora: LoraOptions = field(default_factory=LoraOptions)
    quant: QuantOptions = field(default_factory=QuantOptions)
    train: TrainOptions = field(default_factory=TrainOptions)


# DPO/IPO budget for the arena's small bases on a CPU (LEARNING.md section 4): one epoch at
# 5e-5 (about 5 steps) moved nothing (margin 0.045 -> 0.052). 8 epochs at 3e-3 (the SFT rate)
# moved the margin to 1.3 and the mass on optimal moves by +0.04 from a weak SFT adapter, but
# from `make demo`'s SFT champion (96 pairs) it collapsed the play: dev accuracy 0.600 -> 0.480,
# score vs random 0.785 -> 0.505. At 3e-4 the same run stays within the champion's intervals
# (0.615, 0.728); 1e-3 drifted (0.535, 0.685). So: 3e-4 for 8 epochs, and the gate decides.
# For a hub LLM of a billion parameters, pass --lr 5e-6 --epochs 1.
DPO_LR = 3e-4
DPO_EPOCHS = 8.0


@dataclass(frozen=True)
class DPORunConfig:
    """``arena train dpo``: preference optimisation from the previous adapter, which is also the
    frozen reference policy.

    Attributes:
        loss: ``sigmoid`` (DPO, Rafailov et al. 2023, Eq. 7) or ``ipo`` (Azar et al. 2023, Eq. 17).
        beta: DPO's KL strength beta, or IPO's regulariser tau.
        precompute_ref: compute the reference log-probs once before training (saves the
            reference's forward pass at every step after the first epoch: 1.49 against 1.76
            CPU seconds per step of 32 pairs on the ``small`` base).
        sft_weight: weight of an added NLL term on the chosen completions (0: pure DPO/IPO).
            Without it, one DPO round lowered dev accuracy and moved probability onto illegal
            moves: DPO only widens the chosen-rejected gap and may lower both (RPO, Pang et
            al. 2024, "Iterative Reasoning Preference Optimization", adds this term for that).
    """

    data: str
    base: str
    adapter: str
    out: str
    eval_data: str | None = None
    game: str | None = None
    loss: DPOLoss = "sigmoid"
    beta: float = 0.1
    precompute_ref: bool = True
    sft_weight: float = 1.0
    lora: LoraOptions = field(default_factory=LoraOptions)
    quant: QuantOptions = field(default_factory=QuantOptions)
    train: TrainOptions = field(
        default_factory=lambda: TrainOptions(learning_rate=DPO_LR, epochs=DPO_EPOCHS)
    )

    def __post_init__(self) -> None:
        check_float("beta", self.beta, 0, 1000, lo_open=True)
        check_float("sft_weight", self.sft_weight, 0, 1000)


@dataclass(frozen=True)
class EvalConfig:
    """``arena eval``: dev-set metric plus seat-swapped pairs against fixed opponents.

    Attributes:
        opponents: scripted opponents (None: the game's defaults in ``training.evaluate``).
        pairs: seat-swapped pairs per opponent (0: dev set only).
        limit: evaluate only the first N dev-set positions (board games; smoke tests).
        out: report folder (``eval.json`` + ``manifest.json``).
    """

    game: str
    agent: str
    out: str
    opponents: tuple[str, ...] | None = None
    pairs: int = 20
    seed: int = 0
    limit: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        check_int("pairs", self.pairs, 0)
        check_seed("seed", self.seed)
        check_optional_int("limit", self.limit, 1)
        opponents = len(self.opponents) if self.opponents else 2
        check_games("eval", self.pairs * 2 * opponents, f"games ({self.pairs} pairs per opponent)")


CONFIG_KINDS: dict[str, type] = {
    "sft-data": SFTDataConfig,
    "prefs-data": PrefsDataConfig,
    "sft": SFTRunConfig,
    "dpo": DPORunConfig,
    "eval": EvalConfig,
}


def to_dict(config: Any) -> dict:
    """A JSON-ready dict (tuples become lists)."""
    return asdict(config)


def from_dict(cls: type, obj: dict, where: str = "config") -> Any:
    """Rebuild dataclass ``cls`` from ``obj``, checking keys and basic types.

    Raises:
        ValueError: unknown keys, missing required keys, or a value of the wrong type.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {type(obj).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    values = {}
    for name, spec in fields.items():
        if name not in obj:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: missing key '{name}'")
            continue
        values[name] = _coerce(hints[name], obj[name], f"{where}.{name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0]
        return tuple(_coerce(inner, v, where) for v in value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (
        not isinstance(value, hint) or (hint is not bool and isinstance(value, bool))
    ):
        raise ValueError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    return value
