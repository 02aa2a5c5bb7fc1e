"""Web games in progress: create, move, let the agent answer, save the finished record.

Each game holds a lease on its opponent's agent (``opponents.AgentPool``), so it keeps the
adapter version it started with whatever the champion does meanwhile. Games live in memory,
bounded in number; a game untouched for ``ttl_s`` is dropped (unfinished games are not records:
a match record is a finished game); finished ones stay viewable for ten minutes. Finished
games are appended to ``<workspace>/matches/human/web-<date>.jsonl`` with the same writer as
every match log.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from arena.play.human import HumanGame
from arena.serve.batcher import DecisionBatcher
from arena.serve.opponents import AgentPool, Lease, NotFound
from games import InputError
from games.jsonl import JsonlWriter
from games.records import MoveRecord

AGENT_TIMEOUT_S = 300.0
FINISHED_TTL_S = 600.0  # a finished game stays viewable this long (it is saved already)


class Busy(InputError):
    """Another request is moving this game right now (HTTP 409)."""


class Full(InputError):
    """Too many games in progress (HTTP 429)."""


class AgentTimeout(Exception):
    """The agent did not answer within ``AGENT_TIMEOUT_S`` (HTTP 503)."""


@dataclass
class WebGame:
    id: str
    opponent: str
    game: HumanGame
    lease: Lease
    lock: threading.Lock = field(default_factory=threading.Lock)
    agent_moves: list[MoveRecord] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    saved_to: Path | None = None


class GameStore:
    def __init__(
        self,
        pool: AgentPool,
        batcher: DecisionBatcher,
        records_dir: Path,
        max_games: int = 512,
        ttl_s: float = 3600.0,
    ):
        self.pool, self.batcher, self.records_dir = pool, batcher, records_dir
        self.max_games, self.ttl_s = max_games, ttl_s
        self._games: dict[str, WebGame] = {}
        self._lock = threading.Lock()
        self._writer: JsonlWriter | None = None
        self._writer_day = ""
        self._write_lock = threading.Lock()
        self.saved = 0

    def __len__(self) -> int:
        return len(self._games)

    def new(self, game: str, opponent: str, seat: int, seed: int | None = None) -> WebGame:
        self.expire()
        with self._lock:
            if len(self._games) >= self.max_games:
                raise Full(f"too many games in progress ({self.max_games}); try again later")
        lease = self.pool.checkout(game, opponent)
        try:
            gid = uuid.uuid4().hex
            seed = seed if seed is not None else int.from_bytes(uuid.uuid4().bytes[:4], "big")
            human = HumanGame(
                game,
                lease.spec,
                seat,
                seed,
                match_id=f"web-{gid}",
                run_id="human",
                agent_version=lease.version,
            )
            web = WebGame(gid, opponent, human, lease)
            with web.lock:
                self._agent_turns(web)
        except BaseException:
            self.pool.release(lease)
            raise
        with self._lock:
            self._games[gid] = web
        return web

    def get(self, gid: str) -> WebGame:
        web = self._games.get(gid)
        if web is None:
            raise NotFound(f"no game '{gid}' (finished games stay ten minutes; start a new one)")
        web.touched = time.monotonic()
        return web

    def view(self, gid: str) -> WebGame:
        """The game, after the agent's reply if an earlier request timed out waiting for it."""
        web = self.get(gid)
        if web.game.agent_to_move and web.lock.acquire(blocking=False):
            try:
                self._agent_turns(web)
            finally:
                web.lock.release()
        return web

    def move(self, gid: str, entry: str) -> WebGame:
        web = self.get(gid)
        if not web.lock.acquire(blocking=False):
            raise Busy("a move of this game is already being processed")
        try:
            web.game.play_human(entry)
            web.agent_moves = []
            self._agent_turns(web)
        finally:
            web.lock.release()
        return web

    def _agent_turns(self, web: WebGame) -> None:
        game, lease = web.game, web.lease
        while game.agent_to_move:
            obs = game.observation()
            start = time.perf_counter()
            if lease.llm:
                future = self.batcher.submit(lease.agent, obs, game.agent_rng)
                try:
                    decision = future.result(timeout=AGENT_TIMEOUT_S)
                except TimeoutError:
                    raise AgentTimeout(
                        f"{lease.spec} did not answer within {AGENT_TIMEOUT_S:.0f} s; "
                        "the game is unchanged, try the request again"
                    ) from None
            else:
                with lease.lock:
                    decision = lease.agent.act(obs, game.agent_rng)
            web.agent_moves.append(game.apply_agent(obs, decision, time.perf_counter() - start))
        if game.done and web.saved_to is None:
            self._save(web)

    def _save(self, web: WebGame) -> None:
        record = web.game.record()
        day = time.strftime("%Y%m%d")
        with self._write_lock:
            if self._writer is None or day != self._writer_day:
                if self._writer is not None:
                    self._writer.close()
                self._writer = JsonlWriter(self.records_dir / f"web-{day}.jsonl")
                self._writer_day = day
            self._writer.write(record.to_dict())
            web.saved_to = self._writer.path
            self.saved += 1
        self.pool.release(web.lease)

    def expire(self) -> int:
        """Drop games untouched for ``ttl_s`` (finished ones after ``FINISHED_TTL_S``)."""
        now = time.monotonic()
        with self._lock:
            old = [
                g
                for g in self._games.values()
                if now - g.touched
                > (min(self.ttl_s, FINISHED_TTL_S) if g.game.done else self.ttl_s)
            ]
            for web in old:
                del self._games[web.id]
        for web in old:
            if web.saved_to is None:
                self.pool.release(web.lease)
        return len(old)

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
