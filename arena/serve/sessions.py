"""Web games in progress: create, move, let the agent answer, save the finished record.

Each game holds a lease on its opponent's agent (``opponents.AgentPool``), so it keeps the
adapter version it started with whatever the champion does meanwhile. Finished games are
appended to ``<workspace>/matches/human/web-<date>.jsonl`` with the same writer as every match
log.

Limits (one client must not take every slot): games live in memory, at most ``max_games`` in
all and ``max_per_client`` per client address. A slot is reserved under the store's lock
before the game is built, so concurrent creates can never pass the caps. A create at a cap may
evict the oldest game idle for at least ``evict_idle_s`` (the client's own at its cap, anyone's
when the server is full); else it is refused (429). A game's idle time counts from its creation
or last move: reads (GET) do not extend it, and a game idle for ``ttl_s`` is dropped
(unfinished games are not records: a match record is a finished game); finished ones stay
viewable for ``FINISHED_TTL_S``.
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
    client: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    agent_moves: list[MoveRecord] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)  # creation or last move, not reads
    saved_to: Path | None = None


@dataclass
class _Slot:
    """A place in the store: reserved at once, holding its game once built."""

    client: str
    touched: float
    web: WebGame | None = None


class GameStore:
    def __init__(
        self,
        pool: AgentPool,
        batcher: DecisionBatcher,
        records_dir: Path,
        max_games: int = 512,
        ttl_s: float = 1800.0,
        max_per_client: int = 16,
        evict_idle_s: float = 120.0,
    ):
        self.pool, self.batcher, self.records_dir = pool, batcher, records_dir
        self.max_games, self.ttl_s = max_games, ttl_s
        self.max_per_client, self.evict_idle_s = max_per_client, evict_idle_s
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._writer: JsonlWriter | None = None
        self._writer_day = ""
        self._write_lock = threading.Lock()
        self.saved = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._slots)

    def _reserve(self, client: str) -> str:
        """A slot for ``client``, evicting the oldest idle game if a cap is reached."""
        now = time.monotonic()
        with self._lock:
            gone = self._expired(now)
            for cap, whose in ((self.max_per_client, client), (self.max_games, None)):
                held = [
                    (gid, slot)
                    for gid, slot in self._slots.items()
                    if whose is None or slot.client == whose
                ]
                if len(held) < cap:
                    continue
                idle = [(g, s) for g, s in held if s.web is not None and not s.web.lock.locked()]
                oldest = min(idle, key=lambda item: item[1].touched, default=None)
                if oldest is None or now - oldest[1].touched < self.evict_idle_s:
                    self._release_all(gone)
                    where = "" if whose is None else " from your address"
                    raise Full(
                        f"too many games in progress{where} ({cap}); finish one, or try again later"
                    )
                gone.append(self._slots.pop(oldest[0]))
                self.evicted += 1
            gid = uuid.uuid4().hex
            self._slots[gid] = _Slot(client, now)
        self._release_all(gone)
        return gid

    def _release_all(self, slots: list[_Slot]) -> None:
        for slot in slots:
            if slot.web is not None and slot.web.saved_to is None:
                self.pool.release(slot.web.lease)

    def new(
        self, game: str, opponent: str, seat: int, seed: int | None = None, client: str = ""
    ) -> WebGame:
        gid = self._reserve(client)
        try:
            lease = self.pool.checkout(game, opponent)
        except BaseException:
            with self._lock:
                self._slots.pop(gid, None)
            raise
        try:
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
            web = WebGame(gid, opponent, human, lease, client)
            with web.lock:
                self._agent_turns(web)
        except BaseException:
            with self._lock:
                self._slots.pop(gid, None)
            self.pool.release(lease)
            raise
        with self._lock:
            slot = self._slots.get(gid)
            if slot is not None:
                slot.web, slot.touched = web, web.touched
        if slot is None:  # evicted while it was being built (a burst of creates)
            self._release_all([_Slot(client, 0.0, web)])
        return web

    def get(self, gid: str) -> WebGame:
        """The game (a read: its idle time goes on)."""
        slot = self._slots.get(gid)
        if slot is None or slot.web is None:
            raise NotFound(
                f"no game '{gid}' (games idle too long, or finished ten minutes ago, are "
                "dropped; start a new one)"
            )
        return slot.web

    def _touch(self, web: WebGame) -> None:
        web.touched = time.monotonic()
        with self._lock:
            slot = self._slots.get(web.id)
            if slot is not None:
                slot.touched = web.touched

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
            self._touch(web)  # a move, not a read, keeps a game alive
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

    def _expired(self, now: float) -> list[_Slot]:
        """Remove (under the lock) the games idle for ``ttl_s``, finished ones after
        ``FINISHED_TTL_S``; returns their slots, whose leases the caller releases."""
        old = [
            gid
            for gid, s in self._slots.items()
            if s.web is not None
            and not s.web.lock.locked()
            and now - s.touched
            > (min(self.ttl_s, FINISHED_TTL_S) if s.web.game.done else self.ttl_s)
        ]
        return [self._slots.pop(gid) for gid in old]

    def expire(self) -> int:
        """Drop games idle for ``ttl_s`` (finished ones after ``FINISHED_TTL_S``)."""
        with self._lock:
            old = self._expired(time.monotonic())
        self._release_all(old)
        return len(old)

    def clients(self) -> dict[str, int]:
        """Games in progress per client address."""
        with self._lock:
            counts: dict[str, int] = {}
            for slot in self._slots.values():
                counts[slot.client] = counts.get(slot.client, 0) + 1
            return counts

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
