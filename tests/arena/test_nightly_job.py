"""A night submitted as a Ray job: `ray start --head` (with the dashboard, which serves the job
API) on 127.0.0.1, `ray job submit -- python -m arena nightly ...`, then the registry.

The head gets unique ports and its own temp dir; it is stopped by signalling its own process
group (never `ray stop`, which would kill every Ray process on the machine).
"""

from __future__ import annotations

import os
import re
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

from arena.registry import Registry, base_key

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ray start exited early (see ray.log in tmp_path)"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture
def ray_head(tmp_path, kill_processes_under):
    temp = Path(tempfile.mkdtemp(prefix="rj", dir="/tmp"))  # short: Unix socket paths
    env = {**os.environ, "RAY_TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
    env.pop("RAY_ADDRESS", None)
    port, dashboard, manager, objects, agent, agent_grpc, metrics, runtime_env = free_ports(8)
    cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block"]
    cmd += [f"--port={port}", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}"]
    cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1"]
    cmd += [f"--dashboard-port={dashboard}", "--num-cpus=3", "--num-gpus=0"]
    cmd += ["--object-store-memory=100000000", "--disable-usage-stats"]
    cmd += [f"--node-manager-port={manager}", f"--object-manager-port={objects}"]
    cmd += [f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}"]
    cmd += [f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}"]
    log = (tmp_path / "ray.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for_port(dashboard, proc)
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        time.sleep(0.5)
        kill_processes_under(temp)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_night_through_ray_job_submit(tmp_path, tiny_base, ray_head, night_config):
    address, env = ray_head
    config = tmp_path / "nightly.toml"
    config.write_text(night_config(tiny_base))
    ws = tmp_path / "ws"
    cmd = [str(Path(sys.executable).with_name("ray")), "job", "submit", "--address", address]
    cmd += ["--", sys.executable, "-m", "arena", "--workspace", str(ws), "nightly"]
    cmd += ["--config", str(config), "--night", "job-1"]
    deadline = time.monotonic() + 120
    while True:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        # The dashboard port opens before the head's job agent has registered; until it has,
        # the submission is refused and no job exists, so submitting again is safe.
        if "No available agent to submit job" not in done.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    # `ray job submit` exits 1 for any non-zero job status, and a night without a promotion
    # exits 3: the registry and the job's log tell which it was.
    (tmp_path / "job.log").write_text(done.stdout + done.stderr)
    assert "=== night job-1:" in done.stdout, (done.stdout[-3000:], done.stderr[-3000:])
    assert re.search(r"Ray cluster at [0-9.]+:\d+: 1 node", done.stdout), "did not join the cluster"
    with Registry.open(ws / "registry.sqlite", readonly=True) as reg:
        key = base_key(str(tiny_base))
        night = reg.night("job-1")
        assert night.status == "finished" and night.outcome in ("promoted", "rejected")
        assert [v.version for v in reg.versions("tic_tac_toe", key)] == ["v0", "v1"]
        assert len(reg.gate_decisions(night="job-1")) == 1
        assert reg.latest_ratings("tic_tac_toe", key)
    expected = 0 if night.outcome == "promoted" else 1
    assert done.returncode == expected, done.stderr[-2000:]
