"""Faults: a killed worker, a stopped or killed driver, torn and duplicated shard lines.

Every scheduled game must be recorded exactly once (no duplicates, no gaps), and equal to the
game an undisturbed run plays (seeds derive from the run seed and the match index).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agents import make_agent
from arena.execution.session import ExecOptions, RunSession
from arena.execution.shards import ShardStore
from arena.runs.tournament import TournamentConfig, run_tournament
from games import InputError, load_game
from games.match import play_matches
from games.records import match_files, read_matches
from games.schedule import MatchOptions
from games.workspace import Workspace


@pytest.fixture(scope="module")
def ray_local():
    from arena.execution.cluster import connect

    return connect(num_cpus=2)


def shard_records(folder: Path) -> list:
    return [r for path in match_files(folder) for r in read_matches(path)]


def reference(config: TournamentConfig, run_id: str) -> dict:
    """The run's games played in this process, without Ray: what every run must record."""
    handle = load_game(config.game)
    agents = {spec: make_agent(spec, handle) for spec in config.players}
    return {r.match_id: strip(r) for r in play_matches(config.jobs(run_id), agents)}


def strip(record) -> dict:
    data = record.to_dict()
    data.pop("timing")
    return data


def assert_exactly_once(folder: Path, config: TournamentConfig, run_id: str) -> None:
    records = shard_records(folder)
    ids = [r.match_id for r in records]
    assert len(ids) == len(set(ids)), "duplicate match ids"
    expected = reference(config, run_id)
    assert set(ids) == set(expected), "missing or foreign match ids"
    assert {r.match_id: strip(r) for r in records} == expected


def test_killed_worker_has_its_games_rescheduled_exactly_once(tmp_path, ray_local, monkeypatch):
    from arena.execution.driver import DriverConfig

    # Backups off: on a loaded machine the healthy worker could otherwise back up the dead
    # worker's tail chunk and finish the run before Ray reports the death (no replacement,
    # which is correct but not what this test is about; test_a_stalled_worker covers backups).
    monkeypatch.setattr(
        ExecOptions, "driver", lambda self: DriverConfig(self.batch, backup_after=0)
    )
    config = TournamentConfig(
        "tic_tac_toe", ("mcts:100", "random"), pairs=12, matches=MatchOptions(seed=3)
    )
    jobs = config.jobs("kill")
    ws = Workspace(tmp_path)
    killed = []

    def kill_a_worker(progress) -> None:
        if progress.played and not killed:
            slot = next(s for s in session.pool.slots if s.info)  # a worker that has started
            os.kill(slot.info["pid"], signal.SIGKILL)
            killed.append((slot.index, slot.info["pid"]))

    options = ExecOptions(workers=2, batch=2)
    with RunSession("tournament", "kill", {"test": 1}, ws, options) as session:
        session.open(jobs)
        stats = session.play(jobs, kill_a_worker)
        assert killed and session.pool.replacements == 1
        index, pid = killed[0]
        assert session.pool.slots[index].generation == 1
        session.finish({})
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()
    assert stats.rescheduled_chunks >= 1
    assert stats.played == len(jobs) == 24
    assert_exactly_once(ws.matches("kill"), config, "kill")


def test_a_stalled_worker_does_not_hold_the_run(tmp_path, ray_local):
    """SIGSTOP one worker mid-run (a hung node): the other plays backup copies of its chunks."""
    config = TournamentConfig(
        "tic_tac_toe", ("mcts:50", "random"), pairs=10, matches=MatchOptions(seed=8)
    )
    jobs = config.jobs("stall")
    ws = Workspace(tmp_path)
    stalled = []

    def stall_a_worker(progress) -> None:
        if progress.played and not stalled:
            slot = next(s for s in session.pool.slots if s.info)  # a worker that has started
            stalled.append(slot.index)
            os.kill(slot.info["pid"], signal.SIGSTOP)

    options = ExecOptions(workers=2, batch=2)
    with RunSession("tournament", "stall", {"test": 2}, ws, options) as session:
        session.open(jobs)
        try:
            stats = session.play(jobs, stall_a_worker)
        finally:
            for index in stalled:
                os.kill(session.pool.slots[index].info["pid"], signal.SIGCONT)
        session.finish({})
    assert stalled and stats.backup_chunks >= 1
    assert stats.played == len(jobs) == 20
    games = {w["slot"]: w["games"] for w in stats.workers}
    assert games[1 - stalled[0]] >= 10  # the healthy worker played the rest
    assert_exactly_once(ws.matches("stall"), config, "stall")


def test_stopped_driver_resumes_and_replays_a_torn_last_line(tmp_path, ray_local):
    config = TournamentConfig(
        "tic_tac_toe", ("mcts:20", "random"), pairs=10, matches=MatchOptions(seed=4)
    )
    ws = Workspace(tmp_path)
    options = ExecOptions(workers=2, batch=2)

    def stop(progress) -> None:
        if progress.played >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tournament(config, ws, options, run_id="stop", progress=stop)
    manifest = json.loads((ws.runs("stop") / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    (shard,) = match_files(ws.matches("stop"))
    lines = shard.read_text().splitlines()
    assert 6 <= len(lines) < 20
    # A crash in the middle of a write: half of the last record made it to disk.
    torn_id = json.loads(lines[-1])["match_id"]
    shard.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])

    result = run_tournament(config, ws, options, run_id="stop")
    assert result.stats.resumed == len(lines) - 1
    assert result.stats.played == 20 - (len(lines) - 1)
    bad = [json.loads(x) for x in shard.with_name(shard.name + ".bad").read_text().splitlines()]
    assert len(bad) == 1 and bad[0]["text"] == lines[-1][: len(lines[-1]) // 2]
    assert torn_id in {r.match_id for r in shard_records(ws.matches("stop"))}
    assert_exactly_once(ws.matches("stop"), config, "stop")
    manifest = json.loads((ws.runs("stop") / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["sessions"]) == 2
    assert manifest["sessions"][1]["quarantined"]["torn"] == 1
    entry = json.loads((ws.runs("stop") / "summary.json").read_text())["pairings"][0]
    assert sum(entry["pentanomial"]) == 10 and entry["games"] == 20


def test_a_second_driver_on_the_same_run_is_refused(tmp_path):
    config = TournamentConfig("tic_tac_toe", ("random", "solver"), pairs=1)
    ws = Workspace(tmp_path)
    first = RunSession("tournament", "busy", {"a": 1}, ws, ExecOptions())
    first._lock()
    try:
        with pytest.raises(InputError, match="another driver"):
            run_tournament(config, ws, ExecOptions(workers=1), run_id="busy")
    finally:
        first.close()
    assert not ws.matches("busy").exists()


def test_shard_store_quarantines_duplicates_and_rejects_foreign_records(tmp_path):
    config = TournamentConfig("tic_tac_toe", ("random", "solver"), pairs=2)
    jobs = config.jobs("q")
    records = reference(config, "q")
    folder = tmp_path / "q"
    folder.mkdir()
    lines = [json.dumps({**r, "timing": {}}) for r in records.values()]
    (folder / "shard-0000.jsonl").write_text("\n".join(lines[:3]) + "\n")
    (folder / "shard-0001.jsonl").write_text(lines[2] + "\n" + "{not json\n" + lines[3] + "\n")
    store = ShardStore(folder)
    report = store.load({job.match_id: job for job in jobs})
    assert (report.records, report.duplicates, report.invalid, report.torn) == (4, 1, 1, 0)
    assert sorted(r.match_id for r in store.records()) == sorted(records)
    reasons = [json.loads(x)["reason"] for x in (folder / "shard-0001.jsonl.bad").open()]
    assert len(reasons) == 2 and any("duplicate" in r for r in reasons)
    assert store.load({job.match_id: job for job in jobs}).quarantined == 0  # now clean
    assert store.write({"match_id": jobs[0].match_id}) is False  # already recorded

    other = TournamentConfig(
        "tic_tac_toe", ("random", "solver"), pairs=2, matches=MatchOptions(seed=9)
    ).jobs("q")
    with pytest.raises(InputError, match="another configuration"):
        ShardStore(folder).load({job.match_id: job for job in other})
    with pytest.raises(InputError, match="not part of this run"):
        ShardStore(folder).load({job.match_id: job for job in jobs[:2]})


@pytest.mark.slow
def test_killed_driver_process_resumes_from_its_shards(tmp_path, kill_processes_under):
    """SIGKILL the whole `arena tournament` process group mid-run, then run it again."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rk", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "arena", "--workspace", str(tmp_path), "tournament"]
    cmd += ["--game", "tic_tac_toe", "--players", "mcts:300", "random", "--pairs", "30"]
    cmd += ["--run-id", "crash", "--workers", "2", "--batch", "2", "--seed", "7"]
    folder = tmp_path / "matches" / "crash"
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            shard = folder / "shard-0000.jsonl"
            if shard.exists() and shard.read_bytes().count(b"\n") >= 8:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_leftovers(proc, ray_tmp, kill_processes_under)
    before = sum(1 for _ in match_files(folder) for _ in open(_))
    assert 8 <= before < 60

    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    finally:
        _kill_leftovers(None, ray_tmp, kill_processes_under)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "already recorded" in done.stdout
    config = TournamentConfig(
        "tic_tac_toe", ("mcts:300", "random"), pairs=30, matches=MatchOptions(seed=7)
    )
    records = shard_records(folder)
    ids = [r.match_id for r in records]
    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == {job.match_id for job in config.jobs("crash")}
    manifest = json.loads((tmp_path / "runs" / "crash" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["sessions"]) == 2
    assert manifest["sessions"][0]["finished_at"]  # written before the kill, while running


def _kill_leftovers(proc, ray_tmp: Path, kill_processes_under) -> None:
    """Kill what this test started: its process group and any Ray process under its temp dir."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    kill_processes_under(ray_tmp)
