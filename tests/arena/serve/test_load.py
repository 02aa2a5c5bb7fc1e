"""Load: 64 concurrent web games against LLM agents with a champion swap in the middle.

A real uvicorn server on loopback; the swap is a real registry promotion that the server's
poller picks up. Bounded: 64 tic_tac_toe games on the tiny base, a time limit per request.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from arena.serve.app import ServerConfig, create_app
from games.records import read_matches
from games.workspace import Workspace

GAMES = 64
TIMEOUT = httpx.Timeout(120.0)  # per request
PHASE_S = 300  # per phase (start half, start half, play all out): a hang fails, not stalls


@pytest.mark.slow
def test_64_concurrent_games_with_a_champion_swap(tmp_path, tiny_base, tiny_adapters, server_kit):
    workspace = Workspace(tmp_path / "ws")
    key = server_kit.make_registry(workspace, tiny_base, tiny_adapters)
    app = create_app(
        ServerConfig(
            workspace,
            base=str(tiny_base),
            poll_s=0.2,
            threads=1,
            games=("tic_tac_toe",),
            max_games_per_client=GAMES,  # every client here is 127.0.0.1
        )  # fmt: skip
    )
    failures: list[str] = []

    def call(client, method, url, **kwargs):
        response = client.request(method, url, **kwargs)
        if response.status_code >= 300:
            failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return response.json()

    def start(url):
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            body = {"game": "tic_tac_toe", "opponent": "champion", "seat": "second"}
            return call(client, "POST", "/api/matches", json=body)

    def finish(url, state):
        versions = [m["version"] for m in state["agent_moves"]]
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            while not state["done"]:
                move = {"move": state["legal"][-1]["text"]}
                state = call(client, "POST", f"/api/matches/{state['id']}/moves", json=move)
                versions += [m["version"] for m in state["agent_moves"]]
        return state, versions

    with server_kit.live_server(app) as url, ThreadPoolExecutor(GAMES) as pool:
        first = list(pool.map(start, [url] * (GAMES // 2), timeout=PHASE_S))
        server_kit.promote(workspace, "tic_tac_toe", key, "v2")
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/health").json()["champions"]["tic_tac_toe"] != "v2":
            assert time.monotonic() < deadline, "the server did not follow the promotion"
            time.sleep(0.1)
        second = list(pool.map(start, [url] * (GAMES // 2), timeout=PHASE_S))
        results = list(pool.map(lambda s: finish(url, s), first + second, timeout=PHASE_S))
        health = httpx.get(f"{url}/api/health").json()
    assert failures == []
    for index, (state, versions) in enumerate(results):
        started = "v1" if index < GAMES // 2 else "v2"
        assert state["done"] and state["opponent_version"] == started
        assert versions and set(versions) == {started}, (index, versions)
    assert health["champion_swaps"] == 1 and health["saved_games"] == GAMES
    batcher = app.state.arena.batcher
    assert batcher.decisions > batcher.batches  # moves of concurrent games shared forwards
    (path,) = (workspace.root / "matches" / "human").glob("web-*.jsonl")
    records = list(read_matches(path))
    assert len(records) == GAMES
    by_id = {r.match_id: r for r in records}
    for index, (state, _) in enumerate(results):
        record = by_id[f"web-{state['id']}"]
        seat = record.seats[0]
        assert seat.spec == f"llm:{key}@champion"
        assert seat.version == ("v1" if index < GAMES // 2 else "v2")
        assert {m.version for m in record.moves if m.player == 0} == {seat.version}
