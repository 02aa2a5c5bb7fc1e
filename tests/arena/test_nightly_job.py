"""A night submitted as a Ray job: `ray start --head` (with the dashboard, which serves the job
API) on 127.0.0.1, `ray job submit -- python -m arena nightly ...`, then the registry.

The head gets unique ports and its own temp dir; it is stopped by signalling its own process
group (never `ray stop`, which would kill every Ray process on the machine).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.registry.store import Registry, base_key

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


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
