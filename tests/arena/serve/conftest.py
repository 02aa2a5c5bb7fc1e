"""Fixtures of the server and leaderboard tests: workspaces with logs or a registry, a server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from games.workspace import Workspace


def write_scripted_logs(
    workspace: Workspace, game: str = "tic_tac_toe", pairs: int = 3, run: str = "t", seed: int = 0
) -> int:
    """Three scripted players, every pairing, ``pairs`` seat-swapped pairs: real match logs."""
    from agents import make_agent
    from games import load_game
    from games.jsonl import JsonlWriter
    from games.match import play_matches
    from games.schedule import pair_jobs

    handle = load_game(game)
    players = ["random", "mcts:10", "solver"]
    agents = {p: make_agent(p, handle) for p in players}
    count = 0
    for i, a in enumerate(players):
        for j, b in enumerate(players[i + 1 :], start=i + 1):
            jobs = pair_jobs(game, a, b, range(pairs), seed + i, run_id=run, tag=f"{i}v{j}")
            out = workspace.matches(run) / f"{a.split(':')[0]}-{b.split(':')[0]}.jsonl"
            with JsonlWriter(out, mode="w") as writer:
                for record in play_matches(jobs, agents):
                    writer.write(record.to_dict())
                    count += 1
    return count


def snapshot(workspace: Workspace, game: str, night: str, base: str = "tiny") -> None:
    """Store the current leaderboard as a night's rating snapshot (what a night does)."""
    from arena.registry.store import Registry
    from arena.reporting.leaderboard import build_leaderboard

    board = build_leaderboard(workspace, game, bootstrap=50)
    with Registry.open(workspace.registry) as reg:
        reg.snapshot_ratings(night, game, base, board.ratings)


@pytest.fixture
def scripted_workspace(tmp_path: Path) -> Workspace:
    """Match logs of three scripted players (18 games) and two nights of rating snapshots."""
    workspace = Workspace(tmp_path / "ws")
    write_scripted_logs(workspace, pairs=1, run="t1")
    snapshot(workspace, "tic_tac_toe", "night-1")
    write_scripted_logs(workspace, pairs=2, run="t2", seed=10)
    snapshot(workspace, "tic_tac_toe", "night-2")
    return workspace


def make_registry(workspace: Workspace, base: Path, adapters, game="tic_tac_toe"):
    """A registry with v0 (the bare base) and copies of ``adapters`` as v1, v2, ...; v1 is
    the champion. Returns the registry's base key."""
    import shutil

    from arena.registry.store import Registry, base_key

    key = base_key(str(base))
    with Registry.open(workspace.registry) as reg:
        reg.init_base(game, key, actor="test")
        for n, source in enumerate(adapters, start=1):
            folder = shutil.copytree(source, workspace.root / "incoming" / f"a{n}")
            reg.register(game, key, folder, parent=f"v{n - 1}", run_id=f"train-{n}")
        reg.promote(game, key, "v1", reason="test setup", actor="test")
    return key


def promote(workspace: Workspace, game: str, key: str, version: str) -> None:
    from arena.registry.store import Registry

    with Registry.open(workspace.registry) as reg:
        reg.promote(game, key, version, reason="test promotion", actor="test")


def rollback(workspace: Workspace, game: str, key: str, to: str) -> None:
    from arena.registry.store import Registry

    with Registry.open(workspace.registry) as reg:
        reg.rollback(game, key, reason="test rollback", actor="test", to=to)


@contextlib.contextmanager
def live_server(app):
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def server_kit():
    """The helpers above, for test modules (conftest modules are not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        write_scripted_logs=write_scripted_logs,
        snapshot=snapshot,
        make_registry=make_registry,
        promote=promote,
        rollback=rollback,
        live_server=live_server,
    )
