"""A night submitted as a Ray job: `ray start --head` (with the dashboard, which serves the job
API) on 127.0.0.1, `ray job submit -- python -m arena nightly ...`, then the registry.

The job's night runs its plan and its self-play on the cluster, then stops at an injected
fault before its datasets (the rest of a night is test_nightly.py's real night, on an
embedded Ray): what is under test here is the job, its joining the cluster, the work done
through it, and the exit status it reports.

The head gets unique ports and its own temp dir; it is stopped by signalling its own process
group (never `ray stop`, which would kill every Ray process on the machine).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.nightly.stages import FAULT_ENV
from arena.registry.store import Registry, base_key
from games.records import match_files, read_matches

GAME = "tic_tac_toe"

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_a_night_through_ray_job_submit(tmp_path, tiny_base, ray_head, night_config):
    address, env = ray_head
    config = tmp_path / "nightly.toml"
    config.write_text(night_config(tiny_base))
    ws = tmp_path / "ws"
    fault = json.dumps({"env_vars": {FAULT_ENV: "datasets:before"}})
    cmd = [str(Path(sys.executable).with_name("ray")), "job", "submit", "--address", address]
    cmd += ["--runtime-env-json", fault]
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
    (tmp_path / "job.log").write_text(done.stdout + done.stderr)
    assert "=== night job-1:" in done.stdout, (done.stdout[-3000:], done.stderr[-3000:])
    assert re.search(r"Ray cluster at [0-9.]+:\d+: 1 node", done.stdout), "did not join the cluster"
    assert "artifacts: shared (auto: every node sees the workspace)" in done.stdout
    assert "injected fault before stage 'datasets'" in done.stdout + done.stderr
    with Registry.open(ws / "registry.sqlite", readonly=True) as reg:
        key = base_key(str(tiny_base))
        night = reg.night("job-1")
        assert night.status == "failed" and night.outcome == "failed"
        stages = {s.stage: s.status for s in reg.stages("job-1")}
        assert stages == {"plan": "done", "selfplay": "done", "datasets": "failed"}
        selfplay = reg.stage("job-1", GAME, "selfplay").result
        assert selfplay["played"] == selfplay["games"] > 0  # played on the cluster's workers
        assert [v.version for v in reg.versions(GAME, key)] == ["v0"]
    games = sum(len(list(read_matches(p))) for p in match_files(Path(selfplay["matches"])))
    assert games == selfplay["games"]
    # `ray job submit` exits 1 for any non-zero job status (the night's own status is 1 here)
    assert done.returncode == 1, done.stderr[-2000:]
