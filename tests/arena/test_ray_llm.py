"""LLM players on Ray workers: one engine per base per worker, same records on 1 or 2 workers.

Uses the session's ``tiny`` base (``tests/conftest.py``); every worker loads it from disk.
"""

import json

import pytest
import ray

from arena.execution.session import ExecOptions, RunSession
from arena.runs.selfplay import SelfplayConfig, run_selfplay
from arena.runs.tournament import TournamentConfig, run_tournament
from games.records import match_files, read_matches
from games.schedule import MatchOptions
from games.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    from arena.execution.cluster import connect

    return connect(num_cpus=2)


def records(workspace: Workspace, run_id: str) -> list[dict]:
    out = [r.to_dict() for p in match_files(workspace.matches(run_id)) for r in read_matches(p)]
    for r in out:
        r.pop("timing")
    return sorted(out, key=lambda r: r["match_id"])


def test_llm_tournament_shares_one_engine_and_matches_across_worker_counts(
    tmp_path, tiny_base, ray_local
):
    greedy, sampled = f"llm:{tiny_base},temperature=0", f"llm:{tiny_base}"
    config = TournamentConfig(
        "tic_tac_toe", (greedy, sampled, "random"), pairs=2, matches=MatchOptions(seed=1)
    )
    jobs = config.jobs("llm")
    one = Workspace(tmp_path / "one")
    with RunSession("tournament", "llm", {"pairs": 2}, one, ExecOptions(workers=1)) as session:
        session.open(jobs)
        session.play(jobs)
        loaded = ray.get(session.pool.slots[0].handle.loaded.remote())
        session.finish({})
    # Two LLM specs on one base: both agents live in the worker, on a single engine.
    assert loaded == {"agents": sorted([greedy, sampled, "random"]), "engines": 1}

    two = Workspace(tmp_path / "two")
    result = run_tournament(config, two, ExecOptions(workers=2), run_id="llm")
    first, second = records(one, "llm"), records(two, "llm")
    assert len(first) == len(second) == 12
    assert first == second
    llm_moves = [
        m for r in first for m in r["moves"] if r["seats"][m["player"]]["spec"] != "random"
    ]
    assert llm_moves and all(m["policy"] is not None for m in llm_moves)
    assert all(len(p["pentanomial"]) == 5 for p in result.pairings)


def test_llm_selfplay_writes_temperature_into_the_specs(tmp_path, tiny_base, ray_local):
    config = SelfplayConfig(
        "tic_tac_toe", f"llm:{tiny_base}", league=(("self", 1), ("random", 1)), pairs=2
    )
    result = run_selfplay(config, Workspace(tmp_path), ExecOptions(workers=1), run_id="sp")
    specs = {seat["spec"] for r in records(Workspace(tmp_path), "sp") for seat in r["seats"]}
    assert specs == {f"llm:{tiny_base},temperature=1", "random"}
    summary = json.loads((tmp_path / "runs" / "sp" / "summary.json").read_text())
    assert [o["games"] for o in summary["opponents"]] == [2, 2]
    assert result.stats.played == 4
