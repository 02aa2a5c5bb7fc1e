"""The adapter registry: versions, champion changes as single transactions, rollbacks, schema
versions, read-only readers, and agents that resolve ``@v3`` / follow ``@champion``."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from arena.registry.schema import SCHEMA_VERSION
from arena.registry.store import Registry, base_key
from games import InputError, load_game, random_observations

GAME, BASE = "tic_tac_toe", "tiny"


def staged(tmp_path, name: str, text: str = "{}"):
    folder = tmp_path / "staging" / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(text)
    return folder


@pytest.fixture
def reg(tmp_path):
    with Registry.open(tmp_path / "ws" / "registry.sqlite") as registry:
        registry.init_base(GAME, BASE, actor="test")
        yield registry


def test_base_is_v0_champion_and_versions_are_never_reused(reg, tmp_path):
    assert reg.champion(GAME, BASE).version == "v0"
    assert reg.champion(GAME, BASE).path is None
    v1 = reg.register(GAME, BASE, staged(tmp_path, "a"), parent="v0", run_id="r1")
    assert (v1.version, v1.status, v1.parent) == ("v1", "candidate", "v0")
    assert (
        v1.path.endswith("adapters/tic_tac_toe/tiny/v1")
        and json.loads((tmp_path / "ws/adapters/tic_tac_toe/tiny/v1/manifest.json").read_text())
        == {}
    )
    # the same training run registers once (a resumed night)
    assert reg.register(GAME, BASE, tmp_path / "gone", parent="v0", run_id="r1") == v1
    reg.record_gate(GAME, BASE, "v1", "v0", "reject", "LLR below", {"llr": -3.0}, "test")
    v2 = reg.register(GAME, BASE, staged(tmp_path, "b"), parent="v0", run_id="r2")
    assert v2.version == "v2"  # v1 was rejected but its number is not reused
    assert [v.status for v in reg.versions(GAME, BASE)] == ["champion", "rejected", "candidate"]
    assert reg.init_base(GAME, BASE, actor="again").version == "v0"  # no-op
    assert len(reg.events(GAME, BASE)) == 2  # init + reject


def test_promotion_and_rollback_are_recorded_with_reasons(reg, tmp_path):
    reg.register(GAME, BASE, staged(tmp_path, "a"), parent="v0", run_id="r1")
    gate, event = reg.record_gate(
        GAME, BASE, "v1", "v0", "promote", "LLR above", {"score": 0.7}, "nightly:n1", night="n1"
    )
    assert (gate.decision, gate.report, event.kind, event.gate_id) == (
        "promote", {"score": 0.7}, "promote", gate.id,
    )  # fmt: skip
    # idempotent per (night, candidate): a resumed night gets the same rows back
    assert reg.record_gate(GAME, BASE, "v1", "v0", "promote", "x", {}, "n", night="n1") == (
        gate,
        event,
    )
    assert reg.champion(GAME, BASE).version == "v1"
    assert reg.get(GAME, BASE, "v0").status == "retired"
    back = reg.rollback(GAME, BASE, reason="dev-set accuracy fell", actor="cli:me")
    assert (back.from_version, back.to_version, back.reason) == (
        "v1",
        "v0",
        "dev-set accuracy fell",
    )
    assert reg.champion(GAME, BASE).version == "v0"
    assert reg.get(GAME, BASE, "v1").status == "rejected"
    with pytest.raises(InputError, match="no previous champion"):
        reg.rollback(GAME, BASE, reason="again", actor="cli")
    reg.promote(GAME, BASE, "v1", reason="by hand", actor="cli")
    assert reg.champion(GAME, BASE).version == "v1"
    with pytest.raises(InputError, match="already the champion"):
        reg.promote(GAME, BASE, "v1", reason="twice", actor="cli")
    with pytest.raises(InputError, match="known: v0, v1"):
        reg.get(GAME, BASE, "v9")


def test_a_gate_against_a_stale_champion_does_not_promote(reg, tmp_path):
    for run in ("r1", "r2"):
        reg.register(GAME, BASE, staged(tmp_path, run), parent="v0", run_id=run)
    reg.promote(GAME, BASE, "v1", reason="by hand", actor="cli")
    with pytest.raises(InputError, match="champion is now v1"):
        reg.record_gate(GAME, BASE, "v2", "v0", "promote", "LLR above", {}, "test")
    assert reg.champion(GAME, BASE).version == "v1"  # the transaction rolled back
    assert reg.gate_decisions() == []


def test_readers_are_read_only_and_newer_schemas_are_refused(reg, tmp_path):
    reg.snapshot_ratings("n1", GAME, BASE, [
        {"player": "llm:tiny@v0", "version": "v0", "rank": 1, "rating": 0.0, "ci_low": -50.0,
         "ci_high": 50.0, "games": 20, "score": 0.5},
    ])  # fmt: skip
    reader = Registry.open(reg.path, readonly=True)
    assert [r.player for r in reader.latest_ratings(GAME, BASE)] == ["llm:tiny@v0"]
    with pytest.raises(InputError, match="read-only"):
        reader.promote(GAME, BASE, "v0", reason="x", actor="x")
    reader.close()
    with sqlite3.connect(reg.path) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,))
    for readonly in (False, True):
        with pytest.raises(InputError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
            Registry.open(reg.path, readonly=readonly)
    with pytest.raises(InputError, match="no registry at"):
        Registry.open(tmp_path / "nowhere.sqlite", readonly=True)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(InputError, match="not a readable SQLite file"):
        Registry.open(garbage)


def test_base_key_is_the_folder_name():
    assert base_key("small") == base_key("/data/arena/base/small/") == "small"


@pytest.mark.slow
def test_agents_resolve_versions_and_follow_the_champion(tmp_path, tiny_base, lora_factory):
    """``llm:BASE@champion`` switches at its next decision after a promotion or a rollback,
    without being rebuilt; ``llm:BASE@v1`` stays on v1."""
    from arena.registry import resolve

    resolve.install()
    from agents import make_agent
    from games.workspace import Workspace

    ws = Workspace.resolve(tmp_path / "ws")
    base = base_key(str(tiny_base))
    reg = Registry.open(ws.registry)
    reg.init_base(GAME, base, actor="test")
    for seed in (1, 2):
        folder = lora_factory(tiny_base, tmp_path / f"stage{seed}", seed=seed)
        reg.register(GAME, base, folder, parent="v0", run_id=f"r{seed}")
    handle = load_game(GAME)
    follower = make_agent(f"llm:{tiny_base}@champion,temperature=0", handle, workspace=ws)
    fixed = make_agent(f"llm:{tiny_base}@v1,temperature=0", handle, workspace=ws)
    obs = random_observations(GAME, 4, seed=3)

    def versions(agent):
        rngs = [np.random.default_rng(i) for i in range(len(obs))]
        return {d.version for d in agent.act_batch(obs, rngs)}

    assert versions(follower) == {"v0"} and versions(fixed) == {"v1"}
    reg.promote(GAME, base, "v2", reason="test", actor="test")
    assert versions(follower) == {"v2"}
    reg.rollback(GAME, base, reason="regressed", actor="test")
    assert versions(follower) == {"v0"} and versions(fixed) == {"v1"}
    reg.promote(GAME, base, "v1", reason="test", actor="test")
    assert versions(follower) == {"v1"}
    with pytest.raises(InputError, match="no version 'v7'"):
        make_agent(f"llm:{tiny_base}@v7", handle, workspace=ws)
    follower.close()
    fixed.close()


def test_registry_promote_and_rollback_commands(tmp_path, capsys):
    from arena.cli import main

    ws = tmp_path / "ws"
    with Registry.open(ws / "registry.sqlite") as reg:
        reg.init_base(GAME, BASE, actor="test")
        reg.register(GAME, BASE, staged(tmp_path, "a"), parent="v0", run_id="r1")
    args = ["--workspace", str(ws)]
    assert main([*args, "promote", "v1", "--reason", "looks better"]) == 0
    assert "v0 -> v1 (promoted: looks better)" in capsys.readouterr().out
    assert main([*args, "rollback", "--reason", "complaints"]) == 0
    assert "v1 -> v0 (rolled back: complaints)" in capsys.readouterr().out
    assert main([*args, "registry", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    (entry,) = shown["registry"]
    assert shown["nights"] == []
    assert entry["champion"] == "v0"
    assert [e["kind"] for e in entry["events"]] == ["init", "promote", "rollback"]
    assert entry["events"][-1]["actor"].startswith("cli")
    assert main([*args, "registry"]) == 0
    table = capsys.readouterr().out
    assert "champion v0" in table and "complaints" in table and "rejected" in table
    assert main([*args, "promote", "v7", "--reason", "x"]) == 2
    assert "no version 'v7'" in capsys.readouterr().err
    assert main([*args, "rollback", "--reason", "x"]) == 2  # v1 was demoted: nothing to restore
    assert main(["--workspace", str(tmp_path / "empty"), "registry"]) == 2
    assert "no registry at" in capsys.readouterr().err
