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
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from arena.cluster import ClusterInfo, connect, disconnect
from arena.driver import Driver, DriverConfig, Progress, RunStats
from arena.match import MatchJob
from arena.shards import LoadReport, ShardStore
from arena.workers import PoolConfig, WorkerPool
from arena.workspace import Workspace, check_name
from games import InputError
from games.limits import check_float, check_int, check_text

logger = logging.getLogger(__name__)
MANIFEST_VERSION = 1
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
    """How to run: where and on how many workers. Never changes which games are played.

    Attributes:
        address: Ray cluster address (``HOST:PORT``); None: ``$RAY_ADDRESS`` or embedded.
        workers: number of worker actors.
        cpus_per_worker: logical CPUs per worker.
        gpus_per_worker: GPUs per worker (> 0 puts LLM players on CUDA).
        batch: most games a worker plays in one batch.
    """

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    batch: int = 32

    def __post_init__(self) -> None:
        if self.address is not None:
            check_text("--address", self.address, max_len=300)
        check_int("--workers", self.workers, 1, MAX_WORKERS)
        check_float("--cpus-per-worker", self.cpus_per_worker, 0, 1024, lo_open=True)
        check_float("--gpus-per-worker", self.gpus_per_worker, 0, 64)
        check_int("--batch", self.batch, 1, MAX_BATCH)

    def pool(self) -> PoolConfig:
        return PoolConfig(self.workers, self.cpus_per_worker, self.gpus_per_worker)

    def driver(self) -> DriverConfig:
        return DriverConfig(batch=self.batch)


def default_run_id(kind: str) -> str:
    return time.strftime(f"{kind}-%Y%m%d-%H%M%S")


def json_safe(value):
    """JSON without NaN/Infinity tokens: +-inf become ``"inf"``/``"-inf"``, NaN becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, obj) -> None:
    """Atomic write (temp file + rename), so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n")
    os.replace(temp, path)


def environment() -> dict:
    """Library versions, git commit and host, for the manifest."""
    import numpy
    import ray

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        import pyspiel

        spiel = getattr(pyspiel, "__version__", None) or "unknown"
    except ImportError:  # pragma: no cover - open_spiel is a dependency
        spiel = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "ray": ray.__version__,
        "numpy": numpy.__version__,
        "open_spiel": spiel,
        "git_commit": commit or None,
    }


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
        self.cluster: ClusterInfo | None = None
        self.pool: WorkerPool | None = None
        self.driver: Driver | None = None
        self.loaded = LoadReport()
        self.stats = RunStats()
        self._session: dict = {}
        self._manifest: dict = {}
        self._lock_handle = None

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, kind, error, trace) -> None:
        status = "interrupted" if kind is KeyboardInterrupt else "failed"
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
        cpus = max(os.cpu_count() or 1, math.ceil(options.workers * options.cpus_per_worker))
        self.cluster = connect(options.address, num_cpus=cpus)
        if options.gpus_per_worker > self.cluster.gpus:
            raise InputError(
                f"--gpus-per-worker {options.gpus_per_worker:g} but the Ray cluster has "
                f"{self.cluster.gpus:g} GPU(s)"
            )
        self.pool = WorkerPool(options.pool(), workspace=str(self.workspace.root))
        self.driver = Driver(self.pool, self.store, options.driver())
        self._session = {
            "started_at": _now(),
            "cluster": self.cluster.describe(),
            "options": asdict(options),
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
        if self.driver is None:
            raise RuntimeError("RunSession.open() first")
        stats = self.driver.run(jobs, progress)
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
                "schema_version": MANIFEST_VERSION,
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
        write_json(self.manifest_path, self._manifest)

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
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self.store.close()
        if self.cluster is not None:
            disconnect(self.cluster)
            self.cluster = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
