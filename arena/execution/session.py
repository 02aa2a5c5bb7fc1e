"""What the three Ray runs (self-play, tournament, gate) share: execution options, the run
manifest, and a session that connects to Ray, loads the shards already written and plays.

A run is identified by its run id. Its configuration (game, players, pairs, seed, ...) decides
every record; the execution options (address, workers) decide none, so a run can be resumed
with other options, and the same configuration gives the same records on 1 or 10 workers.
(``batch`` only matters to LLM players, whose scores can differ in the last bits with the
composition of their batch.) The manifest ``runs/<run>/manifest.json`` holds the
configuration, one entry per driver session (placement, games played, throughput) and the
outputs; starting a run id that already exists with another configuration is refused rather
than mixed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from arena.execution.artifacts import check_mode
from arena.execution.cluster import ClusterInfo
from arena.execution.driver import DriverConfig, Progress, RunStats
from arena.execution.runner import RayRunner
from arena.execution.shards import LoadReport, ShardStore
from arena.execution.workers import PoolConfig, WorkerPool
from games import InputError
from games.configs import option
from games.defaults import DEFAULT_BATCH
from games.files import json_safe
from games.limits import check_float, check_int, check_text
from games.match import MatchJob
from games.workspace import Workspace, check_name
from training.manifest import environment as manifest_environment
from training.manifest import write_manifest

logger = logging.getLogger(__name__)
MAX_WORKERS = 1024  # worker actors one run may ask Ray for
MAX_BATCH = 4096  # games a worker plays at once


def check_run_id(run_id: str | None) -> str | None:
    """None (a default id is made) or a safe, non-empty name; ``--run-id ''`` is refused."""
    if run_id is None:
        return None
    if not isinstance(run_id, str) or not run_id.strip():
        raise InputError("--run-id must not be empty (omit it for a dated default)")
    return check_name("run id", run_id)


@dataclass(frozen=True)
class ExecOptions:
    """How to run: where and on how many workers. Never changes which games are played, so it
    is kept beside a run's config (the run's identity), not in it: a run resumes on other
    workers. (``batch`` only matters to LLM players, whose scores can differ in the last bits
    with the composition of their batch.)"""

    address: str | None = option(
        None,
        "Ray cluster to join, HOST:PORT of the head (default: $RAY_ADDRESS, else an embedded "
        "Ray instance on this machine)",
    )
    workers: int = option(2, "worker actors")
    cpus_per_worker: float = option(1.0, "CPUs reserved per worker")
    gpus_per_worker: float = option(
        0.0, "GPUs per worker, fractions share a GPU; > 0 puts LLM players on CUDA"
    )
    batch: int = option(
        DEFAULT_BATCH,
        "most games a worker plays at once: the LLM batch; keep it to reproduce LLM records bit "
        "for bit, since scores can differ in the last bits with the batch",
    )
    artifacts: Literal["auto", "shared", "ship"] = option(
        "auto",
        "how workers get bases and adapters: shared (every node sees the workspace), ship (by "
        "content hash through Ray, into each node's cache $ARENA_ARTIFACT_CACHE) or auto "
        "(every node is asked whether it sees the workspace); see arena.execution.artifacts",
    )

    def __post_init__(self) -> None:
        if self.address is not None:
            check_text("address", self.address, max_len=300)
        check_int("workers", self.workers, 1, MAX_WORKERS)
        check_float("cpus_per_worker", self.cpus_per_worker, 0, 1024, lo_open=True)
        check_float("gpus_per_worker", self.gpus_per_worker, 0, 64)
        check_int("batch", self.batch, 1, MAX_BATCH)
        check_mode(self.artifacts)

    def pool(self) -> PoolConfig:
        return PoolConfig(self.workers, self.cpus_per_worker, self.gpus_per_worker)

    def driver(self) -> DriverConfig:
        return DriverConfig(batch=self.batch)


def default_run_id(kind: str) -> str:
    return time.strftime(f"{kind}-%Y%m%d-%H%M%S")


def environment() -> dict:
    """``training.manifest.environment`` (versions, git, hardware) plus Ray's version and host."""
    import ray

    return {**manifest_environment(), "ray": ray.__version__, "host": platform.node()}


class RunSession:
    """One driver session of a run: manifest, Ray, workers, shards.

    Use as a context manager::

        with RunSession("tournament", run_id, config_dict, workspace, options) as session:
            session.open(all_jobs)
            stats = session.play(jobs, progress)
            session.finish({"summary": "..."})
    """

    def __init__(
        self,
        kind: str,
        run_id: str,
        config: dict,
        workspace: Workspace,
        options: ExecOptions,
    ):
        self.kind = kind
        self.run_id = check_name("run id", run_id)
        self.config = json_safe(config)
        self.workspace = workspace
        self.options = options
        self.run_dir = workspace.runs(run_id)
        self.store = ShardStore(workspace.matches(run_id))
        self.manifest_path = self.run_dir / "manifest.json"
        self.runner: RayRunner | None = None
        self.loaded = LoadReport()
        self.stats = RunStats()
        self._session: dict = {}
        self._manifest: dict = {}
        self._lock_handle = None

    @property
    def pool(self) -> WorkerPool | None:
        return self.runner.pool if self.runner is not None else None

    @property
    def cluster(self) -> ClusterInfo | None:
        return self.runner.cluster if self.runner is not None else None

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, kind, error, trace) -> None:
        interrupted = kind is not None and issubclass(kind, KeyboardInterrupt)  # or SIGTERM
        status = "interrupted" if interrupted else "failed"
        if kind is not None and self._manifest.get("status") == "running":
            self._session["error"] = f"{kind.__name__}: {error}"
            self._save(status)
        self.close()

    def open(self, expected: Sequence[MatchJob]) -> LoadReport:
        """Check or write the manifest, start Ray and the workers, and load existing shards."""
        options = self.options
        options.pool()  # validates the placement before anything starts
        options.driver()
        self._lock()
        self._check_manifest()
        self.loaded = self.store.load({job.match_id: job for job in expected})
        self.runner = RayRunner(
            address=options.address,
            workspace=self.workspace.root,
            batch=options.batch,
            pool=options.pool(),
            artifacts=options.artifacts,
        )
        self._session = {
            "started_at": _now(),
            "cluster": self.cluster.describe(),
            "driver_node": _node_id(),
            "options": asdict(options),
            "artifacts": self.runner.artifacts.to_dict(),
            "resumed_records": self.loaded.records,
            "quarantined": asdict(self.loaded),
        }
        self._manifest.setdefault("sessions", []).append(self._session)
        self._save("running")
        return self.loaded

    def play(
        self, jobs: Sequence[MatchJob], progress: Callable[[Progress], None] | None = None
    ) -> RunStats:
        """Play the jobs not recorded yet; statistics accumulate over calls."""
        if self.runner is None:
            raise RuntimeError("RunSession.open() first")
        stats = self.runner.play_into(self.store, jobs, progress)
        total = self.stats
        total.scheduled += stats.scheduled
        total.resumed += stats.resumed
        total.played += stats.played
        total.chunks += stats.chunks
        total.rescheduled_chunks += stats.rescheduled_chunks
        total.backup_chunks += stats.backup_chunks
        total.duplicates_dropped += stats.duplicates_dropped
        total.seconds += stats.seconds
        total.workers = stats.workers
        return stats

    def finish(self, outputs: dict) -> None:
        """Record the outputs and mark the run complete."""
        self._manifest["outputs"] = outputs
        self._save("complete")

    def _check_manifest(self) -> None:
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text())
            except (OSError, ValueError) as error:
                raise InputError(f"{self.manifest_path}: unreadable manifest ({error})") from None
            if old.get("kind") != self.kind or old.get("config") != self.config:
                changed = sorted(
                    key
                    for key in set(self.config) | set(old.get("config") or {})
                    if (old.get("config") or {}).get(key) != self.config.get(key)
                )
                raise InputError(
                    f"run '{self.run_id}' already exists as a {old.get('kind')} with another "
                    f"configuration (differs in: {', '.join(changed) or 'kind'}); "
                    "use a new --run-id, or the same options to resume it"
                )
            self._manifest = old
            logger.info("resuming run %s", self.run_id)
        elif self.store.shard_paths():
            raise InputError(
                f"{self.store.folder} holds match shards but no run manifest; use a new --run-id"
            )
        else:
            self._manifest = {
                "kind": self.kind,
                "run_id": self.run_id,
                "config": self.config,
                "created_at": _now(),
                "matches": str(self.store.folder),
                "environment": environment(),
                "sessions": [],
            }

    def _save(self, status: str) -> None:
        stats = self.stats
        self._session.update(
            {
                "finished_at": _now(),
                "played": stats.played,
                "seconds": round(stats.seconds, 3),
                "games_per_s": round(stats.games_per_s, 3),
                "rescheduled_chunks": stats.rescheduled_chunks,
                "backup_chunks": stats.backup_chunks,
                "worker_replacements": self.pool.replacements if self.pool else 0,
                "duplicates_dropped": stats.duplicates_dropped,
                "workers": stats.workers,
            }
        )
        self._manifest["status"] = status
        self._manifest["updated_at"] = _now()
        write_manifest(self.manifest_path, self._manifest)

    def _lock(self) -> None:
        """One driver per run at a time: two would both play (and write) the missing games.

        An advisory ``flock`` on ``runs/<run>/.lock``, released when the process ends, so a
        crashed driver never leaves a stale lock (on a network file system that does not
        support ``flock``, this guard is as good as that file system's locking).
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = (self.run_dir / ".lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise InputError(
                f"run '{self.run_id}' is being played by another driver right now "
                f"({self.run_dir / '.lock'}); wait for it, or use another --run-id"
            ) from None
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # releases the flock
            self._lock_handle = None
        runner, self.runner = self.runner, None
        try:
            if runner is not None:
                runner.close()
        finally:
            self.store.close()


def _node_id() -> str:
    """The Ray node this driver runs on (workers elsewhere have other ids)."""
    import ray

    return ray.get_runtime_context().get_node_id()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
