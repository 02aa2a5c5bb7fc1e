"""Fixtures of the arena tests: the tiny nightly config, and real multi-process Ray on 127.0.0.1."""

from __future__ import annotations

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


def tiny_config(base: Path, **sections) -> str:
    """The smallest night that still runs every stage (the gate decides nothing in 4 pairs:
    the champion stays; the machinery, not the learning, is under test)."""
    text = f"""
[night]
base = "{base}"
build_preset = ""
workers = 1
[datasets]
games = 20
[selfplay]
pairs = 3
league = ["self=1", "previous=1", "random=1"]
[sft_train.train]
max_steps = 2
[prefs_data]
max_positions = 8
rollouts = 2
balance_seats = false   # a pair or two a night: one seat may have none (then none are kept)
[dpo_train.train]
max_steps = 2
[eval]
pairs = 1
opponents = ["random"]
limit = 16
[gate]
min_pairs = 2
max_pairs = 4
batch_pairs = 2
[tournament]
pairs = 1
recent = 2
scripted = ["random"]
"""
    for name, body in sections.items():
        text += f"[{name}]\n{body}\n"
    return text


@pytest.fixture(scope="session")
def night_config():
    """``night_config(base, **sections) -> str``: the tiny nightly TOML."""
    return tiny_config


def registry_dump(reg) -> dict:
    """Everything a person reads in a registry: versions, champions, history, gate decisions,
    rating snapshots and nights (what ``arena registry rebuild`` must give back)."""
    return {
        "versions": [v.to_dict() for v in reg.versions()],
        "champions": [(c.game, c.base, c.version, c.event_id) for c in reg.champions()],
        "events": [e.to_dict() for e in reg.events()],
        "gates": [g.to_dict() for g in reg.gate_decisions()],
        "ratings": [r.to_dict() for r in reg.ratings()],
        "nights": [
            (n.night, n.status, n.outcome, n.started_at, n.finished_at) for n in reg.nights()
        ],  # fmt: skip
    }


@pytest.fixture(scope="session")
def dump_registry():
    """``dump_registry(registry) -> dict`` (see ``registry_dump``)."""
    return registry_dump


# Real multi-process Ray on 127.0.0.1 (test_cluster.py, test_nightly_job.py): every process
# gets unique ports and its own temp dir, so it cannot collide with another Ray instance on
# this machine, and is stopped by signalling its own process group, never with `ray stop`
# (which kills every Ray process of the machine, other people's included).


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


def node_args(manager: int, cpus: int = 1) -> list[str]:
    objects, agent, agent_grpc, metrics, runtime_env = free_ports(5)
    low, high = port_range()
    return [
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={cpus}",
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
        wait_for_port(dashboard, proc, timeout=90)
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        stop([proc], temp, kill_processes_under)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


# A cluster whose worker node cannot see the driver's files (test_cluster_ship.py): the worker
# node's `ray start` runs in its own mount namespace with an empty tmpfs over one folder.


def mount_namespace_refusal(folder: Path) -> str | None:
    """None when this machine lets a process hide ``folder`` behind a tmpfs in a private mount
    namespace (root, or user namespaces allowed), else why not."""
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is not installed"
    probe = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
    probe += ['mount -t tmpfs tmpfs "$0" && test ! -e "$0/probe"', str(folder)]
    (folder / "probe").write_text("visible")
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    finally:
        (folder / "probe").unlink()
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"mount namespaces are refused here (`unshare --mount` + tmpfs: {reason})"
    return None


class BlindCluster:
    """A head that runs no work (0 CPUs; its dashboard serves `ray job submit`) and a worker
    node (2 CPUs, custom resource ``worker_node``) that cannot see ``hidden``.

    The head's health checks are fast (0.5 s, 4 misses), so a killed node is declared dead
    in a few seconds. ``kill_worker`` SIGKILLs the worker node's whole process group;
    ``start_worker`` starts a fresh one (a new node id).
    """

    def __init__(self, tmp_path: Path, hidden: Path, worker_env: dict):
        self.temp = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short: Unix sockets
        env = {**os.environ, "RAY_TMPDIR": str(self.temp), "RAY_USAGE_STATS_ENABLED": "0"}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
        env.update(RAY_health_check_period_ms="500", RAY_health_check_failure_threshold="4")
        env.pop("RAY_ADDRESS", None)
        self.env, self.hidden = env, hidden
        self.worker_env = {**env, **worker_env}
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.log = (tmp_path / "ray.log").open("w")
        self.head: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.dead: list[subprocess.Popen] = []
        self.port, self.dashboard = free_ports(2)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def job_address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def start_head(self) -> None:
        (manager,) = free_ports(1)
        cmd = [self.ray, "start", "--head", f"--port={self.port}", f"--temp-dir={self.temp}"]
        cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1"]
        cmd += [f"--dashboard-port={self.dashboard}", *node_args(manager, cpus=0)]
        self.head = subprocess.Popen(
            cmd, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        wait_for_port(self.dashboard, self.head, timeout=120)

    def start_worker(self) -> None:
        (manager,) = free_ports(1)
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
        cmd += ['mount -t tmpfs -o size=16m tmpfs "$0" && exec "$@"', str(self.hidden)]
        cmd += [self.ray, "start", f"--address={self.address}", *node_args(manager, cpus=2)]
        cmd += ['--resources={"worker_node": 1}']
        self.worker = subprocess.Popen(
            cmd, env=self.worker_env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        wait_for_port(manager, self.worker)
        wait_for_nodes(self.address, 2, self.env, timeout=120)

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=30)
        self.dead.append(self.worker)
        self.worker = None

    def stop(self, kill_processes_under) -> None:
        procs = [p for p in (self.head, self.worker) if p is not None]
        stop(procs, self.temp, kill_processes_under)
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture
def blind_cluster(tmp_path, kill_processes_under):
    """``blind_cluster(hidden, worker_env) -> BlindCluster``, started; stopped at the end.
    Skips, saying why, where mount namespaces are refused."""
    started: list[BlindCluster] = []

    def start(hidden: Path, worker_env: dict) -> BlindCluster:
        refusal = mount_namespace_refusal(hidden)
        if refusal:
            print(f"SKIPPED: {refusal}")
            pytest.skip(refusal)
        cluster = BlindCluster(tmp_path, hidden, worker_env)
        started.append(cluster)
        cluster.start_head()
        cluster.start_worker()
        return cluster

    yield start
    for cluster in started:
        cluster.stop(kill_processes_under)
