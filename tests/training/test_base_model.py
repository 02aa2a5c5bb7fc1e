"""The locally built base model: loads through the Auto classes, learns the format, is seeded."""

from __future__ import annotations

import json

import pytest

from games import (
    CURATED_GAMES,
    InputError,
    completion_text,
    random_observations,
)
from training.base_model import (
    MANIFEST,
    build_base,
    build_tokenizer,
    read_manifest,
    resolve_preset,
)


def test_tiny_base_loads_through_auto_classes(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    assert tokenizer.pad_token_id is not None and tokenizer.eos_token_id is not None
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.vocab_size == len(tokenizer)
    manifest = read_manifest(tiny_base)
    assert manifest["preset"] == "tiny" and manifest["seed"] == 0
    assert manifest["loss"]["final"] < manifest["loss"]["first"] / 5
    assert set(manifest["corpus"]["per_game"]) == set(CURATED_GAMES)


def test_tokenizer_keeps_the_prefix_property(tiny_base):
    """Scoring relies on encode(prompt) + encode(completion) == encode(prompt + completion)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    for game in CURATED_GAMES:
        for obs in random_observations(game, 20, seed=3):
            for text in obs.texts:
                completion = completion_text(text)
                joint = tokenizer(obs.prompt + completion)["input_ids"]
                split = tokenizer(obs.prompt)["input_ids"] + tokenizer(completion)["input_ids"]
                assert joint == split, (game, text)


def test_tokenizer_keeps_a_cell_and_its_move_in_one_token(tiny_base):
    """games/compact.py relies on it: a cell label such as " a1" is one token (GPT-2's
    pre-tokenizer split it into " a" + "1"), the same token as the move that names it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    for cell in ("a1", "a3", "b2", "c1", "c3"):
        assert len(tokenizer(" " + cell)["input_ids"]) == 1, cell
    prompt = tokenizer("tic_tac_toe x\n a1 o a3\nMove:")["input_ids"]
    assert tokenizer(" a1")["input_ids"][0] in prompt
    words = build_tokenizer(["x a1 a1 a1 y"] * 8, 300, "words").tokenize(" a1")
    assert words == ["Ġa1"]
    assert build_tokenizer(["x a1 a1 a1 y"] * 8, 300, "gpt2").tokenize(" a1") == ["Ġa", "1"]
    with pytest.raises(InputError, match="unknown pretokenizer"):
        build_tokenizer(["x"], 300, "bert")


def test_tiny_base_has_learned_the_format_and_rules(tiny_base):
    """Greedy generation after the prompt names a legal move most of the time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    legal = total = 0
    for game in CURATED_GAMES:
        observations = random_observations(game, 12, seed=11)
        batch = tokenizer([o.prompt for o in observations], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=6, do_sample=False)
        replies = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], True)
        for obs, reply in zip(observations, replies, strict=True):
            total += 1
            legal += isinstance(obs.parse(reply.split("\n")[0]), int)
    assert legal / total >= 0.75, f"{legal}/{total} legal"


def test_build_is_deterministic_for_a_seed(tmp_path):
    quick = {"steps": 4, "examples_per_game": 25, "batch_size": 4, "warmup": 2}
    a = build_base("tiny", tmp_path / "a", seed=7, progress=False, **quick)
    b = build_base("tiny", tmp_path / "b", seed=7, progress=False, **quick)
    c = build_base("tiny", tmp_path / "c", seed=8, progress=False, **quick)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    stats = json.loads((a / MANIFEST).read_text())
    assert stats["corpus"]["examples"] == 4 * 25
    assert not list(tmp_path.glob(".*building"))


def test_build_refuses_to_overwrite_and_unknown_presets(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text("{}")
    with pytest.raises(InputError, match="already exists"):
        build_base("tiny", tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="unknown base preset 'huge'"):
        resolve_preset("huge")
    with pytest.raises(InputError, match="unknown base preset field"):
        resolve_preset("tiny", layerz=3)
