"""Adapters at the door (issue 12): damaged folders, another base, another game.

An adapter is played through `arena match` as a user does. The issue's cases: an adapter
trained on one base was accepted by a different base rebuilt at the same path (the play-time
check trusted the path), and an adapter trained on one game played another game without a word.
The fuzz part damages an adapter folder the ways folders get damaged (missing, truncated or
garbage files, pickle weights, a manifest that is not UTF-8, not JSON or names another base)
and checks the property: the game plays, or one `arena: error:` line; never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

LONG = os.environ.get("ARENA_FUZZ") == "long"
# (integers, not floats, for fractions: once torch is loaded the CPU flushes subnormals to zero,
# which Hypothesis's float strategy refuses to run under)
pytestmark = pytest.mark.slow


def _manifest(adapter: Path, base: Path, game: str) -> None:
    """The manifest training writes beside an adapter: the base's content hash and the config
    (with its game); see training.manifest and training.sft."""
    from agents.llm.model_io import base_fingerprint
    from training.manifest import file_entry

    outputs = [
        file_entry(adapter / n) for n in ("adapter_model.safetensors", "adapter_config.json")
    ]
    (adapter / "manifest.json").write_text(
        json.dumps(
            {
                "kind": "sft",
                "base": base_fingerprint(base),
                "config": {"game": game},
                "outputs": outputs,
            }
        )  # fmt: skip
    )


@pytest.fixture(scope="module")
def setup(tiny_base, lora_factory, tmp_path_factory):
    """A private copy of the tiny base and an adapter on it, trained (per its manifest) on
    tic_tac_toe."""
    root = tmp_path_factory.mktemp("adapters")
    base = root / "base"
    shutil.copytree(tiny_base, base)
    adapter = lora_factory(base, root / "good", seed=3)
    _manifest(adapter, base, "tic_tac_toe")
    return base, adapter, root


def _play(cli, base, adapter, game="tic_tac_toe", options="", tmp=None):
    spec = f"llm:{base}@{adapter}{options}"
    argv = ["match", "--game", game, "--agents", spec, "random", "--games", "1"]
    if tmp is not None:
        argv += ["--out", str(tmp / "m.jsonl")]
    return cli(argv, seconds=120)


def test_good_adapter_plays(cli, setup, tmp_path):
    base, adapter, _ = setup
    result = _play(cli, base, adapter, tmp=tmp_path)
    assert result.code == 0, result.err


def test_adapter_game_is_checked_with_an_explicit_transfer(cli, setup, tmp_path):
    base, adapter, _ = setup
    refused = _play(cli, base, adapter, game="connect_four", tmp=tmp_path)
    refused.assert_clean()
    assert refused.code == 2 and "trained on tic_tac_toe, not connect_four" in refused.error
    assert "transfer=1" in refused.error
    allowed = _play(cli, base, adapter, game="connect_four", options=",transfer=1", tmp=tmp_path)
    assert allowed.code == 0, allowed.err
    records = (tmp_path / "m.jsonl").read_text()
    assert "transfer=1" in records  # the record says the transfer was deliberate


def test_base_rebuilt_at_the_same_path_is_refused(cli, setup, tmp_path):
    """Same folder, same config and recipe, other weights: the recorded content hash differs."""
    from safetensors.torch import load_file, save_file

    base, adapter, root = setup
    rebuilt = root / "rebuilt"
    shutil.copytree(base, rebuilt)
    moved = root / "adapter-on-rebuilt"
    shutil.copytree(adapter, moved)
    _manifest(moved, rebuilt, "tic_tac_toe")  # trained on "rebuilt" as it was then
    weights = rebuilt / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 0.01  # rebuilt: another model at the same path
    save_file(tensors, weights, metadata={"format": "pt"})
    recipe = json.loads((rebuilt / "arena_base.json").read_text())  # a rebuild records its files
    recipe["files"]["model.safetensors"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (rebuilt / "arena_base.json").write_text(json.dumps(recipe))
    result = _play(cli, rebuilt, moved, tmp=tmp_path)
    result.assert_clean()
    assert result.code == 2 and "was trained on base" in result.error, result.err


DAMAGES = [
    "no_config", "no_weights", "truncated_weights", "garbage_weights", "flipped_weights",
    "pickle", "empty_dir",
    "manifest_bytes", "manifest_not_json", "manifest_list", "manifest_bad_sha",
    "manifest_other_sha", "manifest_game_list", "config_not_lora", "config_bytes", "not_a_dir",
]  # fmt: skip


def _damage(adapter: Path, how: str, cut: float) -> Path:
    weights = adapter / "adapter_model.safetensors"
    manifest = adapter / "manifest.json"
    if how == "no_config":
        (adapter / "adapter_config.json").unlink()
    elif how == "no_weights":
        weights.unlink()
    elif how == "truncated_weights":
        data = weights.read_bytes()
        weights.write_bytes(data[: int(len(data) * cut)])
    elif how == "garbage_weights":
        weights.write_bytes(os.urandom(64))
    elif how == "flipped_weights":  # same size, header intact: only the recorded sha256 sees it
        data = bytearray(weights.read_bytes())
        data[-1 - int((len(data) // 2 - 1) * cut)] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif how == "pickle":
        (adapter / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")
    elif how == "empty_dir":
        for child in adapter.iterdir():
            child.unlink()
    elif how == "manifest_bytes":
        manifest.write_bytes(b'{"base": "\xff"}')
    elif how == "manifest_not_json":
        manifest.write_text(manifest.read_text()[: int(len(manifest.read_text()) * cut)])
    elif how == "manifest_list":
        manifest.write_text("[1, 2]")
    elif how == "manifest_bad_sha":
        manifest.write_text(json.dumps({"base": {"sha256": "not-a-hash"}}))
    elif how == "manifest_other_sha":
        manifest.write_text(json.dumps({"base": {"name": "x", "sha256": "0" * 64}}))
    elif how == "manifest_game_list":
        manifest.write_text(json.dumps({"config": {"game": ["tic_tac_toe"]}}))
    elif how == "config_not_lora":
        (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    elif how == "config_bytes":
        (adapter / "adapter_config.json").write_bytes(b"\xfe\xff{")
    elif how == "not_a_dir":
        shutil.rmtree(adapter)
        adapter.write_text("x")
    return adapter


@settings(max_examples=60 if LONG else 12)
@given(how=st.sampled_from(DAMAGES), cut=st.integers(0, 99).map(lambda p: p / 100))
def test_damaged_adapter_folders(cli, setup, tmp_path_factory, how, cut):
    base, adapter, _ = setup
    folder = tmp_path_factory.mktemp("damaged") / "adapter"
    shutil.copytree(adapter, folder)
    damaged = _damage(folder, how, cut)
    result = _play(cli, base, damaged, tmp=folder.parent)
    result.assert_clean()
    if how not in ("manifest_game_list",):  # a malformed game entry is ignored, not fatal
        assert result.code == 2, (how, result.err)
