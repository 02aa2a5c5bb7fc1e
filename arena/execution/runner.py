"""The Ray implementation of the runner interface (``games.runner.Runner``).

``RayRunner`` is the one place that wires Ray up: it connects (``cluster``), starts the worker
actors (``workers``) and plays jobs through the exactly-once driver (``driver`` + ``shards``).
Called as a runner, it writes the records to a scratch shard folder, reads them back in job
order and removes the folder; the resumable runs (``session.RunSession``: self-play,
tournaments, gates) use ``play_into`` with the run's own shard store instead. The workers (and
Ray, when this runner started it) stay up until ``close``. The records are those the local
runner gives, because every game's seed and opening are in its job. Dataset builders and
evaluation take it as their ``runner`` argument; ``runner_for`` picks local or Ray from a worker
count. ``artifacts`` (``auto``, ``shared``, ``ship``: ``arena.execution.artifacts``) says how
workers get bases and adapters; the mode chosen is ``self.artifacts``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from arena.execution.artifacts import ModeChoice, Publisher, choose_mode
from arena.execution.cluster import connect, disconnect
from arena.execution.driver import Driver, DriverConfig, Progress, RunStats
from arena.execution.shards import ShardStore
from arena.execution.workers import PoolConfig, WorkerPool
from games import InputError
from games.match import MatchJob
from games.records import MatchRecord
from games.runner import Sink
from games.workspace import Workspace

RAY_BATCH = 256


class RayRunner:
    """Play jobs on Ray worker actors (agents built there from the seat specs).

    ``workers`` alone gives 1-CPU workers; ``pool`` sets the full placement (CPUs and GPUs per
    worker) and overrides ``workers``. In ship mode the workers get no workspace: the LLM seats
    of each ``play_into`` are published first (``Publisher.seats``).
    """

    kind = "ray"

    def __init__(
        self,
        workers: int = 2,
        scratch: str | Path | None = None,
        workspace=None,
        address: str | None = None,
        batch: int = RAY_BATCH,
        *,
        pool: PoolConfig | None = None,
        artifacts: str | ModeChoice = "auto",
    ):
        pool = pool or PoolConfig(workers=workers)
        self.scratch = Path(scratch) if scratch else None
        self.driver_config = DriverConfig(batch=batch)
        if isinstance(workspace, Workspace):
            workspace = workspace.root
        self.workspace = Path(workspace) if workspace else None
        cpus = max(os.cpu_count() or 1, math.ceil(pool.workers * pool.cpus_per_worker))
        self.cluster = connect(address, num_cpus=cpus)
        try:
            if pool.gpus_per_worker > self.cluster.gpus:
                raise InputError(
                    f"--gpus-per-worker {pool.gpus_per_worker:g} but the Ray cluster has "
                    f"{self.cluster.gpus:g} GPU(s)"
                )
            if not isinstance(artifacts, ModeChoice):
                artifacts = choose_mode(artifacts, self.workspace, self.cluster)
            self.artifacts = artifacts
            shared = self.workspace is not None and artifacts.mode == "shared"
            self.pool = WorkerPool(pool, workspace=str(self.workspace) if shared else None)
        except BaseException:
            disconnect(self.cluster)
            raise
        self.calls = 0

    def play_into(
        self,
        store: ShardStore,
        jobs: Sequence[MatchJob],
        progress: Callable[[Progress], None] | None = None,
    ) -> RunStats:
        """Play the jobs not yet in ``store`` (loaded by the caller) into it."""
        shipped = None
        if self.artifacts.mode == "ship":
            todo = [job for job in jobs if job.match_id not in store.done]
            shipped = Publisher.get().seats(todo, self.workspace)
        return Driver(self.pool, store, self.driver_config, shipped).run(list(jobs), progress)

    def __call__(self, jobs: Sequence[MatchJob], sink: Sink | None = None) -> list[MatchRecord]:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="arena-ray-runner-"))
        folder = self.scratch / f"jobs-{self.calls:05d}"
        self.calls += 1
        store = ShardStore(folder)
        try:
            store.load({job.match_id: job for job in jobs})
            self.play_into(store, jobs)
            by_id = {record.match_id: record for record in store.records()}
        finally:
            store.close()
            shutil.rmtree(folder, ignore_errors=True)
        missing = [job.match_id for job in jobs if job.match_id not in by_id]
        if missing:
            raise RuntimeError(f"Ray runner returned {len(jobs) - len(missing)} of {len(jobs)}")
        records = [by_id[job.match_id] for job in jobs]
        if sink is not None:
            for record in records:
                sink(record)
        return records

    def close(self) -> None:
        try:
            self.pool.close()
        finally:
            disconnect(self.cluster)
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def runner_for(
    workers: int,
    scratch: str | Path | None = None,
    workspace=None,
    address: str | None = None,
    artifacts: str | ModeChoice = "auto",
) -> Iterator[RayRunner | None]:
    """A ``RayRunner`` on ``workers`` workers, or None (the caller's local default) for 0."""
    if workers <= 0:
        yield None
        return
    runner = RayRunner(workers, scratch, workspace, address, artifacts=artifacts)
    try:
        yield runner
    finally:
        runner.close()
