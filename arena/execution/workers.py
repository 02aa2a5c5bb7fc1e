"""Arena workers: Ray actors that play chunks of matches with the plain match loop.

A worker is one process. It builds each agent the first time a job needs it and keeps it for
the rest of the run, so an LLM worker loads its base model once (``agents.llm`` shares one
batched engine per base within a process, adapters on top) and then plays whole chunks of
games in lockstep through ``games.match.play_matches``: every pending decision of a chunk goes
to the engine as one batch. Scripted-only runs load no model.

The pool only creates, watches and replaces actors; which chunk goes where is the driver's
business (``arena.execution.driver``). In ship mode (``arena.execution.artifacts``) a worker has
no workspace: each chunk comes with a ``ShipContext`` and LLM seats are built from the node's
artifact cache (``arena.execution.shipped``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from agents import make_agent
from games import InputError, load_game
from games.match import MatchJob, play_matches
from games.workspace import Workspace

logger = logging.getLogger(__name__)


class ArenaWorker:
    """The body of one actor (a plain class: it also runs in-process, e.g. in the benchmark).

    Args:
        workspace: workspace root, for LLM agents (base models, adapters) in shared mode: on a
            cluster a path every node sees. None in ship mode.
        device: ``"cuda"`` for a GPU worker, ``"cpu"`` otherwise; passed to LLM agents.
    """

    def __init__(self, workspace: str | None = None, device: str | None = None):
        from arena.execution import shipped

        shipped.install()  # this process plays specs such as llm:small@champion
        self.workspace = Workspace.resolve(workspace) if workspace else None
        self.device = device
        self._agents: dict[tuple[str, str], object] = {}
        self._shipped = None  # the ShipContext of the chunks (ship mode)

    def info(self) -> dict:
        """Where this worker runs (the driver waits for this before sending work)."""
        node_id = None
        try:
            import ray

            if ray.is_initialized():
                node_id = ray.get_runtime_context().get_node_id()
        except ImportError:  # pragma: no cover - ray is a dependency
            pass
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": node_id,
            "device": self.device,
        }

    def _agent(self, game: str, spec: str):
        key = (game, spec)
        if key not in self._agents:
            if self._shipped is not None and key in self._shipped.seats:
                from arena.execution.shipped import build_agent

                self._agents[key] = build_agent(self._shipped, game, spec, self.device)
            else:
                self._agents[key] = make_agent(
                    spec, load_game(game), workspace=self.workspace, device=self.device
                )
        return self._agents[key]

    def loaded(self) -> dict:
        """The agents this worker built and how many engines (loaded base models) they use:
        LLM agents on the same base share one engine per process (``agents.llm``)."""
        engines = {id(e) for a in self._agents.values() if (e := getattr(a, "engine", None))}
        return {"agents": sorted(spec for _, spec in self._agents), "engines": len(engines)}

    def play(self, jobs: Sequence[MatchJob], shipped=None) -> list[dict]:
        """Play ``jobs`` (batched per game) and return their records as dicts, in job order;
        ``shipped``: the run's ``ShipContext`` in ship mode."""
        if shipped is not None:
            self._shipped = shipped
        by_game: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_game.setdefault(job.game, []).append(index)
        out: list[dict | None] = [None] * len(jobs)
        for game, indices in by_game.items():
            chunk = [jobs[i] for i in indices]
            specs = dict.fromkeys(spec for job in chunk for spec in job.seats)
            agents = {spec: self._agent(game, spec) for spec in specs}
            for i, record in zip(indices, play_matches(chunk, agents), strict=True):
                out[i] = record.to_dict()
        return out  # type: ignore[return-value]

    def close(self) -> None:
        for agent in self._agents.values():
            closer = getattr(agent, "close", None)
            if callable(closer):
                closer()
        self._agents.clear()


@dataclass(frozen=True)
class PoolConfig:
    """Placement of the workers.

    Attributes:
        workers: number of actors.
        cpus_per_worker: logical CPUs Ray reserves for each actor.
        gpus_per_worker: GPUs per actor (fractions share a GPU); > 0 puts LLMs on CUDA.
        max_replacements: how many dead actors may be replaced before the run fails
            (default: 3 per worker), so a worker that dies on every chunk (out of memory)
            stops the run instead of looping.
    """

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    max_replacements: int | None = None

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise InputError(f"--cpus-per-worker must be positive, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise InputError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_worker > 0 else "cpu"

    @property
    def replacement_budget(self) -> int:
        return self.max_replacements if self.max_replacements is not None else 3 * self.workers


@dataclass
class Slot:
    """One worker position; its actor is replaced when it dies."""

    index: int
    handle: object
    ready: object  # ObjectRef of ``info()``; None once the worker answered
    generation: int = 0
    info: dict = field(default_factory=dict)


class WorkerPool:
    """Creates the actors, replaces dead ones, and kills them all on ``close``."""

    def __init__(self, config: PoolConfig, *, workspace: str | None = None):
        import ray

        self.config = config
        self._args = (workspace, config.device)
        self._actor = ray.remote(ArenaWorker).options(
            num_cpus=config.cpus_per_worker,
            num_gpus=config.gpus_per_worker,
            max_restarts=0,
            scheduling_strategy="SPREAD",
        )
        self.replacements = 0
        self.slots = [self._spawn(i) for i in range(config.workers)]

    def _spawn(self, index: int, generation: int = 0) -> Slot:
        handle = self._actor.remote(*self._args)
        return Slot(index, handle, handle.info.remote(), generation)

    def replace(self, index: int, reason: str) -> Slot:
        """Kill slot ``index``'s actor (if still alive) and start a fresh one."""
        import ray

        old = self.slots[index]
        self.replacements += 1
        if self.replacements > self.config.replacement_budget:
            raise RuntimeError(
                f"workers died {self.replacements} times (last: {reason}); giving up. "
                "Out of memory? Try fewer games per batch or fewer workers."
            )
        logger.warning("worker %d died (%s); starting a replacement", index, reason)
        try:
            ray.kill(old.handle, no_restart=True)
        except Exception:
            pass
        self.slots[index] = self._spawn(index, old.generation + 1)
        return self.slots[index]

    def close(self) -> None:
        import ray

        for slot in self.slots:
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:
                pass
        self.slots = []
