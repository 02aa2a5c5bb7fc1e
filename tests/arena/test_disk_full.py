"""A full disk (issue 18, findings 7 and 8 of the storage kind): one line naming the file, never
a torn record, a half-written adapter, or an error that hides the real one.

Finding 7, on a 30 MB tmpfs: ``arena match`` left a torn last line and printed two chained
ENOSPC tracebacks; ``arena promote`` printed a traceback ending in "cannot rollback - no
transaction is active" that hid "database or disk is full"; ``arena train sft`` left a
half-written adapter folder.

The disk is a real small tmpfs, mounted for the test (the machines that run this suite run it
as root); without the right to mount one the tests skip, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from games.workspace import Workspace


@contextlib.contextmanager
def small_disk(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()[:80]})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until at most ``leave`` bytes are free."""
    with (disk / "filler").open("ab") as handle:
        block = b"\0" * 4096
        try:
            while os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize > leave + len(block):
                handle.write(block)
                handle.flush()
        except OSError:
            pass


def _one_error_line(result, words: str) -> str:
    assert "Traceback" not in result.err, result.err[-3000:]
    assert result.code == 1, (result.code, result.err[-2000:])
    assert result.error.startswith("arena: error: ") and words in result.error, result.error
    return result.error


def test_match_on_a_full_disk_keeps_whole_lines(cli, tmp_path):
    with small_disk(tmp_path / "disk", "192k") as disk:
        out = disk / "m.jsonl"
        argv = ["--workspace", str(disk / "ws"), "match", "--game", "tic_tac_toe"]
        result = cli([*argv, "--agents", "random", "random", "--games", "400", "--out", str(out)])
        _one_error_line(result, f"cannot write {out}: No space left on device")
        text = out.read_text()
        assert text and text.endswith("\n")
        assert all(json.loads(line)["match_id"] for line in text.splitlines())  # none torn


def test_promote_on_a_full_disk_says_the_disk_is_full(cli, tmp_path):
    from arena.registry.store import Registry

    with small_disk(tmp_path / "disk", "256k") as disk:
        ws = Workspace(disk / "ws")
        with Registry.open(ws.registry) as reg:
            reg.init_base("tic_tac_toe", "tiny", actor="test")
            staged = disk / "staged"
            staged.mkdir()
            (staged / "manifest.json").write_text("{}")
            reg.register("tic_tac_toe", "tiny", staged, "v0", "r1")
        fill(disk, leave=36 * 1024)  # room for the WAL index, not for the WAL's new pages
        result = cli(["--workspace", str(ws.root), "promote", "v1", "--reason", "disk test"])
        line = _one_error_line(result, "database or disk is full")
        assert "the disk holding it is full" in line
        assert "cannot rollback" not in result.err and str(ws.registry) in line
        (disk / "filler").unlink()
        with Registry.open(ws.registry) as reg:  # unchanged, and usable again
            assert reg.champion("tic_tac_toe", "tiny").version == "v0"
            reg.promote("tic_tac_toe", "tiny", "v1", reason="space again", actor="test")


@pytest.mark.slow
def test_train_sft_on_a_full_disk_leaves_no_adapter_folder(cli, tmp_path, tiny_base):
    from games import completion_text, load_game, random_observations

    data = tmp_path / "sft.jsonl"
    rows = [
        {"prompt": o.prompt, "completion": completion_text(o.texts[0]), "game": "tic_tac_toe",
         "source": "test", "match_id": f"m{i}", "ply": 0, "seat": o.player}
        for i, o in enumerate(random_observations("tic_tac_toe", 8, seed=1))
    ]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    load_game("tic_tac_toe")
    with small_disk(tmp_path / "disk", "1m") as disk:
        fill(disk, leave=48 * 1024)  # the LoRA weights (~80 KB) do not fit
        out = disk / "adapter"
        result = cli(["train", "sft", "--data", str(data), "--base", str(tiny_base),
                      "--out", str(out), "--max-steps", "1", "--batch-size", "4",
                      "--lora-r", "4", "--threads", "1", "--no-quant"], seconds=300)  # fmt: skip
        _one_error_line(result, f"cannot write {out}")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no adapter, no leftovers
