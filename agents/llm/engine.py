"""The batched inference engine: one base model, many LoRA versions, many games per forward.

Scoring (``Engine.score``) answers a batch of requests, each a prompt, its candidate
continuations and the adapter to use, in two forward passes however many candidates there are:

1. every prompt once, left-padded into one batch, keeping the KV cache and only the last
   position's logits (which give each candidate's first token);
2. every candidate of every prompt in one batch, reading its own prompt's KV cache (the cache
   rows are gathered per candidate: prompts are never recomputed per candidate).

Rows of one batch may use different adapters: peft's mixed-adapter inference (``adapter_names``)
applies each row's LoRA on the shared base weights, so one base copy serves every version.

Adapters get internal names that are never reused (``v3__7``), so a reloaded version can never
be answered by stale weights. Roles (``champion``) point at internal names and are swapped
atomically: a call resolves its roles once, leases those adapters, and finishes on them even if
a swap happens mid-call; a retired adapter is unloaded when its last lease ends.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.llm import adapters as adapter_files
from agents.llm.model_io import BaseRef, accepts, cache_kwarg, load_base, output_cache
from agents.llm.tokens import TokenCodec
from games import InputError

logger = logging.getLogger(__name__)
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


@dataclass(frozen=True)
class AdapterRef:
    """A loaded adapter: ``name`` is the internal peft name, ``version`` the public label."""

    name: str
    version: str
    path: Path
    nbytes: int


class Engine:
    """One base model on one device, with its adapters. Get one with ``get_engine``.

    Thread-safe: forwards and adapter changes take one lock; a scoring call releases it
    between micro-batches, which is where swaps land.
    """

    def __init__(
        self,
        ref: BaseRef,
        device: str,
        quantize: str | None = None,
        max_batch: int = 256,
        max_batch_tokens: int = 32768,
    ):
        self.ref, self.device, self.quantize = ref, device, quantize
        self.max_batch, self.max_batch_tokens = max_batch, max_batch_tokens
        self.base, self.tokenizer = load_base(ref, device, quantize)
        self.codec = TokenCodec(self.tokenizer)
        self.peft = None
        self._cache_kw = cache_kwarg(self.base)
        self._keep = {"logits_to_keep": 1} if accepts(self.base, "logits_to_keep") else {}
        self._lock = threading.RLock()
        self._serial = itertools.count(1)
        self._loaded: dict[str, AdapterRef] = {}
        self._roles: dict[str, AdapterRef] = {}
        self._role_users: Counter[str] = Counter()
        self._leases: Counter[str] = Counter()
        self._retired: set[str] = set()
        self.stats: Counter[str] = Counter()

    @property
    def ident(self) -> str:
        return self.ref.ident

    # ----------------------------------------------------------------------------- adapters

    def load_adapter(self, path: str | Path, version: str | None = None) -> AdapterRef:
        """Validate and load an adapter folder under a fresh internal name.

        Raises:
            InputError: missing files, pickle weights, another base, or wrong shapes; the
                engine is unchanged in that case.
        """
        info = adapter_files.inspect_adapter(path, version)
        adapter_files.check_same_base(info, self.ref.ident, self.ref.local)
        with self._lock:
            adapter_files.check_fits(info, self.base)
            name = adapter_files.internal_name(info.version, next(self._serial))
            self._inject(info.path, name)
            ref = AdapterRef(name, info.version, info.path, info.nbytes)
            self._loaded[name] = ref
        logger.info("loaded adapter %s (%s) from %s", name, info.version, info.path)
        return ref

    def _inject(self, path: Path, name: str) -> None:
        from peft import PeftModel

        try:
            with warnings.catch_warnings():
                # peft 0.21 calls a transformers 5 API that warns of its own deprecation
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                if self.peft is None:
                    self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=name)
                else:
                    self.peft.load_adapter(str(path), adapter_name=name)
                    if self.peft.active_adapter not in self.peft.peft_config:
                        self.peft.set_adapter(name, inference_mode=True)
        except (ValueError, RuntimeError, KeyError) as error:
            with contextlib.suppress(Exception):
                self.peft.delete_adapter(name)
            raise InputError(f"adapter {path} could not be loaded: {error}") from None
        self.peft.eval()

    def unload_adapter(self, name: str) -> None:
        """Unload ``name`` now, or when its in-flight decisions finish."""
        with self._lock:
            if name not in self._loaded:
                raise InputError(f"adapter '{name}' is not loaded")
            roles = [r for r, ref in self._roles.items() if ref.name == name]
            if roles:
                raise InputError(f"adapter '{name}' still serves role(s) {', '.join(roles)}")
            self._retired.add(name)
            self._reap(name)

    def _reap(self, name: str) -> None:
        if name in self._retired and self._leases[name] == 0:
            self.peft.delete_adapter(name)
            del self._loaded[name]
            self._retired.discard(name)
            logger.info("unloaded adapter %s", name)

    @property
    def adapters(self) -> dict[str, AdapterRef]:
        """Loaded adapters by internal name (retired ones still in flight included)."""
        with self._lock:
            return dict(self._loaded)

    @property
    def roles(self) -> dict[str, AdapterRef]:
        with self._lock:
            return dict(self._roles)

    def role(self, role: str) -> AdapterRef | None:
        with self._lock:
            return self._roles.get(role)

    def set_role(self, role: str, path: str | Path, version: str | None = None) -> AdapterRef:
        """Load ``path`` and point ``role`` at it atomically (the runtime swap).

        Decisions already in flight finish on the adapter they leased; the previous adapter
        is unloaded once no role points at it and its last lease ends. A refused adapter
        (see ``load_adapter``) raises InputError and leaves the current one serving.
        """
        new = self.load_adapter(path, version)
        with self._lock:
            old = self._roles.get(role)
            self._roles[role] = new
            if old is not None and all(r.name != old.name for r in self._roles.values()):
                self._retired.add(old.name)
                self._reap(old.name)
        logger.info("role %s -> %s (%s)", role, new.name, new.version)
        return new

    def attach_role(self, role: str, path: str | Path, version: str | None = None) -> AdapterRef:
        """Use ``role`` (loading ``path`` into it unless it is already there); counted, so
        agents sharing a role share one adapter copy. Pair with ``detach_role``."""
        with self._lock:
            ref = self._roles.get(role)
            if ref is None or ref.path != Path(path).expanduser().resolve():
                ref = self.set_role(role, path, version)
            self._role_users[role] += 1
            return ref

    def detach_role(self, role: str) -> None:
        """Release one use of ``role``; the last release drops it and retires its adapter."""
        with self._lock:
            self._role_users[role] -= 1
            if self._role_users[role] > 0 or role not in self._roles:
                return
            old = self._roles.pop(role)
            del self._role_users[role]
            if all(r.name != old.name for r in self._roles.values()):
                self._retired.add(old.name)
                self._reap(old.name)

    @contextlib.contextmanager
    def lease(self, adapters: Sequence[str | None]):
        """Resolve roles/names once and hold those adapters for the duration of the block."""
        with self._lock:
            refs = []
            for adapter in adapters:
                if adapter is None:
                    refs.append(None)
                    continue
                ref = self._roles.get(adapter) or self._loaded.get(adapter)
                if ref is None or ref.name in self._retired and adapter not in self._roles:
                    raise InputError(f"no adapter or role '{adapter}' in engine {self.ident}")
                refs.append(ref)
            held = Counter(ref.name for ref in refs if ref is not None)
            self._leases.update(held)
        try:
            yield refs
        finally:
            with self._lock:
                self._leases.subtract(held)
                for name in held:
                    self._reap(name)

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
        chunk: list[int] = []
        for i in order:
            width = len(prompts[i])
            rows = len(chunk) + 1
            expanded = sum(len(cands[j]) for j in chunk) + len(cands[i])
            if chunk and (
                rows > self.max_batch
                or width * rows > self.max_batch_tokens
                or width * expanded > 2 * self.max_batch_tokens
            ):
                yield chunk
                chunk = []
            chunk.append(i)
        if chunk:
            yield chunk

    def _score_chunk(self, prompts, cands, names):
        import torch

        device, pad = self.device, self.tokenizer.pad_token_id
        width = max(map(len, prompts))
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p) :] = torch.tensor(p)
            mask[row, width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            out = self._forward(
                names,
                input_ids=ids,
                attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True,
                **self._keep,
            )
            first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
            counts = [len(c) for c in cands]
            owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts))
            flat = [c for group in cands for c in group]
            heads = torch.tensor([c[0] for c in flat])
            ll = first[owner.to(device), heads.to(device)].double()
            longest = max(map(len, flat))
            self.stats.update(forwards=1, prompts=len(prompts), prompt_tokens=int(mask.sum()))
            if longest > 1:
                ll = ll + self._continue(out, mask, owner, flat, longest, names)
        ll = ll.cpu().numpy()
        lengths = np.asarray([len(c) for c in flat])
        self.stats.update(candidates=len(flat), candidate_tokens=int(lengths.sum()))
        bounds = np.cumsum([0, *counts])
        return [(ll[a:b], lengths[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _continue(self, out, mask, owner, flat, longest, names):
        """Log-likelihood of candidate tokens 2..n, on each prompt's gathered KV cache."""
        import torch

        device, pad = self.device, self.tokenizer.pad_token_id
        cache = output_cache(out)
        cache.batch_select_indices(owner.to(device))
        steps = longest - 1
        inp = torch.full((len(flat), steps), pad, dtype=torch.long)
        tgt = torch.zeros((len(flat), steps), dtype=torch.long)
        valid = torch.zeros((len(flat), steps), dtype=torch.bool)
        for row, c in enumerate(flat):
            n = len(c) - 1
            if n:
                inp[row, :n] = torch.tensor(c[:-1])
                tgt[row, :n] = torch.tensor(c[1:])
                valid[row, :n] = True
        prompt_mask = mask[owner.to(device)]
        cand_mask = valid.to(device).long()
        cand_mask[:, 0] = 1  # keeps padded rows' queries attending somewhere (ignored below)
        start = prompt_mask.sum(-1, keepdim=True)
        outc = self._forward(
            [names[int(o)] for o in owner],
            input_ids=inp.to(device),
            attention_mask=torch.cat([prompt_mask, cand_mask], dim=1),
            position_ids=start + torch.arange(steps, device=device),
            use_cache=True,
            **{self._cache_kw: cache},
        )
        logp = torch.log_softmax(outc.logits.float(), dim=-1)
        picked = logp.gather(-1, tgt.to(device).unsqueeze(-1)).squeeze(-1)
        self.stats.update(forwards=1)
        return (picked * valid.to(device)).sum(-1).double()

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
    base: str, workspace=None, device: str | None = None, quantize: str | None = None, **kwargs
) -> Engine:
    """The process-wide engine for (base, device, quantization), created on first use.

    ``base`` is resolved as in ``agents.llm.model_io.resolve_base``; ``kwargs`` (max_batch,
    max_batch_tokens) apply only when the engine is created.
    """
    from agents.llm.model_io import pick_device, resolve_base

    ref = resolve_base(base, workspace)
    device = pick_device(device)
    key = (ref.ident, device, quantize)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = Engine(ref, device, quantize, **kwargs)
        return engine


def clear_engines() -> None:
    """Forget every cached engine (their memory is freed once no agent holds them)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
