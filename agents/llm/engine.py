"""The batched inference engine: one base model, many LoRA versions, many games per forward.

Scoring (``Engine.score``) answers a batch of requests, each a prompt, its candidate
continuations and the adapter to use, in micro-batches of two or three forward passes however
many candidates there are (``agents.llm.passes``): shared prompt prefixes once, the rest of each
prompt once, then every candidate on its prompt's KV cache. Prompts are never recomputed per
candidate. Micro-batches keep requests with the same adapter and leading tokens together.
Rows of one batch may use different adapters: peft's mixed-adapter inference (``adapter_names``)
applies each row's LoRA on the shared base weights, so one base copy serves every version.

Adapters get internal names that are never reused (``v3__7``), so a reloaded version can never
be answered by stale weights. Roles (``champion``) point at internal names and are swapped
atomically: a call resolves its roles once, leases those adapters, and finishes on them even if
a swap happens mid-call; a retired adapter is unloaded when its last lease ends.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.llm.adapters import AdapterSet
from agents.llm.model_io import BaseRef, accepts, cache_kwarg, load_base
from agents.llm.passes import score_chunk
from agents.llm.tokens import TokenCodec
from agents.llm.views import base_view

logger = logging.getLogger(__name__)
MIN_ROWS = 16
PAD_SLACK = 0.1
# bitsandbytes (imported by peft) warns on CPU that the optional hub package "kernels" is not
# installed; its pure-torch fallback is what runs here, so the warning is only noise.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


@dataclass(frozen=True)
class ScoreRequest:
    """Score ``candidates`` (continuations such as ``" b3\\n"``) after ``prompt``.

    ``adapter``: None for the bare base, else a role (``champion``) or an internal name.
    """

    prompt: str
    candidates: tuple[str, ...]
    adapter: str | None = None


@dataclass(frozen=True)
class ScoreResult:
    """Summed log-likelihood and token count of each candidate, and who scored them."""

    logliks: np.ndarray
    tokens: np.ndarray
    version: str | None
    adapter: str | None


class Engine(AdapterSet):
    """One base model on one device, with its adapters. Get one with ``get_engine``.

    Thread-safe: forwards and adapter changes take one lock; a scoring call releases it
    between micro-batches, which is where swaps land.
    """

    def __init__(
        self,
        ref: BaseRef,
        device: str,
        quantize: str | None = None,
        max_batch: int | None = None,
        max_batch_tokens: int = 32768,
        dtype: str | None = None,
        attn_implementation: str | None = None,
    ):
        self.ref, self.device, self.quantize = ref, device, quantize
        # CPU caches favour mid-sized batches (measured: 64 x 90 tokens beats 256 x 90)
        self.max_batch = max_batch or (64 if device == "cpu" else 256)
        self.max_batch_tokens = max_batch_tokens
        self.base, self.tokenizer = load_base(ref, device, quantize, dtype, attn_implementation)
        self.tokenizer.padding_side = "left"  # generation continues every row at the end
        self.codec = TokenCodec(self.tokenizer)
        self.view = base_view(ref.ident if ref.local else None)  # the prompt text it reads
        self._cache_kw = cache_kwarg(self.base)
        self._keep = {"logits_to_keep": 1} if accepts(self.base, "logits_to_keep") else {}
        self._attn = getattr(self.base.config, "_attn_implementation", None)
        self._tree = self._attn in ("sdpa", "eager")  # kernels that take a custom 4D mask
        self._dtype = next(self.base.parameters()).dtype
        self._lock = threading.RLock()
        self._init_adapters()
        self.stats: Counter[str] = Counter()

    @property
    def ident(self) -> str:
        return self.ref.ident

    # ----------------------------------------------------------------------------- forward

    def _forward(self, names: list[str | None], **kwargs):
        if self.peft is not None and self.peft.peft_config:
            return self.peft(adapter_names=[n or "__base__" for n in names], **kwargs)
        return self.base(**kwargs)

    def score(
        self,
        requests: Sequence[ScoreRequest],
        on_chunk: Callable[[int, int], None] | None = None,
    ) -> list[ScoreResult]:
        """Log-likelihood of every candidate after its prompt, in micro-batches.

        Args:
            requests: the batch; may mix adapters and games.
            on_chunk: called as ``on_chunk(done, total)`` after each micro-batch (progress,
                tests); adapter swaps made from it do not affect this call.
        """
        if not requests:
            return []
        if any(not r.candidates for r in requests):
            raise ValueError("every score request needs at least one candidate")
        with self.lease([r.adapter for r in requests]) as refs:
            prompts = self.codec.prompts([r.prompt for r in requests])
            cands = [
                self.codec.candidates(r.prompt, ids, r.candidates)
                for r, ids in zip(requests, prompts, strict=True)
            ]
            # same adapter and same leading tokens side by side: shared prefixes, similar widths
            order = sorted(
                range(len(requests)), key=lambda i: (refs[i].name if refs[i] else "", prompts[i])
            )
            results: list[ScoreResult | None] = [None] * len(requests)
            done = 0
            for chunk in self._chunks(order, prompts, cands):
                with self._lock:
                    scored = score_chunk(
                        self,
                        [prompts[i] for i in chunk],
                        [cands[i] for i in chunk],
                        [refs[i].name if refs[i] else None for i in chunk],
                    )
                for i, (ll, n) in zip(chunk, scored, strict=True):
                    ref = refs[i]
                    results[i] = ScoreResult(
                        ll, n, ref.version if ref else None, ref.name if ref else None
                    )
                done += len(chunk)
                if on_chunk is not None:
                    on_chunk(done, len(requests))
        return results

    def _chunks(self, order, prompts, cands):
        """Micro-batches of consecutive requests in ``order``.

        A chunk closes at ``max_batch`` rows, at ``max_batch_tokens`` padded prompt tokens (or
        twice that in per-candidate rows), or, once it has ``MIN_ROWS`` rows, when padding
        would exceed ``PAD_SLACK`` of its real tokens: padded positions are computed for nothing.
        """
        chunk: list[int] = []
        real = expanded = widest = 0
        for i in order:
            size, n = len(prompts[i]), len(cands[i])
            width, rows = max(widest, size), len(chunk) + 1
            if chunk and (
                rows > self.max_batch
                or width * rows > self.max_batch_tokens
                or width * (expanded + n) > 2 * self.max_batch_tokens
                or (len(chunk) >= MIN_ROWS and width * rows > (1 + PAD_SLACK) * (real + size))
            ):
                yield chunk
                chunk, real, expanded, widest = [], 0, 0, 0
                width = size
            chunk.append(i)
            real, expanded, widest = real + size, expanded + n, width
        if chunk:
            yield chunk

    def generate(
        self,
        prompts: Sequence[str],
        adapters: Sequence[str | None],
        max_new_tokens: int = 16,
        stop_at_newline: bool = True,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> list[tuple[str, str | None]]:
        """Free generation for each prompt; returns ``(text, adapter version)`` pairs.

        Greedy when ``temperature`` is 0 (then results do not depend on batch composition);
        sampled otherwise, from a torch generator seeded with ``seed``.
        """
        import torch

        results: list[tuple[str, str | None]] = []
        with self.lease(adapters) as refs:
            for start in range(0, len(prompts), self.max_batch):
                chunk = list(prompts[start : start + self.max_batch])
                names = [r.name if r else None for r in refs[start : start + self.max_batch]]
                batch = self.tokenizer(chunk, return_tensors="pt", padding=True)
                batch = {k: v.to(self.device) for k, v in batch.items()}
                kwargs = dict(
                    max_new_tokens=max_new_tokens,
                    do_sample=temperature > 0,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.codec.stop_ids(stop_at_newline),
                )
                if temperature > 0:
                    kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
                    torch.manual_seed(seed + start)
                with self._lock, torch.inference_mode():
                    if self.peft is not None and self.peft.peft_config:
                        kwargs["adapter_names"] = [n or "__base__" for n in names]
                        out = self.peft.generate(**batch, **kwargs)
                    else:
                        out = self.base.generate(**batch, **kwargs)
                texts = self.tokenizer.batch_decode(
                    out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True
                )
                self.stats.update(generate_calls=1, generated=len(chunk))
                versions = [r.version if r else None for r in refs[start : start + len(chunk)]]
                results.extend(zip(texts, versions, strict=True))
        return results


_ENGINES: dict[tuple, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(
    base: str,
    workspace=None,
    device: str | None = None,
    quantize: str | None = None,
    dtype: str | None = None,
    **kwargs,
) -> Engine:
    """The process-wide engine for (base, device, quantization, dtype), created on first use.

    ``base`` is resolved as in ``agents.llm.model_io.resolve_base``; ``kwargs`` (max_batch,
    max_batch_tokens) apply only when the engine is created.
    """
    from agents.llm.model_io import compute_dtype, pick_device, resolve_base

    ref = resolve_base(base, workspace)
    device = pick_device(device)
    key = (ref.ident, device, quantize, str(compute_dtype(device, dtype)))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(ref, device, quantize, dtype=dtype, **kwargs)
        return engine


def clear_engines() -> None:
    """Forget every cached engine (their memory is freed once no agent holds them)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
