"""A real multi-process Ray cluster on 127.0.0.1: a head (`ray start --head`) and a second node
(`ray start --address`), one CPU each, and `arena tournament --address` run through the CLI.

Both nodes get unique ports and their own temp dir, so they cannot collide with another Ray
instance on this machine. They are stopped by signalling their own process groups, not with
`ray stop`: that command kills every Ray process of the machine, other people's included.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from games.records import match_files, read_matches

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def free_ports(n: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def port_range(width: int = 40) -> tuple[int, int]:
    """A block of consecutive ports that are free right now (for Ray's worker processes)."""
    for base in range(24000 + (os.getpid() % 200) * 50, 60000, 500):
        try:
            held = []
            for port in range(base, base + width):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base, base + width - 1
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port range")


def node_args(manager: int) -> list[str]:
    objects, agent, agent_grpc, metrics, runtime_env = free_ports(5)
    low, high = port_range()
    return [
        "--block",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--num-gpus=0",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        f"--node-manager-port={manager}",
        f"--object-manager-port={objects}",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}",
        f"--min-worker-port={low}",
        f"--max-worker-port={high}",
    ]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ray start exited early (see ray.log in the test's tmp_path)"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


def wait_for_nodes(address: str, count: int, env: dict, timeout: float = 60) -> None:
    code = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='ERROR')\n"
        f"deadline = time.monotonic() + {timeout}\n"
        f"while sum(n['Alive'] for n in ray.nodes()) < {count}:\n"
        "    assert time.monotonic() < deadline, ray.nodes()\n"
        "    time.sleep(0.2)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def stop(procs: list[subprocess.Popen], temp: Path, kill_processes_under) -> None:
    """SIGTERM our process groups, SIGKILL what is left, then any process under our temp dir."""
    for proc in reversed(procs):  # the second node first, then the head
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    time.sleep(0.5)
    kill_processes_under(temp)


@pytest.fixture
def ray_cluster(tmp_path, kill_processes_under):
    temp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Unix socket paths
    # Token authentication, as Ray enables by default for new clusters: every process of the
    # test (both nodes and the arena driver) gets the token from the environment.
    env = {**os.environ, "RAY_TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"  # SIGTERM stops a node at once
    env.pop("RAY_ADDRESS", None)
    ray = str(Path(sys.executable).with_name("ray"))
    (head_port,) = free_ports(1)
    procs: list[subprocess.Popen] = []
    log = (tmp_path / "ray.log").open("w")
    try:
        head = [ray, "start", "--head", f"--port={head_port}", "--include-dashboard=false"]
        head += [f"--temp-dir={temp}"]
        head_manager, node_manager = free_ports(2)
        procs.append(
            subprocess.Popen(
                head + node_args(head_manager),
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        wait_for_port(head_port, procs[0])
        worker = [ray, "start", f"--address=127.0.0.1:{head_port}", *node_args(node_manager)]
        procs.append(
            subprocess.Popen(worker, env=env, stdout=log, stderr=log, start_new_session=True)
        )
        wait_for_port(node_manager, procs[1])
        wait_for_nodes(f"127.0.0.1:{head_port}", 2, env)
        yield f"127.0.0.1:{head_port}", env
    finally:
        stop(procs, temp, kill_processes_under)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


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
