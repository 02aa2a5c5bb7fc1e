"""Generate mode: the last marker wins, re-prompts are bounded, forfeits are recorded."""

from __future__ import annotations

import numpy as np
import pytest

from agents import make_agent
from agents.llm import clear_engines, extract_answer
from agents.llm.generate import render_prompt
from games import Opening, load_game, observe
from games.match import MatchJob, play_match

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(autouse=True, scope="module")
def fresh_engines():
    clear_engines()
    yield
    clear_engines()


@pytest.fixture(scope="module")
def chat_model(tiny_base, tmp_path_factory):
    """An untrained (randomly initialised) tiny Llama whose tokenizer has a chat template:
    its replies name no move, which exercises re-prompts and forfeits."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("chat") / "chat-tiny"
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    LlamaForCausalLM(AutoConfig.from_pretrained(tiny_base)).save_pretrained(folder)
    return folder


def _tic_tac_toe_obs():
    handle = load_game("tic_tac_toe")
    return observe(handle, handle.game.new_initial_state())


def test_the_last_answer_marker_wins():
    assert extract_answer("Move: a1 looks good.\nBut no.\nMove: b2\n", chat=True) == "b2"
    assert extract_answer("I think b3 is best.\nMove:  c1 ", chat=True) == "c1"
    assert extract_answer("Thinking...\nb2\n", chat=True) == "b2"  # no marker: last line
    assert extract_answer(" a3\nMove: c3", chat=False) == "c3"
    assert extract_answer(" a3\nsomething else", chat=False) == "a3"  # raw: first line
    assert extract_answer("", chat=True) == ""
    obs = _tic_tac_toe_obs()
    assert obs.parse(extract_answer("Move: A1.", chat=True)) == obs.actions[0]


def test_re_prompts_carry_the_feedback(tiny_base, chat_model):
    from transformers import AutoTokenizer

    obs = _tic_tac_toe_obs()
    history = [("Move: z9", "'z9' names no legal move. Legal moves: a1, a2.")]
    raw = render_prompt(AutoTokenizer.from_pretrained(tiny_base), obs, history)
    assert raw.endswith("\nMove:") and "Rejected: 'z9' names no legal move" in raw
    chat = render_prompt(AutoTokenizer.from_pretrained(chat_model), obs, history)
    assert chat.startswith("<|user|>\nGame: tic_tac_toe") and chat.endswith("<|assistant|>\n")
    assert chat.count("<|user|>") == 2 and "<|assistant|>\nMove: z9" in chat
    assert "final line of the form 'Move: <move>'" in chat


def test_re_prompts_are_bounded_then_the_agent_forfeits(chat_model):
    handle = load_game("tic_tac_toe")
    agent = make_agent(
        f"llm:{chat_model},mode=generate,retries=2,max_new_tokens=6,temperature=0", handle
    )
    engine = agent.engine
    engine.stats.clear()
    observations = [_tic_tac_toe_obs() for _ in range(3)]
    decisions = agent.act_batch(observations, [np.random.default_rng(i) for i in range(3)])
    assert engine.stats["generate_calls"] == 3  # first try + 2 re-prompts, batched
    for decision in decisions:
        assert decision.action is None and decision.policy is None
        assert decision.illegal + decision.unparseable == 3
        assert decision.text.count("\n---\n") == 2


def test_a_forfeit_is_recorded_in_the_match(chat_model):
    handle = load_game("tic_tac_toe")
    spec = f"llm:{chat_model},mode=generate,retries=1,max_new_tokens=4,temperature=0"
    agents = {spec: make_agent(spec, handle), "random": make_agent("random", handle)}
    record = play_match(MatchJob("g", "tic_tac_toe", (spec, "random"), Opening(), 1), agents)
    assert record.termination == "illegal_move"
    last = record.moves[-1]
    assert last.player == 0 and last.action is None and last.illegal + last.unparseable == 2
    assert record.returns == [-1.0, 1.0]


def test_raw_base_generates_mostly_legal_moves(tiny_base):
    """The tiny base continues ``Move:`` with a legal move; failures are counted, not hidden."""
    handle = load_game("connect_four")
    agent = make_agent(f"llm:{tiny_base},mode=generate,temperature=0,retries=1", handle)
    rng = np.random.default_rng(3)
    observations = []
    state = handle.game.new_initial_state()
    while len(observations) < 24:
        if state.is_terminal():
            state = handle.game.new_initial_state()
        obs = observe(handle, state)
        observations.append(obs)
        state.apply_action(obs.actions[rng.integers(len(obs.actions))])
    decisions = agent.act_batch(observations, [np.random.default_rng(i) for i in range(24)])
    played = [d for d in decisions if d.action is not None]
    assert len(played) >= 20
    for obs, d in zip(observations, decisions, strict=True):
        assert d.action is None or d.action in obs.actions
        assert d.text is not None and d.version is None
