"""The opponents a web game can choose, and the agents behind them.

Opponent names in the API are short and never paths: ``random``, ``mcts``, ``solver``
(scripted), ``base`` (the bare LLM base), ``champion`` and registered versions such as ``v3``.
A game pins the version it starts with: ``checkout`` returns a lease on the agent of one
concrete version, and a champion change (promotion or rollback, seen by ``refresh``) only
changes which version *new* games get. Each version's adapter stays loaded in the shared engine
while a game or the champion pointer uses it, and is released after the last one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from agents import make_agent
from agents.factory import scripted_refusal
from arena.registry.store import base_key
from arena.registry.view import RegistryView, VersionInfo
from games import InputError, load_game
from games.workspace import Workspace, check_name

logger = logging.getLogger(__name__)

SCRIPTED = {
    "random": ("random", "uniform random legal moves"),
    "mcts": ("mcts:200", "Monte Carlo tree search, 200 simulations"),
    "solver": ("solver", "exact solver (alpha-beta, or CFR+ in poker)"),
}


class NotFound(InputError):
    """An unknown game, opponent, version or game id (HTTP 404)."""


@dataclass(frozen=True)
class Opponent:
    """What the play page lists: ``name`` goes back in the API, ``spec`` into the record."""

    name: str
    spec: str
    kind: str
    version: str | None
    description: str


@dataclass
class _Entry:
    agent: object
    spec: str
    version: str | None
    users: int = 0
    lock: threading.Lock | None = None


@dataclass(frozen=True)
class Lease:
    """A game's hold on one agent; ``version`` is pinned for the whole game."""

    key: tuple
    agent: object
    spec: str
    version: str | None
    llm: bool
    lock: threading.Lock | None


class AgentPool:
    """Agents by (game, opponent version), the champion per game, and leases on them.

    Args:
        workspace: where bases and adapters live.
        registry: the registry view (versions and champions).
        base: the LLM base to serve (a workspace base name or folder; its registry key is the
            last path component); None: no LLM opponents.
        device: LLM device (None: auto).
        temperature: the LLM agents' sampling temperature (their policy is shown either way).
    """

    def __init__(
        self,
        workspace: Workspace,
        registry: RegistryView,
        base: str | None,
        device: str | None = None,
        temperature: float = 1.0,
    ):
        self.workspace, self.registry, self.base = workspace, registry, base
        self.base_key = base_key(base) if base else None
        self.device, self.temperature = device, temperature
        self._lock = threading.RLock()
        self._entries: dict[tuple, _Entry] = {}
        self._champions: dict[str, tuple | None] = {}
        self._failed: dict[tuple[str, str], tuple[int, int]] = {}  # -> weights (size, mtime)
        self._reported: dict[tuple[str, str], str] = {}
        self.swaps = 0

    # ----------------------------------------------------------------------------- listing

    def opponents(self, game: str) -> list[Opponent]:
        out = []
        handle = load_game(game)
        for name, (spec, text) in SCRIPTED.items():
            if scripted_refusal(spec, handle) is None:  # e.g. no solver for connect_four
                out.append(Opponent(name, spec, "scripted", None, text))
        if self.base is None:
            return out
        with self._lock:
            if game not in self._champions:
                self._refresh_safely(game)
        champion = self.champion_version(game)
        if champion is not None:
            out.append(
                Opponent(
                    "champion",
                    self._llm_spec("champion"),
                    "llm",
                    champion,
                    f"the current champion ({champion})",
                )
            )
        out.append(Opponent("base", f"llm:{self.base_key}", "llm", None, "the bare base model"))
        for info in self.registry.versions(game, self.base_key):
            if not self._usable(game, info):
                continue  # a missing or refused adapter hides only that version
            out.append(
                Opponent(
                    info.version,
                    self._llm_spec(info.version),
                    "llm",
                    info.version,
                    f"version {info.version} ({info.status})",
                )
            )
        return out

    def _llm_spec(self, version: str) -> str:
        return f"llm:{self.base_key}@{version}"

    # ------------------------------------------------------------------------------ leases

    def checkout(self, game: str, name: str) -> Lease:
        """A lease on the agent for opponent ``name`` in ``game`` (the version pinned now)."""
        name = name.strip()
        if name in SCRIPTED:
            spec = SCRIPTED[name][0]
            reason = scripted_refusal(spec, load_game(game))
            if reason is not None:  # not offered: it could not play a move within its budget
                raise InputError(f"opponent '{name}' is not offered for {game}: {reason}")
            return self._lease((game, spec), lambda: make_agent(spec, load_game(game)), spec, None)
        if self.base is None:
            raise NotFound(f"unknown opponent '{name}': this server has no LLM base")
        if name == "base":
            spec = f"llm:{self.base_key}"
            return self._lease((game, spec), lambda: self._make_llm(game, None), spec, None)
        with self._lock:
            if name == "champion":
                if game not in self._champions:
                    self._refresh_one(game)
                key = self._champions.get(game)
                if key is None:
                    raise NotFound(f"no champion for {game} on base {self.base_key} yet")
                entry = self._entries[key]
                entry.users += 1
                return Lease(key, entry.agent, self._llm_spec(name), key[1], True, None)
            check_name("version", name)
            info = self.registry.version(game, name, self.base_key)
            if info is None:
                raise NotFound(f"unknown version '{name}' for {game} on base {self.base_key}")
            if not self._usable(game, info):
                raise NotFound(f"version '{name}' of {game} is not available (see the log)")
            return self._lease(
                (game, info.version),
                lambda: self._make_llm(game, info),
                self._llm_spec(name),
                info.version,
            )

    def _lease(self, key, build, spec: str, version: str | None) -> Lease:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                agent = build()
                llm = spec.startswith("llm:")
                entry = _Entry(agent, spec, version, lock=None if llm else threading.Lock())
                self._entries[key] = entry
            entry.users += 1
            return Lease(
                key,
                entry.agent,
                spec,
                version,
                llm=spec.startswith("llm:"),
                lock=entry.lock,
            )

    def release(self, lease: Lease) -> None:
        with self._lock:
            entry = self._entries.get(lease.key)
            if entry is None:
                return
            entry.users -= 1
            self._reap(lease.key)

    def _reap(self, key: tuple) -> None:
        entry = self._entries[key]
        pinned = key in self._champions.values()
        if entry.users <= 0 and not pinned and entry.version is not None:
            del self._entries[key]
            close = getattr(entry.agent, "close", None)
            if close is not None:
                close()
            logger.info("released %s %s", key, entry.spec)

    def _make_llm(self, game: str, info: VersionInfo | None):
        """An LLM agent of one version. The adapter serves under a role named after the
        registry version (and is labelled with it), so decisions carry that version."""
        from agents.llm import LLMAgent, LLMOptions, get_engine
        from agents.spec import ResolvedAdapter

        options = LLMOptions.parse({"temperature": self.temperature})
        engine = get_engine(self.base, self.workspace, self.device, None, options.dtype)
        if info is None:
            return LLMAgent(f"llm:{self.base_key}", engine, None, options)
        agent = LLMAgent(self._llm_spec(info.version), engine, None, options)
        target = ResolvedAdapter(info.path, info.version)  # path None: the bare base (v0)
        agent.point_at(target, f"registry:{game}:{info.base}:{info.version}")
        return agent

    # ---------------------------------------------------------------------------- champion

    def _usable(self, game: str, info: VersionInfo) -> bool:
        """Whether ``info``'s adapter can be offered: the bare base, or a folder with weights
        that did not fail to load as they are now. Problems are logged once, not per poll."""
        if info.path is None:
            return True
        weights = Path(info.path) / "adapter_model.safetensors"
        try:
            stat = weights.stat()
        except OSError:
            self._report(game, info.version, "its adapter folder or weights are missing")
            return False
        failed = self._failed.get((game, info.version))
        return failed is None or failed != (stat.st_size, stat.st_mtime_ns)

    def _report(self, game: str, version: str, problem: str) -> None:
        key = (game, version)
        if self._reported.get(key) != problem:
            self._reported[key] = problem
            logger.error("%s %s is not offered: %s", game, version, problem)

    def _refresh_one(self, game: str) -> None:
        info = self.registry.champion(game, self.base_key)
        key = (game, info.version) if info else None
        if self._champions.get(game, ...) == key:
            return
        if info is not None and not self._usable(game, info):
            return  # the champion cannot be loaded: the previous one (if any) keeps serving
        try:
            self._set_champion(game, info)
        except InputError as error:  # a refused adapter (changed bytes, another base, ...)
            weights = Path(info.path) / "adapter_model.safetensors"
            stat = weights.stat()
            self._failed[(game, info.version)] = (stat.st_size, stat.st_mtime_ns)
            self._report(game, info.version, str(error))

    def _refresh_safely(self, game: str) -> None:
        try:
            self._refresh_one(game)
        except InputError as error:  # e.g. the registry is unreadable: listed without it
            logger.debug("champion of %s not refreshed: %s", game, error)

    def _set_champion(self, game: str, info: VersionInfo | None) -> None:
        """Load the new champion's agent first, then move the pointer; the old one is
        released once its last game ends."""
        old = self._champions.get(game)
        new = None
        if info is not None:
            new = (game, info.version)
            if new not in self._entries:
                agent = self._make_llm(game, info)
                self._entries[new] = _Entry(agent, self._llm_spec("champion"), info.version)
        self._champions[game] = new
        if old is not None and old != new and old in self._entries:
            self.swaps += 1
            logger.info("champion of %s: %s -> %s", game, old[1], new and new[1])
            self._reap(old)

    def refresh(self, games: list[str]) -> None:
        """Follow the registry: load a changed champion (called by the server's poller)."""
        if self.base is None:
            return
        for game in games:
            with self._lock:
                self._refresh_one(game)

    def champion_version(self, game: str) -> str | None:
        with self._lock:
            key = self._champions.get(game)
            return key[1] if key else None

    def close(self) -> None:
        with self._lock:
            for entry in self._entries.values():
                close = getattr(entry.agent, "close", None)
                if close is not None:
                    close()
            self._entries.clear()
            self._champions.clear()
