"""A real multi-process Ray cluster on 127.0.0.1: a head (`ray start --head`) and a second node
(`ray start --address`), one CPU each, and `arena tournament --address` run through the CLI.

Both nodes get unique ports and their own temp dir, so they cannot collide with another Ray
instance on this machine. They are stopped by signalling their own process groups, not with
`ray stop`: that command kills every Ray process of the machine, other people's included.
"""

import json
import subprocess
import sys

import pytest

from games.records import match_files, read_matches

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_tournament_through_the_cli_on_a_two_node_cluster(tmp_path, ray_cluster):
    address, env = ray_cluster
    cmd = [sys.executable, "-m", "arena", "--workspace", str(tmp_path / "ws"), "tournament"]
    # Games long enough (~0.1 s each) that both workers start before the games run out.
    cmd += ["--address", address, "--game", "connect_four", "--players", "random", "mcts:3000"]
    cmd += ["--pairs", "16", "--workers", "2", "--batch", "2", "--run-id", "cl"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "32 games (0 already recorded, 32 played)" in result.stdout
    records = [r for p in match_files(tmp_path / "ws" / "matches" / "cl") for r in read_matches(p)]
    assert len({r.match_id for r in records}) == len(records) == 32
    manifest = json.loads((tmp_path / "ws" / "runs" / "cl" / "manifest.json").read_text())
    session = manifest["sessions"][0]
    assert session["cluster"].startswith("Ray cluster at ")
    assert session["cluster"].split(":")[1] == address.split(":")[1]  # the head's port
    # One CPU per node and one CPU per worker: the two workers ran on two different nodes.
    assert "2 node(s), 2 CPU(s)" in session["cluster"]
    workers = session["workers"]
    assert all(w["started"] and w["games"] > 0 for w in workers), workers
    assert len({w["node_id"] for w in workers}) == 2
    summary = json.loads((tmp_path / "ws" / "runs" / "cl" / "summary.json").read_text())
    assert sum(summary["pairings"][0]["pentanomial"]) == 16
