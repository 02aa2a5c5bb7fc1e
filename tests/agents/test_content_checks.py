"""Content checks at load (issue 18, findings 2 and 8): bytes changed after a file was written
are refused before it plays or trains, with one line naming the file.

Finding 2: a champion whose safetensors bytes were changed after the header loaded and played
(its manifest records the file's sha256; nothing checked it). Finding 8: a truncated base
``model.safetensors``, or a base holding only ``pytorch_model.bin``, gave a traceback (the
latter even loaded the pickle).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

WEIGHTS = "adapter_model.safetensors"


@pytest.fixture(scope="module")
def kit(tiny_base, lora_factory, tmp_path_factory):
    """A private copy of the tiny base and an adapter whose manifest records its outputs, as
    training writes it."""
    from agents.llm.model_io import base_fingerprint
    from training.manifest import file_entry

    root = tmp_path_factory.mktemp("content")
    base = Path(shutil.copytree(tiny_base, root / "base"))
    adapter = lora_factory(base, root / "adapter", seed=5)
    outputs = [file_entry(adapter / n) for n in (WEIGHTS, "adapter_config.json")]
    manifest = {"kind": "sft", "base": base_fingerprint(base), "outputs": outputs,
                "config": {"game": "tic_tac_toe"}}  # fmt: skip
    (adapter / "manifest.json").write_text(json.dumps(manifest))
    return base, adapter, root


def _match(cli, base: Path, adapter: Path | None, out: Path):
    spec = f"llm:{base}" + (f"@{adapter}" if adapter else "")
    argv = ["match", "--game", "tic_tac_toe", "--agents", spec, "random", "--games", "1"]
    return cli([*argv, "--out", str(out / "m.jsonl")], seconds=120)


def _flip_after_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # a weight byte: the header (and so safetensors' own checks) stay intact
    path.write_bytes(bytes(data))


def test_adapter_weights_changed_after_training_are_refused(cli, kit, tmp_path):
    base, adapter, _ = kit
    assert _match(cli, base, adapter, tmp_path).code == 0
    changed = Path(shutil.copytree(adapter, tmp_path / "changed"))
    _flip_after_header(changed / WEIGHTS)
    result = _match(cli, base, changed, tmp_path)
    result.assert_clean()
    assert result.code == 2 and f"{WEIGHTS} does not match the sha256" in result.error
    assert str(changed) in result.error  # names the folder and the file


def test_verdicts_are_cached_by_size_and_mtime(kit, tmp_path, monkeypatch):
    import hashlib
    import os

    from agents.llm import model_io

    base, adapter, _ = kit
    folder = Path(shutil.copytree(adapter, tmp_path / "cached"))
    recorded = {WEIGHTS: hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()}
    hashed = []
    real = hashlib.sha256
    monkeypatch.setattr(model_io.hashlib, "sha256", lambda *a: hashed.append(1) or real(*a))
    model_io.check_recorded(folder, recorded, "adapter")
    model_io.check_recorded(folder, recorded, "adapter")
    assert len(hashed) == 1  # the hot path does not rehash an unchanged file
    _flip_after_header(folder / WEIGHTS)
    stat = (folder / WEIGHTS).stat()
    os.utime(folder / WEIGHTS, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    with pytest.raises(model_io.InputError, match="does not match"):
        model_io.check_recorded(folder, recorded, "adapter")
    assert len(hashed) == 2


def test_a_built_base_records_its_files(tiny_base):
    from agents.llm.model_io import base_recorded_files, file_sha256

    files = base_recorded_files(tiny_base)
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    assert files["model.safetensors"] == file_sha256(tiny_base / "model.safetensors")


@pytest.mark.parametrize("damage", ["changed", "truncated", "truncated_unrecorded", "pickle_only"])
def test_a_damaged_base_is_one_line(cli, kit, tmp_path, damage):
    from agents.llm.model_io import check_base
    from games import InputError

    base = Path(shutil.copytree(kit[0], tmp_path / "base"))
    weights = base / "model.safetensors"
    if damage == "changed":
        _flip_after_header(weights)
    elif damage.startswith("truncated"):
        weights.write_bytes(weights.read_bytes()[:50_000])
        if damage == "truncated_unrecorded":  # a base from elsewhere: no recorded hashes
            (base / "arena_base.json").unlink()
    else:
        (base / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle
        weights.unlink()
    result = _match(cli, base, None, tmp_path)
    result.assert_clean()
    expected = {
        "changed": "model.safetensors does not match the sha256",
        "truncated": "model.safetensors does not match the sha256",
        "truncated_unrecorded": "cannot load base model",
        "pickle_only": "found pickle-based pytorch_model.bin, refused",
    }[damage]
    assert result.code == 2 and expected in result.error, result.err[-2000:]
    # training checks the same way before it loads
    from agents.llm.model_io import load_train_base
    from training.config import QuantOptions

    with pytest.raises(InputError, match=expected.split(" the")[0]):
        check_base(base)
        load_train_base(base, QuantOptions(enabled=False), "cpu", False)
