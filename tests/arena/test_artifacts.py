"""Artifacts by content (``--artifacts ship``): content keys, the node cache (streamed fetch,
verification, refetch of a damaged entry, concurrent fetches, LRU eviction), the training
task's output coming back as verified bytes, and a run whose records do not depend on the mode.

The two-node proof, with a worker node that cannot see the workspace, is in
``test_cluster_ship.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from arena.execution import cache as cache_module
from arena.execution.artifacts import ArtifactRef, choose_mode, describe
from arena.execution.cache import ArtifactCache
from arena.execution.cluster import ClusterInfo
from arena.execution.tasks import receive, remap


def folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_an_artifact_is_keyed_by_its_name_and_the_hashes_of_its_files(tmp_path):
    files = {"config.json": b"{}", "w/model.safetensors": os.urandom(3000)}
    a = describe(folder(tmp_path / "a" / "tiny", files))
    b = describe(folder(tmp_path / "b" / "tiny", {**files, ".lock": b"x"}))  # hidden: ignored
    assert a.key == b.key and a.origin != b.origin and a.kind == "folder"
    sha = hashlib.sha256(files["w/model.safetensors"]).hexdigest()
    assert [(f.path, f.size, f.sha256) for f in a.files][1] == ("w/model.safetensors", 3000, sha)
    renamed = describe(folder(tmp_path / "c" / "small", files))
    changed = describe(folder(tmp_path / "d" / "tiny", {**files, "config.json": b"{ }"}))
    assert len({a.key, renamed.key, changed.key}) == 3
    single = describe(folder(tmp_path / "e", {"sft.jsonl": b"{}\n"}) / "sft.jsonl")
    assert single.kind == "file" and [f.path for f in single.files] == ["sft.jsonl"]
    forged = ArtifactRef(a.key, a.name, a.kind, changed.files, a.origin)
    with pytest.raises(RuntimeError, match="listing does not match"):
        forged.check()


def test_auto_is_shared_on_one_machine_and_modes_are_checked():
    local = ClusterInfo("127.0.0.1:1", "embedded", 1, 2.0, 0.0)
    assert choose_mode("auto", "/ws", local).mode == "shared"
    assert choose_mode("ship", "/ws", local).to_dict() == {"mode": "ship", "reason": "configured"}
    from games import InputError

    with pytest.raises(InputError, match="--artifacts must be one of auto, shared, ship"):
        choose_mode("nfs", "/ws", local)


def test_results_come_back_only_when_every_hash_matches(tmp_path):
    out = tmp_path / "staging" / "sft"
    weights = os.urandom(2000)
    digest = hashlib.sha256(weights).hexdigest()
    manifest = {"outputs": [{"path": str(out / "adapter_model.safetensors"), "sha256": digest}]}
    text = json.dumps(manifest).encode()

    def sent(data=weights, recorded=text, rel="adapter_model.safetensors"):
        return [
            (rel, data, hashlib.sha256(weights).hexdigest()),
            ("manifest.json", recorded, hashlib.sha256(recorded).hexdigest()),
        ]

    with pytest.raises(RuntimeError, match="does not match its sha256"):
        receive(sent(data=weights[:-1] + b"\0"), out)
    other = json.dumps({"outputs": [{**manifest["outputs"][0], "sha256": "0" * 64}]}).encode()
    with pytest.raises(RuntimeError, match="the manifest records sha256 000000000000"):
        receive(sent(recorded=other), out)
    with pytest.raises(RuntimeError, match="outside its output folder"):
        receive(sent(rel="../escape"), out)
    assert not out.exists()
    folder(out, {"stale.txt": b"old"})
    receive(sent(), out)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_model.safetensors", "manifest.json"]
    assert (out / "adapter_model.safetensors").read_bytes() == weights
    assert sorted(p.name for p in out.parent.iterdir()) == ["sft"]  # no temporary folder left
    mapping = {"/node/cache/k/tiny": "/ws/base/tiny", "/node/tmp/sft": str(out)}
    assert remap({"base": {"path": "/node/cache/k/tiny"}, "in": ["/node/tmp/sft/x"]}, mapping) == {
        "base": {"path": "/ws/base/tiny"},
        "in": [f"{out}/x"],
    }


# ----------------------------------------------------------------------------- with Ray


@pytest.fixture(scope="module")
def ray_local():
    from arena.execution.cluster import connect

    return connect(num_cpus=2)


@pytest.mark.slow
def test_the_node_cache_streams_verifies_refetches_and_evicts(tmp_path, ray_local, monkeypatch):
    import ray

    from arena.execution.artifacts import Publisher

    publisher = Publisher.get()
    big = os.urandom(5500)
    source = folder(tmp_path / "src" / "base", {"model.safetensors": big, "config.json": b"{}"})
    ref = publisher.publish(source)
    monkeypatch.setattr(cache_module, "CHUNK_BYTES", 1000)  # 6 byte ranges, 4 in flight
    root = tmp_path / "node"
    first = ArtifactCache(root, 10**9)
    path = first.fetch(ref, publisher.server)
    assert (path / "model.safetensors").read_bytes() == big and path.name == "base"
    assert (first.stats.fetched, first.stats.fetched_bytes) == (1, 5502)

    again = ArtifactCache(root, 10**9)  # another process of the node: verified, not fetched
    assert again.fetch(ref, publisher.server) == path and again.stats.fetched == 0
    damaged = bytearray(big)
    damaged[4000] ^= 0xFF  # same size, same mtime order: only the hash can tell
    (path / "model.safetensors").write_bytes(bytes(damaged))
    third = ArtifactCache(root, 10**9)
    assert third.fetch(ref, publisher.server) == path
    assert (third.stats.corrupt, third.stats.fetched) == (1, 1)
    assert (path / "model.safetensors").read_bytes() == big

    # Two processes of one node fetch a new object at once: one downloads, one waits and reuses.
    shared = publisher.publish(folder(tmp_path / "src" / "v1", {"w.bin": os.urandom(4000)}))

    def fetch_in_task(root: str, ref: ArtifactRef, server) -> dict:  # by value: a local
        from dataclasses import asdict

        from arena.execution.cache import ArtifactCache

        cache = ArtifactCache(root, 10**9)
        path = cache.fetch(ref, server)
        return {"path": str(path), **asdict(cache.stats)}

    task = ray.remote(num_cpus=0.5)(fetch_in_task)
    results = ray.get([task.remote(str(root), shared, publisher.server) for _ in range(2)])
    assert sorted(r["fetched"] for r in results) == [0, 1]
    assert {r["path"] for r in results} == {str(first.path(shared))}

    # Least recently used first; entries a process holds are never evicted.
    small = ArtifactCache(tmp_path / "small", 2500)
    refs = [
        publisher.publish(folder(tmp_path / "src" / f"a{i}", {"x": os.urandom(1000)}))
        for i in range(3)
    ]
    small.fetch(refs[0], publisher.server)
    small.fetch(refs[1], publisher.server)
    small.fetch(refs[2], publisher.server)  # 3000 bytes > 2500, but all three are held
    assert set(small.entries()) == {r.key for r in refs}
    small.release()
    small.fetch(refs[1], publisher.server)  # refs[0] is now the least recently used
    small.evict()
    assert set(small.entries()) == {refs[1].key, refs[2].key}
    assert small.stats.evicted == 1 and sum(small.entries().values()) <= 2500
    shutil.rmtree(tmp_path / "src")


@pytest.mark.slow
def test_a_run_in_ship_mode_plays_the_records_of_shared_mode(
    tmp_path, tiny_base, lora_factory, ray_local
):
    """Registry versions, a folder adapter and a search over the champion, resolved and
    published by the driver, built from the node's cache by the workers: the records (specs,
    versions, moves, policies) are the same as in shared mode."""
    from arena.execution.session import ExecOptions
    from arena.registry.store import Registry, base_key
    from arena.runs.tournament import TournamentConfig, run_tournament
    from games.records import match_files, read_matches
    from games.schedule import MatchOptions
    from games.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    game, key = "tic_tac_toe", base_key(str(tiny_base))
    with Registry.open(ws.registry) as reg:
        reg.init_base(game, key, actor="test")
        staged = lora_factory(tiny_base, tmp_path / "staging" / "a", seed=1)
        reg.register(game, key, staged, parent="v0", run_id="r1")
    loose = lora_factory(tiny_base, tmp_path / "loose", seed=2)
    search = f"search:llm:{tiny_base}@champion,sims=4"  # a search over the champion's policy
    players = (f"llm:{tiny_base}@v1", f"llm:{tiny_base}@{loose}", search)
    config = TournamentConfig(game, players, pairs=1, matches=MatchOptions(seed=3))
    out = {}
    for mode in ("shared", "ship"):
        run_tournament(config, ws, ExecOptions(workers=1, artifacts=mode), run_id=mode)
        manifest = json.loads((ws.runs(mode) / "manifest.json").read_text())
        assert manifest["sessions"][-1]["artifacts"]["mode"] == mode
        records = [r.to_dict() for p in match_files(ws.matches(mode)) for r in read_matches(p)]
        for r in records:
            r.pop("timing"), r.pop("run_id")
            r["match_id"] = r["match_id"].removeprefix(mode)  # ids start with the run id
        out[mode] = sorted(records, key=lambda r: r["match_id"])
    assert len(out["ship"]) == 6 and out["ship"] == out["shared"]
    versions = {s["version"] for r in out["ship"] for s in r["seats"]}
    assert versions == {"v1", "loose", "v0"}
    cached = Path(os.environ["ARENA_ARTIFACT_CACHE"]) / "objects"
    names = {p.name for entry in cached.iterdir() for p in entry.iterdir() if p.name != ".used"}
    assert {tiny_base.name, "v1", "loose"} <= names
