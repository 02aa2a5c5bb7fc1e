"""The search agent: specs and refusals, determinism, lockstep batching, visit counts, and
that search over an LLM prior beats the prior's own argmax play."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import is_deterministic, make_agent, parse_spec, with_temperature
from agents.llm import clear_engines
from agents.search import SearchOptions, search_many
from agents.solver import AlphaBetaSolver
from games import InputError, load_game, random_observations
from games.match import play_matches
from games.schedule import pair_jobs, summarize
from ratings import pairing_estimate


@pytest.fixture(autouse=True, scope="module")
def fresh_engines():
    """Fresh engines, on one torch thread: a search makes many small forward passes, which
    two threads on two busy cores ran 30x slower (measured: 83 s instead of 2.9 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_engines()
    yield
    clear_engines()
    torch.set_num_threads(threads)


def test_spec_parses_options_into_the_identity_and_the_inner_llm():
    spec = parse_spec(" search:llm:tiny@v3,sims=32,c_puct=1.5,norm=mean,t=1 ")
    assert (
        spec.kind == "search" and spec.raw == "search:llm:tiny@v3,sims=32,c_puct=1.5,norm=mean,t=1"
    )
    assert spec.options == {"sims": "32", "c_puct": "1.5", "norm": "mean", "t": "1"}
    inner = spec.inner
    assert (inner.kind, inner.base, inner.adapter) == ("llm", "tiny", "v3")
    assert inner.options == {"norm": "mean", "temperature": "1"}  # the prior: T=1 by default
    assert parse_spec("search:llm:tiny,prior_temperature=0.5").inner.options["temperature"] == "0.5"
    assert parse_spec("search:llm:tiny,sym=1").inner.options == {"sym": "1", "temperature": "1"}
    assert parse_spec("llm:tiny").inner is None
    assert with_temperature("search:llm:tiny,sims=8", 0.0) == "search:llm:tiny,sims=8"
    assert not is_deterministic("search:llm:tiny")  # random rollouts
    assert is_deterministic("search:llm:tiny,rollouts=0")
    assert not is_deterministic("search:llm:tiny,rollouts=0,temperature=1")


@pytest.mark.parametrize(
    "spec,message",
    [
        ("search:llm:tiny,sims=0", "sims=0: an integer between 1 and"),
        ("search:llm:tiny,sims=-3", "expected a whole number"),
        ("search:llm:tiny,sims=2.5", "expected a whole number"),
        ("search:llm:tiny,sims=999999999", "ARENA_MAX_MCTS_SIMULATIONS"),
        ("search:llm:tiny,depth=3", "unknown search option 'depth'"),
        ("search:llm:tiny,sims=8,sims=9", "given twice"),
        ("search:llm:tiny,sims", "key=value"),
        ("search:llm:tiny,c_puct=0", "c_puct must be a finite number > 0"),
        ("search:llm:tiny,c_puct=nan", "c_puct must be a finite number"),
        ("search:llm:tiny,dirichlet=1.5", "dirichlet must be a finite number"),
        ("search:llm:tiny,temperature=0.0001", "0 \\(argmax\\) or at least"),
        ("search:llm:tiny,norm=max", "norm"),
        ("search:llm:tiny,mode=generate", "unknown search option 'mode'"),
        ("search:mcts:50", "expected search:llm:BASE"),
        ("search:", "expected search:llm:BASE"),
        ("search:llm:", "expected search:llm:BASE"),
        ("search:llm:tiny@,sims=4", "expected llm:BASE"),
    ],
)
def test_bad_specs_are_refused_with_one_line(spec, message):
    with pytest.raises(InputError, match=message):
        parse_spec(spec)


@settings(max_examples=200, deadline=None)
@given(
    target=st.one_of(st.sampled_from(["tiny", "tiny@v3", "a@b@c", "", "@"]), st.text(max_size=8)),
    key=st.sampled_from(["sims", "c_puct", "rollouts", "t", "dirichlet", "alpha", "norm", "x", ""]),
    value=st.one_of(
        st.sampled_from(["", "1e3", "0x10", "٣", "²", "1_000", "inf", "-0", "nan"]),
        st.integers(-(2**70), 2**70).map(str),
        st.floats(allow_subnormal=False).map(repr),
        st.text(max_size=6),
    ),
)
def test_fuzz_search_specs_parse_or_raise_one_input_error(target, key, value):
    try:
        spec = parse_spec(f"search:llm:{target},{key}={value}")
    except InputError as error:
        assert "\n" not in str(error)
    else:
        assert spec.inner.kind == "llm"


def test_games_with_hidden_information_are_refused_before_any_model_loads(tmp_path):
    for game in ("kuhn_poker", "leduc_poker"):
        with pytest.raises(InputError, match="search: needs a perfect-information game"):
            make_agent("search:llm:no-such-base", load_game(game), workspace=tmp_path)


def _decisions(agent, observations, seed=0, batched=True):
    rngs = [np.random.default_rng([seed, i]) for i in range(len(observations))]
    if batched:
        return agent.act_batch(observations, rngs)
    return [agent.act(obs, rng) for obs, rng in zip(observations, rngs, strict=True)]


def _same(a, b):
    assert [d.action for d in a] == [d.action for d in b]
    assert [d.policy for d in a] == [d.policy for d in b]  # visit counts: exactly equal
    for x, y in zip(a, b, strict=True):
        assert x.prior.keys() == y.prior.keys()
        assert np.allclose(list(x.prior.values()), list(y.prior.values()), atol=1e-5)


def test_deterministic_and_batched_equals_one_at_a_time(tiny_base, monkeypatch):
    handle = load_game("connect_four")
    agent = make_agent(f"search:llm:{tiny_base},sims=8,temperature=1", handle)
    observations = random_observations("connect_four", 4, seed=3)
    calls, score = [], agent.engine.score
    with monkeypatch.context() as patch:  # count the real engine's calls
        patch.setattr(agent.engine, "score", lambda r: calls.append(len(r)) or score(r))
        first = _decisions(agent, observations)
    assert calls[0] == 4 and len(calls) <= 9  # the roots, then at most one call per step
    assert max(calls[1:]) > 1  # leaves of several games in one call
    _same(first, _decisions(agent, observations))
    _same(first, _decisions(agent, observations, batched=False))
    other = _decisions(agent, observations, seed=1)
    assert [d.policy for d in other] != [d.policy for d in first]  # the generator matters


def test_visits_sum_to_sims_and_the_prior_is_the_llms_policy(tiny_base, tiny_adapters):
    handle = load_game("tic_tac_toe")
    llm = f"llm:{tiny_base}@{tiny_adapters[0]}"
    agent = make_agent(f"search:{llm},sims=20,dirichlet=0.25", handle)
    policy_agent = make_agent(llm, handle)
    observations = random_observations("tic_tac_toe", 8, seed=5)
    decisions = _decisions(agent, observations)
    reference = _decisions(policy_agent, observations)
    solver = AlphaBetaSolver(handle)
    for obs, d, ref in zip(observations, decisions, reference, strict=True):
        visits = {a: p * 20 for a, p in d.policy.items()}
        assert sorted(visits) == sorted(obs.actions)
        assert all(abs(v - round(v)) < 1e-9 for v in visits.values())
        assert round(sum(visits.values())) == 20
        assert d.action in obs.actions and d.version == "v1"
        if d.policy[d.action] != max(d.policy.values()):  # temperature 0: most visited, ...
            # ... unless the tree proved a win (OpenSpiel's sort_key): then it is one
            assert solver.action_values(obs.state)[d.action] == 1.0, (d.action, d.policy)
        for a in obs.actions:  # the recorded prior is the LLM's, before the root noise
            assert d.prior[a] == pytest.approx(ref.policy[a], abs=1e-5)


def test_the_tree_finds_a_win_in_one_with_a_uniform_prior():
    """Without any LLM: x to move with a1 a2 taken (and b1 b2 by o) wins at a3."""
    state = load_game("tic_tac_toe").game.new_initial_state()
    for action in (0, 4, 1, 5):  # x (0,0), o (1,1), x (0,1), o (1,2)
        state.apply_action(action)
    seen = []

    def uniform(states):
        seen.append(len(states))
        return [np.full(len(s.legal_actions()), 1 / len(s.legal_actions())) for s in states]

    options = SearchOptions(sims=40, rollouts=2)
    (result,) = search_many([state], [np.random.default_rng(0)], uniform, options)
    assert result.action == 2 and int(result.visits.sum()) == 40
    win = result.actions.index(2)
    assert result.values[win] == 1.0 and result.visits[win] == result.visits.max()
    assert state.history() == [0, 4, 1, 5]  # the root state is left as it was
    assert seen[0] == 1 and max(seen) == 1 and len(seen) <= 41


@pytest.mark.parametrize("rollouts", [0, 1])
def test_the_tree_blocks_a_threat_it_cannot_outrun(rollouts):
    """x on cells 0 and 1, o on 4 and 2, x to move: every move but 6 loses to o's diagonal
    2-4-6; with rollouts=0 only the tree's terminal outcomes and their backup say so."""
    state = load_game("tic_tac_toe").game.new_initial_state()
    for action in (0, 4, 1, 2):
        state.apply_action(action)

    def uniform(states):
        return [np.full(len(s.legal_actions()), 1 / len(s.legal_actions())) for s in states]

    options = SearchOptions(sims=60, rollouts=rollouts)
    (result,) = search_many([state], [np.random.default_rng(1)], uniform, options)
    assert result.action == 6
    assert all(v < 0 for a, v in zip(result.actions, result.values, strict=True) if a != 6)


def test_search_beats_its_own_prior_played_argmax(tiny_base):
    """The improvement operator: PUCT over the tiny base's policy against that policy at
    temperature 0, 10 seat-swapped pairs of tic_tac_toe (about 3 s)."""
    handle = load_game("tic_tac_toe")
    search, policy = f"search:llm:{tiny_base},sims=16", f"llm:{tiny_base},temperature=0"
    agents = {search: make_agent(search, handle), policy: make_agent(policy, handle)}
    records = play_matches(pair_jobs("tic_tac_toe", search, policy, range(10), 7), agents)
    summary = summarize(records, search, policy)
    estimate = pairing_estimate(summary.pentanomial, summary.wins, summary.draws, summary.losses)
    assert sum(summary.pentanomial) == 10
    assert estimate.score_ci[0] > 0.5, summary.to_dict()
    moves = [m for r in records for m in r.moves if r.seats[m.player].spec == search]
    assert all(m.prior is not None and m.policy is not None for m in moves)
