"""What the server protects (issue 18, findings 9 and 11-13), through HTTP as a client sees it.

Finding 9: one client took every game slot (511 x 201, then 429 for everyone), any GET kept a
game alive, and 620 concurrent creates left 516 games open against a cap of 512. Finding 11: a
damaged registry.sqlite gave 500 until a restart. Finding 12: a deleted champion adapter made
``GET /api/opponents`` answer 400 (random, mcts, solver and the base vanished too) and logged an
ERROR on every poll. Finding 13: ``/docs`` loaded Swagger UI from a CDN, and ``/api/versions``
showed absolute paths, the git commit and the hardware to anyone.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from arena.serve.app import ServerConfig, create_app
from games.workspace import Workspace

BODY = {"game": "kuhn_poker", "opponent": "random"}


def _client(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000), raise_server_exceptions=False)


def test_one_client_cannot_take_every_slot(scripted_workspace):
    app = create_app(
        ServerConfig(
            scripted_workspace, poll_s=0, max_games=5, max_games_per_client=3, evict_idle_s=0.3
        )
    )
    with TestClient(app):
        a, b, c = (_client(app, f"10.0.0.{i}") for i in (1, 2, 3))
        mine = [a.post("/api/matches", json=BODY) for _ in range(3)]
        assert [r.status_code for r in mine] == [201] * 3
        greedy = a.post("/api/matches", json=BODY)
        assert greedy.status_code == 429 and "from your address (3)" in greedy.json()["error"]
        assert [b.post("/api/matches", json=BODY).status_code for _ in range(2)] == [201, 201]
        full = c.post("/api/matches", json=BODY)  # 5 in all, none idle long enough
        assert full.status_code == 429 and "too many games in progress (5)" in full.json()["error"]
        time.sleep(0.35)
        b.get(f"/api/matches/{mine[0].json()['id']}")  # a read does not make it less idle
        assert c.post("/api/matches", json=BODY).status_code == 201  # evicts the oldest idle
        assert a.get(f"/api/matches/{mine[0].json()['id']}").status_code == 404
        assert app.state.arena.store.clients() == {"10.0.0.1": 2, "10.0.0.2": 2, "10.0.0.3": 1}


def test_reads_do_not_keep_a_game_alive_but_moves_do(scripted_workspace):
    app = create_app(ServerConfig(scripted_workspace, poll_s=0, idle_timeout_s=0.6))
    with TestClient(app) as client:
        body = {"game": "tic_tac_toe", "opponent": "random"}
        read, played = (client.post("/api/matches", json=body).json() for _ in range(2))
        deadline = time.monotonic() + 0.8
        moved = False
        while time.monotonic() < deadline:
            assert client.get(f"/api/matches/{read['id']}").status_code == 200
            if not moved and time.monotonic() > deadline - 0.5:
                move = {"move": played["legal"][0]["text"]}
                assert client.post(f"/api/matches/{played['id']}/moves", json=move).is_success
                moved = True
            time.sleep(0.05)
        assert app.state.arena.store.expire() == 1
        assert client.get(f"/api/matches/{read['id']}").status_code == 404
        assert client.get(f"/api/matches/{played['id']}").status_code == 200


def test_a_damaged_registry_is_503_and_recovers_without_a_restart(scripted_workspace, caplog):
    app = create_app(ServerConfig(scripted_workspace, poll_s=0, leaderboard_ttl_s=0))
    path = scripted_workspace.registry
    good = path.read_bytes()
    with _client(app, "127.0.0.1") as client, caplog.at_level(logging.ERROR):
        assert client.get("/api/leaderboard/tic_tac_toe").status_code == 200
        for how in ("overwrite", "replace"):
            damaged = b"SQLite format 3\x00" + b"\xee" * (len(good) - 16)
            if how == "overwrite":  # the same file, its bytes damaged
                path.write_bytes(damaged)
            else:  # another file renamed over it
                (path.parent / "tmp").write_bytes(damaged)
                (path.parent / "tmp").replace(path)
            for url in ("/api/leaderboard/tic_tac_toe", "/leaderboard/tic_tac_toe"):
                for _ in range(3):
                    response = client.get(url)
                    assert response.status_code == 503, (how, url, response.text[:300])
            error = client.get("/api/leaderboard/tic_tac_toe").json()["error"]
            assert "registry cannot be read now" in error and str(path) not in error
            assert client.get("/api/health").status_code == 200  # the rest still answers
            assert client.post("/api/matches", json=BODY).status_code == 201
            path.write_bytes(good)  # restored, the server still running
            assert client.get("/api/leaderboard/tic_tac_toe").status_code == 200
            assert client.get("/leaderboard/tic_tac_toe").status_code == 200
    logged = [r for r in caplog.records if "registry unavailable" in r.getMessage()]
    assert 1 <= len(logged) <= 2  # once per distinct cause, not once per request


def test_the_docs_are_served_from_the_package_and_nothing_leaves(scripted_workspace):
    pytest.importorskip("fastapi_offline")
    app = create_app(ServerConfig(scripted_workspace, poll_s=0))
    with TestClient(app) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200
            urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html.text)
            assert urls and all(u.startswith("/") for u in urls), urls  # served here
            for url in urls:
                assert client.get(url).status_code == 200, url
            assert "cdn" not in html.text and "fonts.googleapis" not in html.text
        assert '"validatorUrl": null' in client.get("/docs").text  # no online schema check
        assert client.get("/openapi.json").status_code == 200


@pytest.fixture
def llm_server(tmp_path, tiny_base, tiny_adapters, server_kit):
    """A workspace with v0, v1 (the champion) and v2 on the tiny base; v1 carries a training
    manifest with paths, git and hardware, as training writes it."""
    from agents.llm.model_io import base_fingerprint
    from training.manifest import Manifest

    workspace = Workspace(tmp_path / "ws")
    key = server_kit.make_registry(workspace, tiny_base, tiny_adapters)
    v1 = workspace.root / "adapters/tic_tac_toe" / key / "v1"
    manifest = Manifest(kind="sft", run_id="r1", config={"data": str(tmp_path / "d/sft.jsonl"),
                                                         "base": str(tiny_base)})  # fmt: skip
    manifest.base = base_fingerprint(tiny_base)
    manifest.write(v1 / "manifest.json")
    config = ServerConfig(
        workspace, base=str(tiny_base), poll_s=0, games=("tic_tac_toe",), threads=1
    )
    return workspace, key, create_app(config)


def test_concurrent_creates_never_pass_the_cap(llm_server, tiny_base, server_kit):
    """600 concurrent creates against the LLM champion (its first move waits for the batcher,
    which left the old check-then-insert open: 64 games against a cap of 40)."""
    cap, creates = 40, 600
    workspace, _, _ = llm_server
    app = create_app(
        ServerConfig(
            workspace, base=str(tiny_base), poll_s=0, games=("tic_tac_toe",), threads=1,
            max_games=cap, max_games_per_client=creates, evict_idle_s=3600,
        )
    )  # fmt: skip
    body = {"game": "tic_tac_toe", "opponent": "champion", "seat": "second"}
    # one pooled connection per thread, kept: with httpx's default of 20 kept-alive connections
    # the pool closed sockets that another thread was reading (EBADF under a loaded machine)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with (
        server_kit.live_server(app) as url,
        httpx.Client(base_url=url, timeout=120, limits=limits) as http,
    ):

        def create(_):
            return http.post("/api/matches", json=body).status_code

        with ThreadPoolExecutor(64) as pool:
            codes = list(pool.map(create, range(creates)))
        assert codes.count(201) == cap and codes.count(429) == creates - cap, set(codes)
        assert http.get("/api/health").json()["games_in_progress"] == cap


def test_a_missing_adapter_folder_hides_only_that_version(llm_server, caplog):
    workspace, key, app = llm_server
    shutil.rmtree(workspace.root / "adapters/tic_tac_toe" / key / "v1")  # the champion's
    with _client(app, "127.0.0.1") as client, caplog.at_level(logging.ERROR):
        for _ in range(3):
            response = client.get("/api/opponents", params={"game": "tic_tac_toe"})
            assert response.status_code == 200, response.text
            app.state.arena.pool.refresh(["tic_tac_toe"])  # what the poller does
        names = [o["name"] for o in response.json()]
        assert names == ["random", "mcts", "solver", "base", "v0", "v2"]
        for name in ("champion", "v1"):
            body = {"game": "tic_tac_toe", "opponent": name}
            assert client.post("/api/matches", json=body).status_code == 404
        body = {"game": "tic_tac_toe", "opponent": "v2"}
        assert client.post("/api/matches", json=body).status_code == 201
    logged = [r for r in caplog.records if "v1 is not offered" in r.getMessage()]
    assert len(logged) == 1  # once, not on every poll


def test_responses_carry_no_paths_commits_or_hardware(llm_server, tmp_path):
    workspace, key, app = llm_server
    with _client(app, "127.0.0.1") as client:
        state = client.post("/api/matches", json={"game": "tic_tac_toe", "opponent": "v1"})
        bodies = [
            state.text,
            client.get(f"/api/matches/{state.json()['id']}").text,
            client.get("/api/versions/tic_tac_toe/v1").text,
            client.get("/versions/tic_tac_toe/v1").text,
            client.get("/api/leaderboard/tic_tac_toe").text,
            client.get("/leaderboard/tic_tac_toe").text,
            client.get("/api/opponents", params={"game": "tic_tac_toe"}).text,
            client.get("/api/health").text,
        ]
        shutil.rmtree(workspace.root / "adapters/tic_tac_toe" / key / "v2")
        bodies.append(client.post("/api/matches", json={"game": "tic_tac_toe",
                                                        "opponent": "v2"}).text)  # fmt: skip
        info = client.get("/api/versions/tic_tac_toe/v1").json()["bases"][0]
    assert info["folder"] == f"adapters/tic_tac_toe/{key}/v1" and info["manifest"]["run_id"]
    for body in bodies:
        assert str(tmp_path) not in body and "/tmp/" not in body, body[:500]
        for word in ('"git"', "commit", "hardware", "cpu_count", "ram_gib"):
            assert word not in body, (word, body[:300])
