"""The batched engine: exact scores, batching invariance, shared base, versioned adapters, swaps."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from agents.llm import ScoreRequest, get_engine, policy_from_scores
from games import (
    CURATED_GAMES,
    InputError,
    completion_text,
    load_game,
    random_observations,
)


def requests_for(observations, adapters):
    return [
        ScoreRequest(o.prompt, tuple(completion_text(t) for t in o.texts), a)
        for o, a in zip(observations, adapters, strict=True)
    ]


@pytest.fixture(scope="module")
def engine(tiny_base, tiny_adapters):
    """A private engine (not the process cache) with v1 and v2 loaded."""
    from agents.llm.engine import Engine
    from agents.llm.model_io import resolve_base

    eng = Engine(resolve_base(str(tiny_base)), "cpu", max_batch=64)
    eng.refs = [eng.load_adapter(path) for path in tiny_adapters]
    return eng


@pytest.fixture(scope="module")
def mixed_states():
    return [o for g in CURATED_GAMES for o in random_observations(g, 6, seed=5)]


def test_scores_equal_a_full_forward_per_candidate(engine, mixed_states):
    """The prefix-cache path gives the same log-likelihoods as recomputing everything."""
    import torch

    v1 = engine.refs[0]
    picks = mixed_states[::3]
    for adapter in (None, v1.name):
        results = engine.score(requests_for(picks, [adapter] * len(picks)))
        for obs, res in zip(picks, results, strict=True):
            prompt = engine.tokenizer(obs.prompt)["input_ids"]
            for text, got in zip(obs.texts, res.logliks, strict=True):
                tail = engine.tokenizer(completion_text(text), add_special_tokens=False)
                full = torch.tensor([prompt + tail["input_ids"]])
                with torch.inference_mode():  # no padding, no cache, one candidate
                    names = [adapter or "__base__"]
                    logits = engine.peft(input_ids=full, adapter_names=names).logits
                logp = torch.log_softmax(logits[0].double(), -1)
                want = sum(
                    logp[i - 1, full[0, i]].item() for i in range(len(prompt), full.shape[1])
                )
                assert got == pytest.approx(want, abs=1e-4)


def test_batched_equals_unbatched_with_mixed_adapters(engine, mixed_states):
    names = [None, engine.refs[0].name, engine.refs[1].name]
    adapters = [names[i % 3] for i in range(len(mixed_states))]
    batched = engine.score(requests_for(mixed_states, adapters))
    for obs, adapter, res in zip(mixed_states, adapters, batched, strict=True):
        alone = engine.score(requests_for([obs], [adapter]))[0]
        p_batch = policy_from_scores(res.logliks, res.tokens, 1.0)
        p_alone = policy_from_scores(alone.logliks, alone.tokens, 1.0)
        np.testing.assert_allclose(p_batch, p_alone, atol=1e-4)
        assert res.adapter == adapter
    # the adapters really differ, so mixing them is not trivially equal
    same = engine.score(requests_for(mixed_states[:4], [names[1]] * 4))
    other = engine.score(requests_for(mixed_states[:4], [names[2]] * 4))
    assert max(np.abs(a.logliks - b.logliks).max() for a, b in zip(same, other, strict=True)) > 0.1


def test_each_prompt_is_computed_once(engine, mixed_states):
    engine.stats.clear()
    batch = requests_for(mixed_states, [engine.refs[0].name] * len(mixed_states))
    engine.score(batch)
    prompt_tokens = sum(len(engine.tokenizer(r.prompt)["input_ids"]) for r in batch)
    assert engine.stats["prompt_tokens"] == prompt_tokens
    assert engine.stats["forwards"] <= 3 * engine.stats["chunks"]  # prefixes, stems, branches
    assert engine.stats["chunks"] <= 2
    # the games' shared headers are computed once per group, so fewer tokens than the prompts
    assert engine.stats["prefix_groups"] >= 4
    assert engine.stats["stem_tokens"] < 0.8 * prompt_tokens
    assert engine.stats["candidates"] == sum(len(r.candidates) for r in batch)


def test_agents_share_one_engine_and_adapters_add_only_their_size(tiny_base, tiny_adapters):
    from agents import make_agent
    from agents.llm import clear_engines

    clear_engines()
    handle = load_game("tic_tac_toe")
    bare = make_agent(f"llm:{tiny_base}", handle)
    engine = bare.engine
    base_params = {n: p.data_ptr() for n, p in engine.base.named_parameters()}
    before = sum(p.numel() * p.element_size() for p in engine.base.parameters())
    a = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]}", handle)
    b = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]},temperature=0", handle)
    c = make_agent(f"llm:{tiny_base}@{tiny_adapters[1]}", handle)
    assert a.engine is b.engine is c.engine is engine
    assert len(engine.adapters) == 2  # a and b share one copy of v1
    after = sum(p.numel() * p.element_size() for p in engine.peft.parameters())
    added = sum(int(np.prod(s)) * 4 for ref in engine.adapters.values() for s in _shapes(ref.path))
    assert after - before == added
    assert added < before
    for name, param in engine.base.named_parameters():
        if "lora_" not in name:
            key = name.replace("base_layer.", "")
            assert base_params[key] == param.data_ptr(), name
    a.close()
    assert len(engine.adapters) == 2  # b still uses v1
    b.close()
    c.close()
    assert engine.adapters == {}
    clear_engines()


def _shapes(path):
    from agents.llm import inspect_adapter

    return inspect_adapter(path).shapes.values()


def test_versioned_load_unload_never_reuses_names(engine, tiny_adapters, mixed_states):
    first = engine.load_adapter(tiny_adapters[0], version="v7")
    second = engine.load_adapter(tiny_adapters[0], version="v7")
    assert first.name != second.name and first.version == second.version == "v7"
    batch = requests_for(mixed_states[:3], [first.name] * 3)
    scores = engine.score(batch)
    engine.unload_adapter(first.name)
    with pytest.raises(InputError, match="no adapter or role"):
        engine.score(batch)
    again = engine.score(requests_for(mixed_states[:3], [second.name] * 3))
    for x, y in zip(scores, again, strict=True):
        np.testing.assert_allclose(x.logliks, y.logliks, atol=1e-6)
        assert y.version == "v7"
    engine.unload_adapter(second.name)
    third = engine.load_adapter(tiny_adapters[0], version="v7")
    assert third.name not in (first.name, second.name)
    engine.unload_adapter(third.name)
    assert set(engine.adapters) == {r.name for r in engine.refs}


def test_swap_mid_call_finishes_on_the_old_version(engine, tiny_adapters, mixed_states):
    engine.set_role("champion", tiny_adapters[0], version="v1")
    old = engine.role("champion")
    swapped = []

    def swap_once(done, total):
        if not swapped:
            swapped.append(engine.set_role("champion", tiny_adapters[1], version="v2"))
            assert old.name in engine.adapters  # still leased by this call

    engine.max_batch = 4
    try:
        batch = requests_for(mixed_states, ["champion"] * len(mixed_states))
        results = engine.score(batch, on_chunk=swap_once)
    finally:
        engine.max_batch = 64
    assert swapped and {r.version for r in results} == {"v1"}
    assert old.name not in engine.adapters  # retired once the call finished
    after = engine.score(batch[:3])
    assert {r.version for r in after} == {"v2"}
    direct = engine.score(requests_for(mixed_states[:3], [engine.refs[1].name] * 3))
    for x, y in zip(after, direct, strict=True):
        np.testing.assert_allclose(x.logliks, y.logliks, atol=1e-5)


def test_swaps_from_another_thread_while_agents_play(engine, tiny_adapters, mixed_states):
    from agents.llm import LLMAgent, LLMOptions

    engine.set_role("live", tiny_adapters[0], version="v1")
    agent = LLMAgent("llm:test", engine, "live", LLMOptions())
    seen: list[set] = []
    errors: list[Exception] = []

    def play():
        try:
            for _ in range(6):
                rngs = [np.random.default_rng(i) for i in range(len(mixed_states))]
                decisions = agent.act_batch(mixed_states, rngs)
                seen.append({d.version for d in decisions})
        except Exception as error:  # surfaced below
            errors.append(error)

    worker = threading.Thread(target=play)
    worker.start()
    for i in range(4):
        engine.set_role("live", tiny_adapters[i % 2], version=f"v{i % 2 + 1}")
    worker.join(timeout=120)
    assert not errors and len(seen) == 6
    assert all(len(versions) == 1 for versions in seen)  # no call mixes versions
    live = {r.name for r in engine.refs} | {r.name for r in engine.roles.values()}
    assert set(engine.adapters) == live  # every retired adapter was unloaded


def _copy_adapter(src, dst, **config_changes):
    shutil.copytree(src, dst)
    path = dst / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(config_changes)
    path.write_text(json.dumps(config))
    return dst


def test_refused_swaps_leave_the_current_adapter_serving(
    engine, tiny_adapters, tmp_path, lora_factory, mixed_states
):
    import torch
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM

    engine.set_role("guarded", tiny_adapters[0], version="v1")
    serving = engine.role("guarded")
    loaded = set(engine.adapters)

    pickled = _copy_adapter(tiny_adapters[0], tmp_path / "pickled")
    torch.save(load_file(pickled / "adapter_model.safetensors"), pickled / "adapter_model.bin")
    (pickled / "adapter_model.safetensors").unlink()
    missing = _copy_adapter(tiny_adapters[0], tmp_path / "missing")
    (missing / "adapter_model.safetensors").unlink()
    elsewhere = _copy_adapter(
        tiny_adapters[0], tmp_path / "elsewhere", base_model_name_or_path="/models/other-base"
    )
    other_base = tmp_path / "other-base"
    config = LlamaConfig(
        vocab_size=len(engine.tokenizer),
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(config).save_pretrained(other_base)
    engine.tokenizer.save_pretrained(other_base)
    foreign = lora_factory(other_base, tmp_path / "foreign", seed=3)
    reshaped = _copy_adapter(
        foreign, tmp_path / "reshaped", base_model_name_or_path=str(engine.ident)
    )
    cases = [
        (pickled, "pickle-based"),
        (missing, "missing adapter_model.safetensors"),
        (tmp_path / "nowhere", "does not exist"),
        (elsewhere, "not on the serving base"),
        (foreign, "differs from the serving base"),
        (reshaped, "has shape"),
    ]
    for folder, message in cases:
        with pytest.raises(InputError, match=message):
            engine.set_role("guarded", folder)
        assert engine.role("guarded") == serving
        assert set(engine.adapters) == loaded
    result = engine.score(requests_for(mixed_states[:2], ["guarded"] * 2))
    assert {r.version for r in result} == {"v1"}


def test_get_engine_resolves_workspace_names_and_reports_misses(tiny_base, tmp_path):
    from games.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.base("tiny").parent.mkdir(parents=True)
    ws.base("tiny").symlink_to(tiny_base)
    from agents.llm.model_io import resolve_base

    assert resolve_base("tiny", ws).ident == str(tiny_base.resolve())
    with pytest.raises(InputError, match="not found: looked for folder nope and workspace base"):
        get_engine("nope", ws)


@pytest.mark.gpu
def test_cuda_engine_runs_in_bf16_and_batches_like_cpu(tiny_base, tiny_adapters, mixed_states):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from agents.llm.engine import Engine
    from agents.llm.model_io import resolve_base

    gpu = Engine(resolve_base(str(tiny_base)), "cuda")
    cpu = Engine(resolve_base(str(tiny_base)), "cpu")
    assert next(gpu.base.parameters()).dtype == torch.bfloat16
    names = [gpu.load_adapter(tiny_adapters[0]).name, cpu.load_adapter(tiny_adapters[0]).name]
    for eng, name in zip((gpu, cpu), names, strict=True):
        eng.result = eng.score(requests_for(mixed_states, [name] * len(mixed_states)))
    for g, c in zip(gpu.result, cpu.result, strict=True):
        p_gpu = policy_from_scores(g.logliks, g.tokens, 1.0)
        np.testing.assert_allclose(p_gpu, policy_from_scores(c.logliks, c.tokens, 1.0), atol=0.05)


def test_tree_mask_and_gathered_cache_paths_agree(tiny_base, engine, mixed_states):
    """The branch pass has three implementations (SDPA and eager with a tree mask, KV rows
    gathered per candidate for other kernels): all give the same scores."""
    from agents.llm.engine import Engine
    from agents.llm.model_io import resolve_base

    adapters = [None, engine.refs[0].name] * (len(mixed_states) // 2)
    want = engine.score(requests_for(mixed_states, adapters))
    eager = Engine(resolve_base(str(tiny_base)), "cpu", attn_implementation="eager")
    assert engine._tree and eager._tree and eager._attn == "eager"
    v1 = eager.load_adapter(engine.refs[0].path)
    swap = {engine.refs[0].name: v1.name, None: None}
    got_eager = eager.score(requests_for(mixed_states, [swap[a] for a in adapters]))
    engine._tree = False
    try:
        got_gathered = engine.score(requests_for(mixed_states, adapters))
    finally:
        engine._tree = True
    for w, e, g in zip(want, got_eager, got_gathered, strict=True):
        np.testing.assert_allclose(e.logliks, w.logliks, atol=1e-4)
        np.testing.assert_allclose(g.logliks, w.logliks, atol=1e-4)
