"""The score-mode LLM agent: legal by construction, policies that sum to 1, specs and options."""

from __future__ import annotations

import numpy as np
import pytest

from agents import make_agent, parse_spec
from agents.llm import LLMOptions, clear_engines, decide_batch, policy_from_scores
from agents.llm.agent import fold_images
from agents.llm.engine import ScoreResult
from games import (
    CURATED_GAMES,
    InputError,
    Opening,
    load_game,
    random_observations,
)
from games.match import MatchJob, play_matches
from games.symmetry import observation_images


@pytest.fixture(autouse=True, scope="module")
def fresh_engines():
    clear_engines()
    yield
    clear_engines()


@pytest.mark.slow
@pytest.mark.parametrize("game", CURATED_GAMES)
def test_score_mode_never_plays_an_illegal_move(game, tiny_base, tiny_adapters):
    """Over 250 random states per game (1000 in all), with an adapter, sampling at T=1.
    (Legal by construction: only legal moves are scored; 4000 states cost 10% of the suite.)"""
    agent = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]}", load_game(game))
    observations = random_observations(game, 250, seed=17)
    rngs = [np.random.default_rng(i) for i in range(len(observations))]
    decisions = agent.act_batch(observations, rngs)
    chosen = set()
    for obs, decision in zip(observations, decisions, strict=True):
        assert decision.action in obs.actions
        assert sorted(decision.policy) == sorted(obs.actions)
        assert sum(decision.policy.values()) == pytest.approx(1.0, abs=1e-9)
        assert min(decision.policy.values()) >= 0
        assert decision.version == "v1"
        chosen.add(obs.text_of(decision.action))
    assert len(chosen) > 1  # it samples, it does not collapse onto one text
    agent.close()


def test_policy_from_scores_temperature_and_normalisation():
    ll, n = np.array([-1.0, -2.0, -4.0]), np.array([1, 2, 4])
    np.testing.assert_allclose(policy_from_scores(ll, n, 0.0), [1, 0, 0])
    p = policy_from_scores(ll, n, 1.0)
    np.testing.assert_allclose(p, np.exp(ll) / np.exp(ll).sum())
    np.testing.assert_allclose(policy_from_scores(ll, n, 1.0, "mean"), [1 / 3] * 3)
    hot = policy_from_scores(ll, n, 0.1)
    assert hot[0] > 0.9999
    assert policy_from_scores(np.array([-3.0, -3.0]), np.array([1, 1]), 0.0).tolist() == [1, 0]


def test_temperature_zero_is_deterministic_argmax(tiny_base):
    agent = make_agent(f"llm:{tiny_base},temperature=0", load_game("connect_four"))
    observations = random_observations("connect_four", 20, seed=2)
    a = agent.act_batch(observations, [np.random.default_rng(i) for i in range(20)])
    b = agent.act_batch(observations, [np.random.default_rng(99 + i) for i in range(20)])
    assert [d.action for d in a] == [d.action for d in b]
    for d in a:
        assert max(d.policy.values()) == 1.0 and d.policy[d.action] == 1.0
        assert d.version is None  # the bare base has no adapter version


def test_spec_options_parse_and_stay_backward_compatible(tiny_base, tmp_path):
    spec = parse_spec("llm:tiny@/a/v3,temperature=0.5,norm=mean")
    assert (spec.base, spec.adapter) == ("tiny", "/a/v3")
    assert spec.options == {"temperature": "0.5", "norm": "mean"}
    plain = parse_spec("llm:org/model@champion")
    assert (plain.base, plain.adapter, plain.options) == ("org/model", "champion", {})
    with pytest.raises(InputError, match="key=value"):
        parse_spec("llm:tiny,temperature")
    assert LLMOptions.parse({"t": "0", "mode": "generate"}) == LLMOptions(
        temperature=0.0, mode="generate"
    )
    handle = load_game("tic_tac_toe")
    for bad, message in [
        (",temperature=-1", "temperature"),
        (",norm=max", "norm"),
        (",colour=red", "unknown LLM option 'colour'"),
        (",retries=x", "not a number"),
    ]:
        with pytest.raises(InputError, match=message):
            make_agent(f"llm:{tiny_base}{bad}", handle)
    with pytest.raises(InputError, match="needs mode=score"):
        make_agent(f"llm:{tiny_base},sym=1,mode=generate", handle)
    assert LLMOptions.parse({"symmetry": "1"}).sym is True
    with pytest.raises(InputError, match="registry"):  # no registry in this workspace
        make_agent(f"llm:{tiny_base}@v3", handle)
    with pytest.raises(InputError, match=f"looked for {tmp_path}/missing"):
        make_agent(f"llm:{tiny_base}@{tmp_path}/missing", handle)
    with pytest.raises(InputError, match="base model 'no-such-base' not found"):
        make_agent("llm:no-such-base", handle, workspace=tmp_path)


def test_match_records_carry_policy_and_adapter_version(tiny_base, tiny_adapters):
    a_spec = f"llm:{tiny_base}@{tiny_adapters[1]}"
    handle = load_game("kuhn_poker")
    agents = {a_spec: make_agent(a_spec, handle), "random": make_agent("random", handle)}
    jobs = [
        MatchJob(f"m{i}", "kuhn_poker", seats, Opening((), i), seed=i)
        for i, seats in enumerate([(a_spec, "random"), ("random", a_spec)] * 3)
    ]
    records = play_matches(jobs, agents)
    for job, record in zip(jobs, records, strict=True):
        assert record.termination == "normal"
        seat = job.seats.index(a_spec)
        assert record.seats[seat].version == "v2"
        for move in record.moves:
            if move.player == seat:
                assert move.version == "v2" and abs(sum(move.policy) - 1) < 1e-6


def test_decide_batch_across_agents_equals_each_agent_alone(tiny_base, tiny_adapters):
    handle = load_game("tic_tac_toe")
    agents = [make_agent(f"llm:{tiny_base}@{path}", handle) for path in tiny_adapters]
    agents.append(make_agent(f"llm:{tiny_base}", handle))
    observations = random_observations("tic_tac_toe", 9, seed=4)
    items = [(agents[i % 3], obs, np.random.default_rng(i)) for i, obs in enumerate(observations)]
    engine = agents[0].engine
    engine.stats.clear()
    together = decide_batch(items)
    assert engine.stats["chunks"] == 1  # three agents, one batch
    for i, (agent, obs, _) in enumerate(items):
        alone = agent.act(obs, np.random.default_rng(i))
        assert alone.action == together[i].action and alone.version == together[i].version
        for a in obs.actions:
            assert alone.policy[a] == pytest.approx(together[i].policy[a], abs=1e-4)


@pytest.mark.slow
def test_nf4_base_plays_legal_moves_with_an_adapter(tiny_base, tiny_adapters):
    """bitsandbytes 4-bit NormalFloat runs on CPU as well (pure-torch kernel)."""
    import bitsandbytes as bnb

    handle = load_game("leduc_poker")
    agent = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]},quantize=nf4", handle)
    full = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]}", handle)
    assert agent.engine is not full.engine
    q_proj = agent.engine.base.model.layers[0].self_attn.q_proj
    assert isinstance(getattr(q_proj, "base_layer", q_proj), bnb.nn.Linear4bit)
    observations = random_observations("leduc_poker", 30, seed=8)
    rngs = [np.random.default_rng(i) for i in range(30)]
    decisions = agent.act_batch(observations, rngs)
    reference = full.act_batch(observations, [np.random.default_rng(i) for i in range(30)])
    gap = 0.0
    for obs, d, r in zip(observations, decisions, reference, strict=True):
        assert d.action in obs.actions and d.version == "v1"
        gap = max(gap, max(abs(d.policy[a] - r.policy[a]) for a in obs.actions))
    assert 0 < gap < 0.5  # quantised, so close to but not the same as the full-precision policy


def test_fold_images_reads_each_image_at_the_image_of_the_move():
    """Pinned: a position with moves (0, 1) and one image that swaps them."""
    obs = random_observations("kuhn_poker", 1, seed=0)[0]  # any observation with 2 actions
    assert obs.actions == (0, 1)
    plan = [[((0, 1), (0, 1)), ((1, 0), (0, 1))]]
    results = [
        ScoreResult(np.array([-1.0, -3.0]), np.array([2, 2]), "v1", "a"),
        ScoreResult(np.array([-5.0, -2.0]), np.array([2, 2]), "v1", "a"),
    ]
    (folded,) = fold_images([obs], plan, results)
    np.testing.assert_allclose(folded.logliks, [(-1.0 - 2.0) / 2, (-3.0 - 5.0) / 2])
    assert folded.version == "v1"
    (alone,) = fold_images([obs], [plan[0][:1]], results[:1])
    assert alone is results[0]


def test_sym_policy_is_the_same_on_every_image_in_one_engine_call(
    tiny_base, tiny_adapters, monkeypatch
):
    """With sym=1 the policy of a position, read through a symmetry, is the policy of its
    image (the ensemble is invariant); without it the tiny model is not (so sym=1 acts)."""
    handle = load_game("tic_tac_toe")
    sym = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]},sym=1", handle)
    plain = make_agent(f"llm:{tiny_base}@{tiny_adapters[0]}", handle)
    observations = random_observations("tic_tac_toe", 6, seed=5)
    pairs = [(perm, image) for obs in observations for perm, image in observation_images(obs)]
    rngs = [np.random.default_rng(i) for i in range(len(pairs))]
    calls, score = [], sym.engine.score
    monkeypatch.setattr(sym.engine, "score", lambda reqs: calls.append(len(reqs)) or score(reqs))
    sym_images = sym.act_batch([image for _, image in pairs], rngs)
    assert calls == [48 * 8]  # 48 positions x 8 images: one engine call
    monkeypatch.undo()
    plain_images = plain.act_batch([image for _, image in pairs], rngs)
    plain_moved = 0
    for i, obs in enumerate(observations):
        base_sym, base_plain = sym_images[8 * i], plain_images[8 * i]
        for k in range(1, 8):
            perm, _ = pairs[8 * i + k]
            for a in obs.actions:
                image_move = perm[a]
                assert sym_images[8 * i + k].policy[image_move] == pytest.approx(
                    base_sym.policy[a], abs=1e-5
                )
                plain_moved += (
                    abs(plain_images[8 * i + k].policy[image_move] - base_plain.policy[a]) > 1e-3
                )
    assert plain_moved > 0
