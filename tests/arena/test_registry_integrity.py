"""Version names are never reused, whatever happens to registry.sqlite (issue 18, findings 1
and 3).

Finding 1: an emptied registry was silently re-created and registered a new ``v1`` beside the
old one (whose folder became ``.orphan-v1-...``), and the leaderboard merged the two. Finding
3: the registry stored absolute adapter paths, so a copied workspace whose adapters were
deleted silently played the original workspace's weights.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from arena.cli import main
from arena.registry.store import Registry
from games import InputError
from games.workspace import Workspace

GAME, BASE = "tic_tac_toe", "tiny"


def staged(root: Path, name: str) -> Path:
    folder = root / "staging" / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    return folder


def forget(path: Path, how: str) -> None:
    """What finding 1 did to the file: emptied (``: > registry.sqlite``) or removed, with its
    WAL files."""
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    if how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


def test_an_emptied_or_lost_registry_is_refused_and_rebuilt(tmp_path, capsys, dump_registry):
    from arena.nightly.config import parse_config
    from arena.nightly.pipeline import NightResult
    from arena.nightly.report import write_report

    ws = Workspace(tmp_path / "ws")
    with Registry.open(ws.registry) as reg:
        reg.init_base(GAME, BASE, actor="nightly:n1", night="n1")
        reg.begin_night("n1", {})
        reg.register(GAME, BASE, staged(tmp_path, "a"), "v0", "n1-train", night="n1")
        reg.record_gate(GAME, BASE, "v1", "v0", "promote", "LLR above", {"llr": 3.1},
                        "nightly:n1", night="n1")  # fmt: skip
        reg.snapshot_ratings("n1", GAME, BASE, [
            {"player": "llm:tiny@v1", "version": "v1", "rank": 1, "rating": 1100.0,
             "ci_low": 1000.0, "ci_high": 1200.0, "games": 8, "score": 0.7},
        ])  # fmt: skip
        reg.finish_night("n1", "finished", "promoted")
        write_report(NightResult("n1", "promoted"), reg, ws, parse_config(""))
        # after the night: a second version, and a rollback by hand
        reg.register(GAME, BASE, staged(tmp_path, "b"), "v1", "manual-train")
        reg.rollback(GAME, BASE, reason="complaints", actor="cli:me")
        before = dump_registry(reg)
    assert [v["version"] for v in before["versions"]] == ["v0", "v1", "v2"]

    for how in ("empty", "missing"):
        forget(ws.registry, how)
        for readonly in (False, True):
            with pytest.raises(InputError, match="`arena registry rebuild`"):
                Registry.open(ws.registry, readonly=readonly)
        assert main(["--workspace", str(ws.root), "registry"]) == 2
        assert "would give their version names out again" in capsys.readouterr().err
        assert main(["--workspace", str(ws.root), "promote", "v1", "--reason", "x"]) == 2
        assert not ws.registry.exists() or ws.registry.stat().st_size == 0  # nothing created

    assert main(["--workspace", str(ws.root), "registry", "rebuild"]) == 0
    out = capsys.readouterr().out
    assert "champion of tic_tac_toe on tiny: v0" in out
    with Registry.open(ws.registry) as reg:
        assert dump_registry(reg) == before
        nxt = reg.register(GAME, BASE, staged(tmp_path, "c"), "v0", "later")
        assert nxt.version == "v3"  # never a second v1
    # a readable registry with versions is never rebuilt over
    assert main(["--workspace", str(ws.root), "registry", "rebuild"]) == 2
    assert "rebuild replaces only a missing, empty or damaged" in capsys.readouterr().err


def test_a_damaged_registry_is_moved_aside_by_rebuild(tmp_path, capsys):
    ws = Workspace(tmp_path / "ws")
    with Registry.open(ws.registry) as reg:
        reg.init_base(GAME, BASE, actor="test")
        reg.register(GAME, BASE, staged(tmp_path, "a"), "v0", "r1")
    ws.registry.write_bytes(b"SQLite format 3\x00" + b"\xee" * 4000)  # damaged
    assert main(["--workspace", str(ws.root), "registry"]) == 2
    assert "not a readable SQLite file" in capsys.readouterr().err
    assert main(["--workspace", str(ws.root), "registry", "rebuild"]) == 0
    assert list(ws.root.glob("registry.sqlite.damaged-*"))
    with Registry.open(ws.registry) as reg:
        assert [v.version for v in reg.versions(GAME, BASE)] == ["v1"]  # v0's init was lost
        assert reg.register(GAME, BASE, staged(tmp_path, "b"), "v1", "r2").version == "v2"


def test_paths_are_relative_and_a_copied_workspace_reads_only_its_own_files(tmp_path):
    ws = tmp_path / "ws"
    with Registry.open(ws / "registry.sqlite") as reg:
        reg.init_base(GAME, BASE, actor="test")
        reg.register(GAME, BASE, staged(tmp_path, "a"), "v0", "r1")
    stored = sqlite3.connect(ws / "registry.sqlite").execute("SELECT path FROM versions").fetchall()
    assert sorted(stored, key=str) == sorted([(None,), ("adapters/tic_tac_toe/tiny/v1",)], key=str)
    copy = Path(shutil.copytree(ws, tmp_path / "copy"))
    moved = copy.rename(tmp_path / "moved")
    shutil.rmtree(moved / "adapters")
    with Registry.open(moved / "registry.sqlite") as reg:
        v1 = reg.get(GAME, BASE, "v1")
        assert v1.path == str(moved / "adapters/tic_tac_toe/tiny/v1")  # never the original's
        with pytest.raises(InputError, match="adapter folder .* is missing"):
            reg.promote(GAME, BASE, "v1", reason="x", actor="test")


def test_a_schema_1_registry_with_absolute_paths_is_migrated(tmp_path):
    """A registry written before paths were relative, copied from another workspace: its
    absolute paths name the original's folders; reads and the migration map them here."""
    ws = tmp_path / "ws"
    with Registry.open(ws / "registry.sqlite") as reg:
        reg.init_base(GAME, BASE, actor="test")
        reg.register(GAME, BASE, staged(tmp_path, "a"), "v0", "r1")
    with sqlite3.connect(ws / "registry.sqlite") as conn:  # as schema 1 wrote it, elsewhere
        conn.execute("UPDATE versions SET path='/elsewhere/ws/adapters/tic_tac_toe/tiny/v1' "
                     "WHERE version='v1'")  # fmt: skip
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    mine = str(ws / "adapters/tic_tac_toe/tiny/v1")
    with Registry.open(ws / "registry.sqlite", readonly=True) as reader:  # no migration needed
        assert reader.get(GAME, BASE, "v1").path == mine
    with Registry.open(ws / "registry.sqlite") as reg:  # migrates to schema 2
        assert reg.get(GAME, BASE, "v1").path == mine
    with sqlite3.connect(ws / "registry.sqlite") as conn:
        row = conn.execute("SELECT path FROM versions WHERE version='v1'").fetchone()
        assert row == ("adapters/tic_tac_toe/tiny/v1",)


def test_a_folder_left_by_a_crash_keeps_its_number(tmp_path):
    """A process killed between the folder's rename and the registry's commit leaves
    ``v1/`` without a row: the next registration takes v2, never reusing the name."""
    ws = tmp_path / "ws"
    with Registry.open(ws / "registry.sqlite") as reg:
        reg.init_base(GAME, BASE, actor="test")
        (ws / "adapters/tic_tac_toe/tiny/v1").mkdir(parents=True)
        row = reg.register(GAME, BASE, staged(tmp_path, "a"), "v0", "r1")
        assert row.version == "v2" and (ws / "adapters/tic_tac_toe/tiny/v1").is_dir()
