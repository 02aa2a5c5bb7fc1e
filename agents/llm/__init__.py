"""LLM agents: a base causal LM plus LoRA adapter versions, served by a batched engine.

Agent specs (see ``agents.spec``)::

    llm:BASE                      the bare base: a folder, a workspace base name (llm:tiny ->
                                  <workspace>/base/tiny) or a hub id (org/name)
    llm:BASE@ADAPTER              base + the LoRA adapter in folder ADAPTER
    llm:BASE@ADAPTER,temperature=0,norm=mean,mode=generate,retries=2,quantize=nf4,dtype=bf16

``make_agent(spec, handle, workspace=..., device=..., engine=..., temperature=...)`` builds an
``LLMAgent``; keyword options are defaults that the spec's own options override.

Public API for the arena (Ray workers) and training
---------------------------------------------------
``get_engine(base, workspace=None, device=None, quantize=None, dtype=None) -> Engine``
    The process-wide engine for (base, device, quantization, dtype): agents in one process
    share one copy of the base, whatever adapters they use. ``clear_engines()`` forgets them.
    On CPU, give each process its share of the cores (``torch.set_num_threads``): two OpenMP
    threads on two cores busy with other work ran a tiny-model call 40x slower (measured).
``Engine.score(requests: list[ScoreRequest]) -> list[ScoreResult]``
    Cross-adapter batching: ``ScoreRequest(prompt, candidates, adapter)``, where candidates
    are continuations (``games.completion_text(text)``) and ``adapter`` is None (bare base), a
    role or an internal adapter name. Results carry ``logliks`` (summed log-likelihood per
    candidate), ``tokens`` and the adapter ``version`` that answered. Each micro-batch takes
    two or three forward passes (shared prefixes, prompts, candidates: ``agents.llm.passes``),
    whatever the mix of adapters and games; ``engine.stats`` counts them.
``Engine.generate(prompts, adapters, max_new_tokens=16, stop_at_newline=True, temperature=0)``
    Batched free generation; returns ``(text, version)`` pairs.
``Engine.load_adapter(path, version=None) -> AdapterRef`` / ``Engine.unload_adapter(name)``
    Versioned loading under never-reused internal names (``v3__7``); unloading waits for
    in-flight calls. Memory grows by the adapter's size only.
``Engine.set_role(role, path, version=None) -> AdapterRef``
    The runtime swap: validate and load, then point ``role`` (e.g. ``champion``) at it
    atomically; a refused adapter raises ``games.InputError`` and the old one keeps serving.
    ``Engine.role(role)``, ``attach_role``/``detach_role`` (shared, counted use by agents).
``LLMAgent.score(observations)`` / ``LLMAgent.decide(obs, result, rng)``
    Split an agent's ``act_batch``: one result per observation (with option ``sym``, its
    symmetric images scored in the same call and averaged, ``fold_images``);
    ``decide_batch([(agent, obs, rng), ...])`` batches several agents' requests into one
    ``Engine.score`` call.
``policy_from_scores(logliks, tokens, temperature, norm)``
    The score-mode policy (softmax at a temperature, argmax at 0).
``inspect_adapter(path)``
    Validate an adapter folder's files (safetensors only) without loading it.
"""

from __future__ import annotations

from agents.llm.adapters import AdapterInfo, AdapterRef, inspect_adapter
from agents.llm.agent import (
    LLMAgent,
    LLMOptions,
    decide_batch,
    make_llm_agent,
    policy_from_scores,
)
from agents.llm.engine import (
    Engine,
    ScoreRequest,
    ScoreResult,
    clear_engines,
    get_engine,
)
from agents.llm.generate import extract_answer

__all__ = [
    "AdapterInfo",
    "AdapterRef",
    "Engine",
    "LLMAgent",
    "LLMOptions",
    "ScoreRequest",
    "ScoreResult",
    "clear_engines",
    "decide_batch",
    "extract_answer",
    "get_engine",
    "inspect_adapter",
    "make_llm_agent",
    "policy_from_scores",
]
