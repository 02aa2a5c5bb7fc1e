"""The batched inference engine: one base model, many LoRA versions, many games per forward.

Scoring (``Engine.score``) answers a batch of requests, each a prompt, its candidate
continuations and the adapter to use, in two forward passes per micro-batch however many
candidates there are:

1. the *stem* pass: every prompt but its last token, once, right-padded (causal attention
   already hides the padding, so the fast causal kernel runs), keeping the KV cache;
2. the *branch* pass: each candidate as ``[last prompt token, c_1 .. c_{n-1}]`` predicting
   ``c_1 .. c_n`` on its own prompt's cache. With SDPA or eager attention all branches of a
   prompt share that prompt's row and a tree mask (each branch sees the stem and its own
   earlier tokens), so nothing is copied per candidate; with other kernels (flash-attention)
   the cache rows are gathered once per candidate instead. Prompts are never recomputed.

Micro-batches group prompts of similar length (bounded padding) up to ``max_batch`` rows.
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
from itertools import pairwise

import numpy as np

from agents.llm.adapters import AdapterSet
from agents.llm.model_io import BaseRef, accepts, cache_kwarg, load_base, output_cache
from agents.llm.tokens import TokenCodec

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
            order = sorted(range(len(requests)), key=lambda i: len(prompts[i]))
            results: list[ScoreResult | None] = [None] * len(requests)
            done = 0
            for chunk in self._chunks(order, prompts, cands):
                with self._lock:
                    scored = self._score_chunk(
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
        """Micro-batches of similar prompt length (``order`` sorts prompts by length).

        A chunk closes at ``max_batch`` rows, at ``max_batch_tokens`` padded prompt tokens (or
        twice that in per-candidate KV rows), or, once it has ``MIN_ROWS`` rows, when padding
        would exceed ``PAD_SLACK`` of its real tokens: padded positions are computed for nothing.
        """
        chunk: list[int] = []
        real = expanded = 0
        for i in order:
            width, n = len(prompts[i]), len(cands[i])  # the widest so far: order is sorted
            rows = len(chunk) + 1
            if chunk and (
                rows > self.max_batch
                or width * rows > self.max_batch_tokens
                or width * (expanded + n) > 2 * self.max_batch_tokens
                or (len(chunk) >= MIN_ROWS and width * rows > (1 + PAD_SLACK) * (real + width))
            ):
                yield chunk
                chunk, real, expanded = [], 0, 0
            chunk.append(i)
            real += width
            expanded += n
        if chunk:
            yield chunk

    def _score_chunk(self, prompts, cands, names):
        """Summed log-likelihoods of one micro-batch: a stem pass, then a branch pass.

        The *stem* is each prompt but its last token, right-padded: causal attention alone
        keeps real tokens from seeing the padding after them, so no mask is needed and the
        fast causal kernel runs. Each candidate is then a *branch* ``[last prompt token,
        c_1 .. c_{n-1}]`` predicting ``c_1 .. c_n`` on the stem's KV cache.
        """
        import torch

        device, pad = self.device, self.tokenizer.pad_token_id
        lengths = torch.tensor([len(p) - 1 for p in prompts])
        width = int(lengths.max())
        cache = None
        with torch.inference_mode():
            if width:
                ids = torch.full((len(prompts), width), pad, dtype=torch.long)
                for row, p in enumerate(prompts):
                    ids[row, : len(p) - 1] = torch.tensor(p[:-1])
                out = self._forward(names, input_ids=ids.to(device), use_cache=True, **self._keep)
                cache = output_cache(out)
            pairs = zip(prompts, cands, strict=True)
            branches = [([p[-1], *c[:-1]], c) for p, group in pairs for c in group]
            counts = [len(group) for group in cands]
            owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts))
            if self._tree:
                ll = self._tree_pass(cache, width, lengths, branches, counts, names)
            else:
                ll = self._expanded_pass(cache, width, lengths, branches, owner, names)
        self.stats.update(chunks=1, forwards=2 if width else 1, prompts=len(prompts))
        self.stats.update(prompt_tokens=int(lengths.sum()) + len(prompts))
        ll = ll.cpu().numpy()
        sizes = np.asarray([len(target) for _, target in branches])
        self.stats.update(candidates=len(branches), candidate_tokens=int(sizes.sum()))
        bounds = np.cumsum([0, *counts])
        return [(ll[a:b], sizes[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _tree_pass(self, cache, width, lengths, branches, counts, names):
        """All branches of a prompt in its own row, each attending to the stem and to its own
        earlier tokens only (a tree attention mask): no KV cache is copied per candidate."""
        import torch

        device, rows = self.device, len(counts)
        per_row = np.cumsum([0, *counts])
        size = max(sum(len(branches[k][0]) for k in range(a, b)) for a, b in pairwise(per_row))
        inp = torch.full((rows, size), self.tokenizer.pad_token_id, dtype=torch.long)
        tgt = torch.zeros((rows, size), dtype=torch.long)
        branch = torch.full((rows, size), -1, dtype=torch.long)
        step = torch.zeros((rows, size), dtype=torch.long)
        for row, (a, b) in enumerate(pairwise(per_row)):
            at = 0
            for k in range(a, b):
                tokens, target = branches[k]
                n = len(tokens)
                inp[row, at : at + n] = torch.tensor(tokens)
                tgt[row, at : at + n] = torch.tensor(target)
                branch[row, at : at + n] = k
                step[row, at : at + n] = torch.arange(n)
                at += n
        live = branch >= 0
        order = torch.arange(size)
        tree = (branch[:, :, None] == branch[:, None, :]) & (order[:, None] >= order[None, :])
        tree &= live[:, :, None]
        tree |= torch.eye(size, dtype=torch.bool) & ~live[:, :, None]  # padding: itself only
        stem = (torch.arange(width)[None, :] < lengths[:, None])[:, None, :] & live[:, :, None]
        allowed = torch.cat([stem, tree], dim=-1)[:, None].to(device)
        if self._attn == "eager":
            floor = torch.finfo(self._dtype).min
            allowed = torch.zeros(allowed.shape, dtype=self._dtype, device=device).masked_fill(
                ~allowed, floor
            )
        kwargs = {self._cache_kw: cache, "use_cache": True} if cache is not None else {}
        out = self._forward(
            names,
            input_ids=inp.to(device),
            attention_mask=allowed,
            position_ids=(lengths[:, None] + step).to(device),
            **kwargs,
        )
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        picked = logp.gather(-1, tgt.to(device).unsqueeze(-1)).squeeze(-1)
        picked = picked.masked_fill(~live.to(device), 0.0).double()
        ll = torch.zeros(len(branches), dtype=torch.float64, device=device)
        return ll.index_add_(0, branch[live].to(device), picked[live.to(device)])

    def _expanded_pass(self, cache, width, lengths, branches, owner, names):
        """Fallback for attention kernels without custom masks (e.g. flash-attention): the
        stem's KV cache rows are gathered once per candidate, one branch per row."""
        import torch

        device = self.device
        size = max(len(tokens) for tokens, _ in branches)
        inp = torch.full((len(branches), size), self.tokenizer.pad_token_id, dtype=torch.long)
        tgt = torch.zeros((len(branches), size), dtype=torch.long)
        live = torch.zeros((len(branches), size), dtype=torch.bool)
        for row, (tokens, target) in enumerate(branches):
            inp[row, : len(tokens)] = torch.tensor(tokens)
            tgt[row, : len(tokens)] = torch.tensor(target)
            live[row, : len(tokens)] = True
        mask = live.clone()
        kwargs = {}
        if cache is not None:
            cache.batch_select_indices(owner.to(device))
            stem = torch.arange(width)[None, :] < lengths[owner][:, None]
            mask = torch.cat([stem, mask], dim=1)
            kwargs = {self._cache_kw: cache, "use_cache": True}
        out = self._forward(
            [names[int(o)] for o in owner],
            input_ids=inp.to(device),
            attention_mask=mask.long().to(device),
            position_ids=(lengths[owner][:, None] + torch.arange(size)).to(device),
            **kwargs,
        )
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        picked = logp.gather(-1, tgt.to(device).unsqueeze(-1)).squeeze(-1)
        return (picked * live.to(device)).sum(-1).double()

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
