"""How an LLM agent plays: the ``llm:`` spec's options (``,key=value``), checked without
loading torch, so that a spec is refused before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from games import InputError

MODES = ("score", "generate")
# Bounded work per decision: re-prompts and answer length; a temperature below 1e-3 overflows
# the softmax of log-likelihoods (use 0 for argmax).
MAX_RETRIES = 20
MAX_NEW_TOKENS = 4096
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 100.0
NORMS = ("sum", "mean")


@dataclass(frozen=True)
class LLMOptions:
    """How an LLM agent plays (spec options ``,key=value`` or ``make_agent`` keywords).

    Attributes:
        mode: ``score`` (rank the legal moves) or ``generate`` (free text, parsed).
        temperature: softmax temperature of the score policy; 0 = argmax. In generate mode,
            the sampling temperature (0 = greedy).
        norm: ``sum`` or ``mean`` log-likelihood (see the module docstring).
        retries: generate mode: re-prompts after an illegal or unparseable answer, then forfeit.
        max_new_tokens: generate mode: tokens per answer (default 8, or 96 with a chat template).
        quantize: ``nf4`` loads the base in 4 bits (bitsandbytes); part of the engine key.
        dtype: ``auto`` (bf16 on CUDA, fp32 on CPU), ``bf16`` or ``fp32``; part of the engine key.
        transfer: play an adapter on a game other than the one it was trained on (refused
            otherwise); deliberate transfer, recorded in the spec.
        sym: score mode: average each move's log-likelihood over the position's symmetric
            images (``games.symmetry``: tic_tac_toe's 8, connect_four's mirror; a no-op in
            other games), one forward row per image. The adapter is the same; the ensemble
            carries what it learnt on a board to the board's mirror (LEARNING.md).
    """

    mode: str = "score"
    temperature: float = 1.0
    norm: str = "sum"
    retries: int = 2
    max_new_tokens: int | None = None
    quantize: str | None = None
    dtype: str = "auto"
    transfer: bool = False
    sym: bool = False

    @staticmethod
    def parse(values: dict) -> LLMOptions:
        """Build from strings or values; raises InputError naming the bad key or value."""
        known = {f.name: f for f in fields(LLMOptions)}
        aliases = {
            "t": "temperature",
            "temp": "temperature",
            "quant": "quantize",
            "symmetry": "sym",
        }
        kwargs = {}
        for key, value in values.items():
            key = aliases.get(key, key)
            if key not in known:
                raise InputError(f"unknown LLM option '{key}'; known: {', '.join(known)}")
            if value is None:
                continue
            try:
                if key in ("temperature",):
                    value = float(value)
                elif key in ("retries", "max_new_tokens"):
                    value = int(value)
                elif key in ("transfer", "sym"):
                    value = _flag(key, value)
                else:
                    value = str(value)
            except ValueError:
                raise InputError(f"LLM option {key}={value!r} is not a number") from None
            kwargs[key] = value
        opts = LLMOptions(**kwargs)
        if opts.mode not in MODES:
            raise InputError(f"LLM option mode={opts.mode!r}: use score or generate")
        if opts.sym and opts.mode != "score":
            raise InputError("LLM option sym=1 averages scores: it needs mode=score")
        if opts.norm not in NORMS:
            raise InputError(f"LLM option norm={opts.norm!r}: use sum or mean")
        t = opts.temperature
        if not np.isfinite(t) or not (t == 0 or MIN_TEMPERATURE <= t <= MAX_TEMPERATURE):
            raise InputError(
                f"LLM option temperature={t}: must be 0 (argmax) or between "
                f"{MIN_TEMPERATURE} and {MAX_TEMPERATURE:g}"
            )
        if not 0 <= opts.retries <= MAX_RETRIES:
            raise InputError(f"LLM option retries={opts.retries}: must be 0 to {MAX_RETRIES}")
        if opts.max_new_tokens is not None and not 1 <= opts.max_new_tokens <= MAX_NEW_TOKENS:
            raise InputError(
                f"LLM option max_new_tokens={opts.max_new_tokens}: must be 1 to {MAX_NEW_TOKENS}"
            )
        if opts.dtype not in ("auto", "bf16", "fp32"):
            raise InputError(f"LLM option dtype={opts.dtype!r}: use auto, bf16 or fp32")
        if opts.quantize not in (None, "nf4", "none"):
            raise InputError(f"LLM option quantize={opts.quantize!r}: use nf4")
        return opts if opts.quantize != "none" else LLMOptions(**{**kwargs, "quantize": None})


def _flag(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise InputError(f"LLM option {key}={value!r}: use 1 or 0")
