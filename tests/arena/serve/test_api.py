"""Every endpoint of the JSON API and the pages, with the bad inputs a user or an attacker sends.

The app runs for real (FastAPI's TestClient drives its ASGI interface in-process, lifespan
included); agents, records, registry and plots are the real ones.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from arena.serve.app import ServerConfig, create_app
from games.records import read_matches
from games.workspace import Workspace


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def client(scripted_workspace):
    app = create_app(ServerConfig(scripted_workspace, poll_s=0))
    with TestClient(app) as c:
        yield c


def play_out(client, state, pick=lambda s: s["legal"][0]["text"]):
    while not state["done"]:
        response = client.post(f"/api/matches/{state['id']}/moves", json={"move": str(pick(state))})
        assert response.status_code == 200, response.text
        state = response.json()
    return state


def test_games_opponents_and_health(client):
    assert client.get("/api/games").json() == [
        "tic_tac_toe",
        "connect_four",
        "kuhn_poker",
        "leduc_poker",
    ]
    names = [o["name"] for o in client.get("/api/opponents", params={"game": "tic_tac_toe"}).json()]
    assert names == ["random", "mcts", "solver"]  # no LLM base in this workspace
    poker = [o["name"] for o in client.get("/api/opponents", params={"game": "kuhn_poker"}).json()]
    assert "mcts" not in poker  # it would read the opponent's card
    c4 = [o["name"] for o in client.get("/api/opponents", params={"game": "connect_four"}).json()]
    assert c4 == ["random", "mcts"]  # no solver: it cannot play a move within its budget
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["games_in_progress"] == 0


def test_full_game_is_saved_as_a_human_match_record(client, scripted_workspace):
    state = client.post(
        "/api/matches", json={"game": "tic_tac_toe", "opponent": "solver", "seat": "second"}
    ).json()
    assert state["agent_moves"] and state["your_turn"] and state["human_seat"] == 1
    policy = state["agent_moves"][0]["policy"]
    assert policy and abs(sum(p["probability"] for p in policy) - 1) < 1e-3
    cells = [c for row in state["board"]["rows"] for c in row]
    assert sum(c["mark"] == "x" for c in cells) == 1
    assert {c["action"] for c in cells if c["action"] is not None} == {
        m["action"] for m in state["legal"]
    }
    final = play_out(client, state)
    assert final["saved"] and final["outcome"] in ("loss", "draw")  # the solver never loses
    assert client.get(f"/api/matches/{final['id']}").json()["done"]
    (path,) = (scripted_workspace.root / "matches" / "human").glob("web-*.jsonl")
    (record,) = list(read_matches(path))
    assert [s.spec for s in record.seats] == ["solver", "human"]
    assert record.match_id == f"web-{final['id']}"
    assert [m.text for m in record.moves] == [h["text"] for h in final["history"]]


def test_kuhn_poker_hand_shows_only_own_card_until_the_end(client):
    state = client.post("/api/matches", json={"game": "kuhn_poker", "opponent": "random"}).json()
    assert state["board"]["kind"] == "cards" and state["board"]["opponent"] is None
    assert state["board"]["yours"] in ("Jack", "Queen", "King")
    final = play_out(client, state)
    assert final["board"]["opponent"] in ("Jack", "Queen", "King")
    assert final["reveal"] and final["returns"][0] == -final["returns"][1]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"game": "chess_but_not", "opponent": "random"}, 404, "unknown game"),
        ({"game": "tic_tac_toe", "opponent": "nobody"}, 404, "unknown opponent"),
        ({"game": "tic_tac_toe", "opponent": "v7"}, 404, "no LLM base"),
        ({"game": "kuhn_poker", "opponent": "mcts"}, 400, "cannot play kuhn_poker fairly"),
        # finding 10: the solver cannot finish a connect_four move; refused, never searched
        ({"game": "connect_four", "opponent": "solver", "seat": "second"}, 400, "use mcts"),
        ({"game": "tic_tac_toe", "opponent": "random", "seat": "third"}, 422, "seat"),
        ({"game": "tic_tac_toe"}, 422, "opponent"),
        ({"game": "tic_tac_toe", "opponent": "random", "seed": -1}, 422, "seed"),
        ({"game": "x" * 100, "opponent": "random"}, 422, "game"),
        ([1, 2], 422, "valid dictionary"),
    ],
)
def test_new_match_bad_inputs(client, body, status, words):
    response = client.post("/api/matches", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


def test_malformed_json_oversized_and_escaping_names(client, scripted_workspace, tmp_path):
    before = files_under(tmp_path)
    bad = client.post(
        "/api/matches", content=b'{"game": ', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422 and "malformed JSON" in bad.json()["error"]
    huge = client.post(
        "/api/matches",
        content=b'{"game": "' + b"a" * 50_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    for url in (
        "/api/versions/tic_tac_toe/..%2F..%2Fetc",
        "/api/versions/tic_tac_toe/%2Fetc%2Fpasswd",
        "/api/versions/..%2Ftic_tac_toe/v1",
        "/versions/tic_tac_toe/..",
        "/api/matches/..%2F..%2Fetc%2Fpasswd",
        "/api/leaderboard/..%2F..",
        "/static/..%2F..%2Fapp.py",
    ):
        response = client.get(url)
        assert 400 <= response.status_code < 500, url
    for name in ("../x", "/abs", "v1/../../x"):
        response = client.post("/api/matches", json={"game": "tic_tac_toe", "opponent": name})
        assert 400 <= response.status_code < 500
    assert files_under(tmp_path) == before  # nothing written anywhere


def test_moves_illegal_out_of_turn_finished_and_unknown_ids(client):
    state = client.post(
        "/api/matches", json={"game": "tic_tac_toe", "opponent": "random", "seed": 3}
    ).json()
    url = f"/api/matches/{state['id']}/moves"
    # one grammar: labels only, never positions in the list nor Unicode digits (finding 5)
    for move, words in (("zz", "names no move"), ("0", "names no move"), ("1", "names no move"),
                        ("²", "names no move"), ("①", "names no move")):  # fmt: skip
        response = client.post(url, json={"move": move})
        assert response.status_code == 422 and words in response.json()["error"]
    assert client.post(url, json={"move": ""}).status_code == 422
    assert client.post(url, json={"mov": "a1"}).status_code == 422
    first = client.post(url, json={"move": "b2"}).json()
    taken = client.post(url, json={"move": "b2"})
    assert taken.status_code == 422 and "not legal now" in taken.json()["error"]
    # a second move while one is being processed (the game's lock is held) is refused
    web = client.app.state.arena.store.get(state["id"])
    with web.lock:
        busy = client.post(url, json={"move": first["legal"][0]["text"]})
    assert busy.status_code == 409 and "already being processed" in busy.json()["error"]
    # out of turn: the agent is to move (as while its reply is being computed)
    web.game.play_human(first["legal"][0]["text"])
    assert web.game.agent_to_move
    early = client.post(url, json={"move": "1"})
    assert early.status_code == 409 and "not your turn" in early.json()["error"]
    resumed = client.get(f"/api/matches/{state['id']}").json()  # a view makes the reply
    assert resumed["your_turn"] and len(resumed["history"]) == len(first["history"]) + 2
    final = play_out(client, resumed)
    over = client.post(url, json={"move": "1"})
    assert over.status_code == 409 and "game is over" in over.json()["error"]
    assert final["done"]
    assert client.get("/api/matches/" + "0" * 32).status_code == 404
    assert client.get("/api/matches/not-an-id").status_code == 422
    assert client.post("/api/matches/" + "f" * 32 + "/moves", json={"move": "1"}).status_code == 404


def test_a_move_is_its_label_in_connect_four_with_a_full_column(client):
    """Finding 4: with column 4 full, "5" played column 6 (read as a position in the list)."""
    from agents.base import Decision

    state = client.post("/api/matches", json={"game": "connect_four", "opponent": "random"}).json()
    game = client.app.state.arena.store.get(state["id"]).game
    while len(game.moves) < 6:  # both seats fill column 4
        game.live.apply(game.observation(), Decision(action=3), 0.0)
    url = f"/api/matches/{state['id']}/moves"
    shown = client.get(f"/api/matches/{state['id']}").json()
    assert [m["text"] for m in shown["legal"]] == ["1", "2", "3", "5", "6", "7"]
    full = client.post(url, json={"move": "4"})
    assert full.status_code == 422 and "not legal now" in full.json()["error"]
    after = client.post(url, json={"move": "5"}).json()
    assert after["history"][6] == {"ply": 6, "player": 0, "by": "you", "text": "5"}


def test_leaderboard_api_pages_and_versions(client):
    board = client.get("/api/leaderboard/tic_tac_toe").json()
    players = {r["player"] for r in board["ratings"]}
    assert players == {"random", "mcts:10", "solver"}
    best = board["ratings"][0]
    assert best["ci_low"] <= best["rating"] <= best["ci_high"]
    assert sum(p["wins"] + p["draws"] + p["losses"] for p in board["pairs"]) == 18
    assert client.get("/api/leaderboard/nope").status_code == 404
    page = client.get("/leaderboard/tic_tac_toe")
    assert page.status_code == 200 and page.text.count("<svg") == 3
    assert "No evaluated night yet" in page.text  # no registry: no curve, said so
    assert "http://" not in page.text.replace("http://www.w3.org/", "")
    assert client.get("/leaderboard").status_code == 200  # redirect to the first game
    assert client.get("/").status_code == 200 and "play.js" in client.get("/").text
    assert client.get("/static/play.js").status_code == 200
    assert client.get("/api/versions/tic_tac_toe/v1").status_code == 404  # no registry yet
    assert client.get("/reports/gate/1").status_code == 404
    schema = client.get("/openapi.json").json()
    assert "/api/matches/{game_id}/moves" in schema["paths"]


def test_registry_versions_champion_pages_and_rollback(
    tmp_path, tiny_base, tiny_adapters, server_kit
):
    workspace = Workspace(tmp_path / "ws")
    key = server_kit.make_registry(workspace, tiny_base, tiny_adapters)
    from arena.registry.store import Registry

    with Registry.open(workspace.registry) as reg:  # what a night's eval stage records
        reg.begin_night("n1", {})
        reg.stage_started("n1", "tic_tac_toe", "eval")
        scores = {
            "candidate": {
                "version": "v2",
                "metric": "accuracy",
                "value": 0.61,
                "opponents": [],
                "higher_is_better": True,
            },
            "champion": {
                "version": "v1",
                "metric": "accuracy",
                "value": 0.55,
                "opponents": [],
                "higher_is_better": True,
            },
        }
        reg.stage_done("n1", "tic_tac_toe", "eval", 1.0, scores)
    app = create_app(
        ServerConfig(workspace, base=str(tiny_base), poll_s=0, games=("tic_tac_toe",), threads=1)
    )
    with TestClient(app) as client:
        opponents = client.get("/api/opponents", params={"game": "tic_tac_toe"}).json()
        by_name = {o["name"]: o for o in opponents}
        assert by_name["champion"]["version"] == "v1"
        assert {"base", "v0", "v1", "v2"} <= set(by_name)
        state = client.post(
            "/api/matches", json={"game": "tic_tac_toe", "opponent": "champion", "seat": "second"}
        ).json()
        assert state["opponent_version"] == "v1" and state["agent_moves"][0]["version"] == "v1"
        server_kit.rollback(workspace, "tic_tac_toe", key, to="v0")
        app.state.arena.pool.refresh(["tic_tac_toe"])
        again = client.post(
            "/api/matches", json={"game": "tic_tac_toe", "opponent": "champion"}
        ).json()
        assert again["opponent_version"] == "v0"
        final = play_out(client, state)  # the game begun against v1 stays with v1
        assert all(m["version"] == "v1" for m in final["agent_moves"])
        info = client.get("/api/versions/tic_tac_toe/v2").json()
        assert info["bases"][0]["status"] == "candidate" and info["bases"][0]["parent"] == "v1"
        (dev,) = info["bases"][0]["dev_scores"]
        assert dev["night"] == "n1" and dev["as"] == "candidate" and dev["value"] == 0.61
        page = client.get("/leaderboard/tic_tac_toe").text
        assert "rolled back" in page and "/versions/tic_tac_toe/v0" in page
        # the night's curve: the champion before/after n1 and the candidate, one plot a metric
        assert page.count('class="plot curve-plot"><svg') == 1
        nights = page[page.index('<table id="nights">') :].split("</table>")[0]
        assert "<td>n1</td><td>v2</td><td>0.610 [" in nights  # candidate with its interval
        assert "<td>(start) v1</td><td>-</td><td>0.550 [" in nights
        version_page = client.get("/versions/tic_tac_toe/v2")
        assert version_page.status_code == 200 and "0.610" in version_page.text
        assert client.get("/api/versions/tic_tac_toe/v9").status_code == 404


def test_arena_serve_command_binds_loopback_and_answers(scripted_workspace):
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["--workspace", str(scripted_workspace.root), "serve", "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "arena", *args, "--poll", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "arena serve did not start"
                time.sleep(0.3)
        assert health["status"] == "ok"
        listening = [
            line.split()[1]
            for line in open("/proc/net/tcp").read().splitlines()[1:]
            if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
        ]
        assert listening == [f"0100007F:{port:04X}"]  # 127.0.0.1 only
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert "arena serve: http://127.0.0.1" in server.stdout.read()
    assert subprocess.run(
        [sys.executable, "-m", "arena", "serve", "--port", "0"], capture_output=True, text=True
    ).stderr.startswith("arena: error: --port must be an integer between 1 and 65535")


def test_too_many_games_is_429(scripted_workspace):
    app = create_app(ServerConfig(scripted_workspace, poll_s=0, max_games=1))
    with TestClient(app) as client:
        body = {"game": "kuhn_poker", "opponent": "random"}
        assert client.post("/api/matches", json=body).status_code == 201
        full = client.post("/api/matches", json=body)
        assert full.status_code == 429 and "too many games" in full.json()["error"]
