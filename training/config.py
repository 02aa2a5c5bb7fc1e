"""Typed configurations for dataset builds and training runs.

Each field is declared once, with its help (``games.configs.option``); ``arena data``,
``arena train`` and ``arena eval`` derive their flags from these fields, the nightly TOML its
``[sft_data]``, ``[sft_train]``, ... tables. Every run writes its resolved configuration into
its manifest (``to_dict``) and ``arena reproduce`` rebuilds it with ``from_dict``; unknown or
mistyped keys are refused, so a manifest from another version of the code fails loudly instead
of silently changing a run. Derived values (default paths, the quantisation dtype) are resolved
in one visible place: the CLI, before the config is built.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, replace
from typing import Any, Literal

from games import InputError
from games.configs import build, nested, option
from games.configs import to_dict as to_dict
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
PrefMethod = Literal["rollout", "solver", "outcome", "search"]
DPOLoss = Literal["sigmoid", "ipo"]
SFTLabel = Literal["played", "solver", "visits"]
PrefRejected = Literal["gap", "played"]
ReportTo = Literal["none", "tensorboard"]
LongRows = Literal["drop", "error"]
MAX_ROLLOUTS = 100_000  # rollouts per legal action (the cost of a preference pair)


def check_choice(name: str, value: object, choices: Any) -> None:
    """``value`` is one of a ``Literal``'s values (a dataclass built directly is checked too)."""
    if value not in typing.get_args(choices):
        raise InputError(f"{name} must be one of {', '.join(typing.get_args(choices))}")


@dataclass(frozen=True)
class PlaySpec:
    """Matches played in-process before a build (when no match log is given)."""

    game: str = option(help="game spec, e.g. tic_tac_toe", metavar="GAME")
    agents: tuple[str, str] = option(
        help="the two agent specs; they play seat-swapped pairs", metavar="SPEC"
    )
    games: int = option(100, "number of games, in seat-swapped pairs")
    seed: int = option(0, "run seed of the matches (openings and agent randomness derive from it)")
    opening_plies: int = option(DEFAULT_OPENING_PLIES, "random plies before play in board games")

    def __post_init__(self) -> None:
        check_int("games", self.games, 1)
        check_games("play", self.games)
        check_match_options(self.seed, self.opening_plies)

    def jobs(self, run_id: str) -> list:
        """The seat-swapped match jobs, ``games`` rounded up to whole pairs."""
        from agents import parse_spec
        from games import load_game
        from games.schedule import pair_jobs

        first, second = (parse_spec(s).raw for s in self.agents)
        pairs = range((self.games + 1) // 2)
        game = load_game(self.game).spec
        return pair_jobs(game, first, second, pairs, self.seed, run_id, self.opening_plies)


@dataclass(frozen=True)
class DataConfig:
    """What the two dataset builds share (``SFTDataConfig``, ``PrefsDataConfig`` add theirs):
    the logs, the output, which moves count, de-duplication, the held-out split, the dev set."""

    inputs: tuple[str, ...] = option(help="match-log files or folders of shards")
    out: str = option(help="output folder (rows, held-out rows, manifest.json)")
    agents: tuple[str, ...] | None = option(
        None,
        "keep only the moves of seats played by these specs (default: every seat)",
        metavar="SPEC",
    )
    seats: tuple[int, ...] | None = option(
        None, "keep only these seats, 0 and/or 1 (default: both)"
    )
    dedup: DedupMode = option(
        "exact", "exact: drop repeated (prompt, completion); prompt: the first row per prompt; none"
    )
    balance_seats: bool = option(
        True,
        "downsample the larger seat so both seats have as many rows (per split)",
        flag="--balance",
        no_flag="--no-balance",
    )
    heldout: float = option(
        0.1, "fraction of matches held out (by match id, so a game never straddles splits)"
    )
    seed: int = option(0, "seed of the split and of the balancing subsample")
    skip_bad: bool = option(
        False, "quarantine malformed match lines instead of stopping at the first one"
    )
    play: PlaySpec | None = option(None, "play these matches first and build from their log")
    exclude_devset: bool = option(
        True,
        "drop dev-set positions (counted in the manifest), so that `arena eval` measures "
        "positions the adapter never saw (--include-devset keeps them)",
        no_flag="--include-devset",
    )
    devset_images: bool = option(
        True,
        "with exclude_devset, also drop the dev positions' symmetric images (8 for "
        "tic_tac_toe, the mirror for connect_four); off: the exact dev positions only",
    )

    def __post_init__(self) -> None:
        check_float("heldout", self.heldout, 0, 1, hi_open=True)
        check_seed("seed", self.seed)
        check_choice("dedup", self.dedup, DedupMode)
        for seat in self.seats or ():
            check_int("seats", seat, 0, 1)


@dataclass(frozen=True)
class SFTDataConfig(DataConfig):
    """``arena data sft``: expert moves from match logs as TRL prompt-completion rows.

    ``label="solver"`` labels every logged position with every optimal move (one row each;
    positions where every legal move is optimal teach nothing and are dropped). With logs of
    varied play (random, or the adapter's own self-play) this is expert labelling of the
    positions the player meets (DAgger, Ross et al. 2011) rather than of the expert's own
    narrow games.
    """

    outcome: OutcomeFilter = option(
        "any", "keep moves from any game, only games the mover won, or games it did not lose"
    )
    label: SFTLabel = option(
        "played",
        "played: the logged move; solver: every optimal move at each logged position; visits: "
        "every move with at least min_share of the logged policy (a search's visit counts)",
    )
    min_share: float = option(
        0.25, "label visits: the share of the logged policy a move needs to become a row"
    )
    images: bool = option(
        False,
        "also write each row at the position's symmetric images (x8 tic_tac_toe, x2 "
        "connect_four; AlphaGo Zero's augmentation); images of held-out positions stay out",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("outcome", self.outcome, OutcomeFilter)
        check_choice("label", self.label, SFTLabel)
        check_float("min_share", self.min_share, 0, 1)


@dataclass(frozen=True)
class PrefsDataConfig(DataConfig):
    """``arena data prefs``: (chosen, rejected) completions at self-play positions.

    ``rejected="played"`` makes the move the logged player chose the rejected answer and the
    best move by the method's values the chosen one, only where the played move was worse (by
    more than the threshold, at the confidence level): pairs that target the player's own
    mistakes, so DPO moves mass where the policy actually goes wrong.
    """

    method: PrefMethod = option(
        "rollout",
        "rollout: branching rollouts from each legal action; solver: exact alpha-beta values "
        "(small deterministic perfect-information games); outcome: the move of a won game "
        "against a different move of a lost game at one prompt; search: a search agent's most "
        "visited move against its LLM prior's argmax, from the logged visit counts (MCTS-DPO; "
        "threshold is then a visit share)",
    )
    rollout_agent: str = option("random", "who plays on after the branching action, for the mover")
    rollout_opponent: str | None = option(
        None, "who plays the other side (default: the rollout agent)"
    )
    rollouts: int = option(16, "rollouts per legal action (rollout method)")
    threshold: float = option(
        0.1,
        "minimum gap between the two actions' mean scores, as a fraction of the game's utility "
        "range (0.1 = 10% of the distance between a loss and a win)",
    )
    confidence: float | None = option(
        None,
        "keep a pair only when P(gap > threshold) is at least this (rollout and outcome "
        "methods; training.pref_data.gap_confidence; default: the method's)",
    )
    pairs_per_position: int = option(1, "most pairs kept per position, largest gap first")
    max_positions: int | None = option(
        None, "stop after this many distinct positions (rollouts are the cost)"
    )
    workers: int = option(0, "Ray workers for rollouts (0: in this process)")
    rejected: PrefRejected = option(
        "gap", "gap: the largest value gap; played: the logged player's own worse move vs the best"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("method", self.method, PrefMethod)
        check_choice("rejected", self.rejected, PrefRejected)
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

    r: int = option(16, "LoRA rank")
    alpha: int = option(32, "LoRA scale alpha")
    dropout: float = option(0.0, "LoRA dropout (on a CPU it costs a quarter of a step)")
    target_modules: str = option("all-linear", "modules that get an adapter (peft's names)")

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
            BENCHMARKS.md). ``True`` (``--quant``) trains QLoRA on CPU too.
        compute_dtype: the base's dtype (4-bit weights are dequantised to it); ``auto``:
            bfloat16 on CUDA, float32 on CPU.
    """

    enabled: bool | None = option(
        None,
        "the base in 4-bit (QLoRA); default: on CUDA, not on a CPU (where it only costs time)",
        flag="--quant",
    )
    quant_type: Literal["nf4", "fp4"] = option("nf4", "4-bit data type")
    double_quant: bool = option(True, "quantise the quantisation constants too")
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = option(
        "auto",
        "the base's dtype (4-bit weights are dequantised to it); auto: bf16 on CUDA, fp32 on CPU",
    )


@dataclass(frozen=True)
class TrainOptions:
    """What SFT and DPO share: optimiser, budget, lengths, logging, device.

    Small models on a shared CPU train several times faster with 1 thread; the count also
    affects float results bit for bit. Defaults are tuned for the arena's own small bases on a
    CPU (LEARNING.md): LoRA at 2e-4 with batches of 8 for one epoch left the dev-set accuracy
    where it started; 3 epochs at 2e-3 moved it inside the base's interval (0.370 -> 0.445); 8
    epochs at 3e-3 beyond it (0.580 [0.511, 0.646]). For a hub LLM of a billion parameters,
    pass ``--lr 2e-4 --epochs 1``.
    """

    epochs: float = option(8.0, "passes over the data")
    max_steps: int = option(-1, "optimiser steps; overrides --epochs when > 0")
    learning_rate: float = option(3e-3, "learning rate", flag=("lr", "learning-rate"))
    batch_size: int = option(32, "rows (pairs) per step")
    grad_accum: int = option(1, "gradient accumulation steps")
    max_length: int = option(1024, "tokens; longer rows are never cut (see --long-rows)")
    seed: int = option(0, "seed of the LoRA init and the data order")
    logging_steps: int = option(10, "log the loss every N steps")
    warmup: float = option(0.0, "warmup steps, or a fraction of the run when below 1")
    report_to: ReportTo = option(
        "none", "TRL logging (tensorboard: logs under <adapter>/tensorboard)"
    )
    device: str | None = option(None, "cpu, cuda or cuda:N (default: cuda when available)")
    gradient_checkpointing: bool = option(False, "recompute activations: less memory")
    long_rows: LongRows = option(
        "drop", "rows over --max-length tokens: drop and count them, or stop with an error"
    )
    threads: int | None = option(None, "torch CPU threads (default: torch's, all cores)")
    checkpoint_s: float = option(
        120.0,
        "seconds of training between resumable checkpoints (0: after every step); a killed "
        "run started again with the same configuration resumes from the last one",
    )

    def __post_init__(self) -> None:
        check_float("epochs", self.epochs, 0, 1e6, lo_open=True)
        check_float("checkpoint_s", self.checkpoint_s, 0, 1e9)
        if self.max_steps != -1:
            check_int("max_steps", self.max_steps, 1, 100_000_000)
        check_float("learning_rate", self.learning_rate, 0, 1, lo_open=True)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_int("grad_accum", self.grad_accum, 1, 65_536)
        check_int("max_length", self.max_length, 1, 1_048_576)
        check_seed("seed", self.seed)
        check_int("logging_steps", self.logging_steps, 1)
        check_float("warmup", self.warmup, 0, 100_000_000)
        check_choice("report_to", self.report_to, ReportTo)
        check_choice("long_rows", self.long_rows, LongRows)
        check_optional_int("threads", self.threads, 1, 1024)


# What the two training runs share, declared once for both.
_DATA = "training JSONL (sft.jsonl / prefs.jsonl)"
_BASE = "base model folder, or a workspace base name (`arena base build` makes one)"
_ADAPTER_OUT = "adapter output folder"
_EVAL_DATA = "held-out JSONL for an eval loss"
_GAME = "game of the adapter (default: read from the data)"
_LORA = "LoRA shape (--lora-r, --lora-alpha, ...)"
_QUANT = "4-bit base (--no-quant: full precision)"


@dataclass(frozen=True)
class SFTRunConfig:
    """``arena train sft``: from the base, or from ``init_adapter``, on prompt-completion rows."""

    data: str = option(help=_DATA)
    base: str = option(help=_BASE)
    out: str = option(help=_ADAPTER_OUT)
    eval_data: str | None = option(None, _EVAL_DATA)
    init_adapter: str | None = option(None, "continue this adapter (default: a fresh LoRA)")
    continue_lr: float = option(
        0.0,
        "learning rate when continuing --init-adapter (0: --lr). A continued run restarts "
        "Adam; at the fresh adapter's 3e-3 the loss rose again and dev accuracy fell night "
        "after night (LEARNING.md, continuation)",
    )
    game: str | None = option(None, _GAME)
    lora: LoraOptions = nested(LoraOptions, _LORA)
    quant: QuantOptions = nested(QuantOptions, _QUANT, prefix="")
    train: TrainOptions = nested(TrainOptions, "optimiser and budget", prefix="")

    def __post_init__(self) -> None:
        check_float("continue_lr", self.continue_lr, 0, 1)

    def effective_train(self) -> TrainOptions:
        """The optimiser options this run uses: ``continue_lr`` replaces the learning rate of
        a run that continues an adapter."""
        if self.init_adapter and self.continue_lr > 0:
            return replace(self.train, learning_rate=self.continue_lr)
        return self.train


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

    ``precompute_ref`` saves the reference's forward pass at every step after the first epoch
    (1.49 against 1.76 CPU seconds per step of 32 pairs on the ``small`` base). ``sft_weight``:
    without the NLL term, one DPO round lowered dev accuracy and moved probability onto
    illegal moves: DPO only widens the chosen-rejected gap and may lower both (RPO, Pang et al.
    2024, "Iterative Reasoning Preference Optimization", adds this term for that).
    """

    data: str = option(help=_DATA)
    base: str = option(help=_BASE)
    adapter: str = option(help="previous adapter (folder or VERSION), also the reference")
    out: str = option(help=_ADAPTER_OUT)
    eval_data: str | None = option(None, _EVAL_DATA)
    game: str | None = option(None, _GAME)
    loss: DPOLoss = option(
        "sigmoid", "sigmoid: DPO (Rafailov et al. 2023, Eq. 7); ipo: IPO (Azar et al. 2023, Eq. 17)"
    )
    beta: float = option(0.1, "DPO's KL strength beta, or IPO's regulariser tau")
    precompute_ref: bool = option(True, "compute the reference log-probs once, before training")
    sft_weight: float = option(
        1.0, "weight of an NLL term on the chosen moves, against drift (0: pure DPO/IPO)"
    )
    lora: LoraOptions = nested(LoraOptions, _LORA)
    quant: QuantOptions = nested(QuantOptions, _QUANT, prefix="")
    train: TrainOptions = nested(
        TrainOptions,
        "optimiser and budget (DPO's own learning rate and epochs)",
        default_factory=lambda: TrainOptions(learning_rate=DPO_LR, epochs=DPO_EPOCHS),
        prefix="",
    )

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, DPOLoss)
        check_float("beta", self.beta, 0, 1000, lo_open=True)
        check_float("sft_weight", self.sft_weight, 0, 1000)


@dataclass(frozen=True)
class EvalConfig:
    """``arena eval``: dev-set metric plus seat-swapped pairs against fixed opponents."""

    game: str = option(help="tic_tac_toe, connect_four, kuhn_poker, ...")
    agent: str = option(help="agent spec, e.g. llm:BASE@ADAPTER or solver")
    out: str = option(help="report folder (eval.json + manifest.json)")
    opponents: tuple[str, ...] | None = option(
        None, "scripted opponents (default: the game's, random + mcts or solver)", metavar="SPEC"
    )
    pairs: int = option(20, "seat-swapped pairs per opponent (0: dev set only)")
    seed: int = option(0, "seed of the pairs and of agent sampling")
    limit: int | None = option(None, "evaluate only the first N dev-set positions (board games)")
    device: str | None = option(None, "LLM agents: cpu or cuda (default: auto)")

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


def from_dict(cls: type, obj: Any, where: str = "config") -> Any:
    """Rebuild dataclass ``cls`` from ``obj`` (a manifest's config): ``games.configs.build``.

    Raises:
        InputError (a ValueError): unknown keys, missing required keys, a value of the wrong
            type or out of range.
    """
    return build(cls, obj, where)
