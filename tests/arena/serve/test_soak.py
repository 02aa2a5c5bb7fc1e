"""Soak: 200 concurrent web games from 8 client addresses against the LLM champion, with a
promotion and a rollback in the middle (issue 18). Bounded and on loopback only: a real
uvicorn server on 127.0.0.1, clients bound to 127.0.0.2-9 (all of 127/8 is loopback), the
tiny base, a time limit per phase.

Checks: nothing is lost (every game finishes and is saved once as a match record), no game
changes version (each keeps the champion it started against, through both swaps), and the
server's memory returns to its level (games dropped, leases and adapters released, resident
memory within a bound of where a warm-up left it).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from arena.serve.app import ServerConfig, create_app
from games.records import read_matches
from games.workspace import Workspace

pytestmark = pytest.mark.slow
CLIENTS, GAMES = 8, 200
PHASE_S = 120  # per phase: a hang fails, it does not stall the suite
RSS_SLACK_MB = 150


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def test_200_games_from_8_clients_through_a_promotion_and_a_rollback(
    tmp_path, tiny_base, tiny_adapters, server_kit
):
    workspace = Workspace(tmp_path / "ws")
    key = server_kit.make_registry(workspace, tiny_base, tiny_adapters)  # v1 is the champion
    config = ServerConfig(
        workspace, base=str(tiny_base), poll_s=0.2, threads=1, games=("tic_tac_toe",),
        max_games_per_client=GAMES // CLIENTS + 8,
    )  # fmt: skip
    app = create_app(config)
    clients: list[httpx.Client] = []
    failures: list[str] = []

    def call(client, method, url, **kwargs):
        response = client.request(method, url, **kwargs)
        if response.status_code >= 300:
            failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
        return response.json()

    def start(n: int) -> dict:
        body = {"game": "tic_tac_toe", "opponent": "champion", "seat": "second"}
        return call(clients[n % CLIENTS], "POST", "/api/matches", json=body)

    def finish(item) -> tuple[dict, list[str]]:
        n, state = item
        versions = [m["version"] for m in state["agent_moves"]]
        while not state["done"]:
            move = {"move": state["legal"][0]["text"]}
            state = call(clients[n % CLIENTS], "POST", f"/api/matches/{state['id']}/moves",
                         json=move)  # fmt: skip
            versions += [m["version"] for m in state["agent_moves"]]
        return state, versions

    def champion(url: str, version: str) -> None:
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/health").json()["champions"]["tic_tac_toe"] != version:
            assert time.monotonic() < deadline, f"the server did not follow to {version}"
            time.sleep(0.1)

    with server_kit.live_server(app) as url, ThreadPoolExecutor(32) as pool:
        for i in range(CLIENTS):  # eight addresses, all loopback
            transport = httpx.HTTPTransport(local_address=f"127.0.0.{2 + i}")
            clients.append(httpx.Client(base_url=url, timeout=60, transport=transport))
        warm = list(pool.map(start, range(16), timeout=PHASE_S))  # engine, adapters, caches
        list(pool.map(finish, enumerate(warm), timeout=PHASE_S))
        store = app.state.arena.store
        store.ttl_s = 0.0
        store.expire()
        store.ttl_s = config.idle_timeout_s
        level = _rss_mb()

        first = list(pool.map(start, range(GAMES // 2), timeout=PHASE_S))
        server_kit.promote(workspace, "tic_tac_toe", key, "v2")
        champion(url, "v2")
        second = list(pool.map(start, range(GAMES // 2, GAMES), timeout=PHASE_S))
        server_kit.rollback(workspace, "tic_tac_toe", key, to="v1")
        champion(url, "v1")
        games = list(enumerate(first + second))
        results = list(pool.map(finish, games, timeout=PHASE_S))
        health = httpx.get(f"{url}/api/health").json()
        assert sorted(store.clients().values()) == [GAMES // CLIENTS] * CLIENTS  # 8 addresses
        store.ttl_s = 0.0  # the games are over: drop them all, as the idle timeout would
        store.expire()
        pool_entries = dict(app.state.arena.pool._entries)
        loaded = {ref.version for ref in app.state.arena.pool._entries[("tic_tac_toe", "v1")]
                  .agent.engine.adapters.values()}  # fmt: skip
        after = _rss_mb()
        for client in clients:
            client.close()

    assert failures == []
    for n, (state, versions) in enumerate(results):
        started = "v1" if n < GAMES // 2 else "v2"
        assert state["done"] and state["opponent_version"] == started
        assert versions and set(versions) == {started}, (n, versions)  # never changed
    assert health["champion_swaps"] == 2 and health["saved_games"] == GAMES + 16
    (path,) = (workspace.root / "matches" / "human").glob("web-*.jsonl")
    records = [r for r in read_matches(path)]
    ids = [r.match_id for r in records]
    assert len(ids) == len(set(ids)) == GAMES + 16  # nothing lost, nothing saved twice
    assert {f"web-{state['id']}" for state, _ in results} <= set(ids)
    assert len(store) == 0 and list(pool_entries) == [("tic_tac_toe", "v1")]  # the champion
    assert loaded == {"v1"}  # v2's adapter was unloaded after its last game
    print(f"soak RSS: level {level:.0f} MiB, after {after:.0f} MiB")
    assert after - level < RSS_SLACK_MB, (level, after)
