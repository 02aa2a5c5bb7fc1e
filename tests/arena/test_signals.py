"""Ending a Ray run from outside (issue 18, finding 15): SIGTERM ends it with one line and
leaves it resumable; after ``kill -9`` Ray's processes do not linger.

Finding 15: SIGTERM to a night printed about 40 lines of C++ stack trace (the handler
``ray.init`` installs); after ``kill -9`` the raylet's agents lingered for one to two minutes
(they waited on a GCS that was gone). A tournament is the cheapest Ray run of the CLI; a night
runs its Ray stages through the same ``connect``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _start(tmp_path: Path, run: str) -> tuple[subprocess.Popen, Path]:
    temp = Path(tempfile.mkdtemp(prefix="sg", dir="/tmp"))  # Ray's sockets: a short path
    env = {**os.environ, "RAY_TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "arena", "--workspace", str(tmp_path / "ws"), "tournament",
           "--game", "tic_tac_toe", "--players", "mcts:3000", "mcts:2000", "--pairs", "400",
           "--workers", "1", "--run-id", run]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    manifest = tmp_path / "ws" / "runs" / run / "manifest.json"
    deadline = time.monotonic() + 120
    while not (manifest.is_file() and json.loads(manifest.read_text())["status"] == "running"):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    time.sleep(1.0)  # playing now
    return proc, temp


def test_sigterm_ends_a_run_with_one_line_and_it_resumes(tmp_path, kill_processes_under):
    proc, temp = _start(tmp_path, "t1")
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        kill_processes_under(temp)
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert proc.returncode == 143, err[-3000:]
    assert lines[-1] == "arena: terminated (SIGTERM); run the same command to resume"
    assert "SIGTERM received" not in err and "PC: @" not in err and "Traceback" not in err
    manifest = json.loads((tmp_path / "ws/runs/t1/manifest.json").read_text())
    assert manifest["status"] == "interrupted"  # resumable: the same command continues it


def test_ray_processes_do_not_outlive_a_killed_driver(tmp_path, kill_processes_under):
    proc, temp = _start(tmp_path, "k1")
    try:
        ours = _descendants(proc.pid)
        assert len(ours) >= 3  # GCS, raylet, agents, the worker, the watchdog
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        alive = set(ours)
        while alive and time.monotonic() < deadline:
            alive = {p for p in alive if Path(f"/proc/{p}").exists() and _not_zombie(p)}
            time.sleep(0.2)
        assert not alive, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in alive}
    finally:
        kill_processes_under(temp)


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _descendants(root: int) -> set[int]:
    """Every live descendant of ``root`` (read from /proc here, not by the code under test)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack.extend(children.get(pid, []))
    return found
