"""The Ray implementation of the runner interface (``games.runner.Runner``).

``RayRunner`` plays match jobs on the arena's Ray workers (``arena.workers``) through its
exactly-once driver (``arena.driver`` + ``arena.shards``): each call writes the records to a
scratch shard folder, reads them back in job order and removes the folder; the workers (and
Ray, when this runner started it) stay up until ``close``. The records are those the local
runner gives, because every game's seed and opening are in its job. Dataset builders and
evaluation take it as their ``runner`` argument; ``runner_for`` picks local or Ray from a
worker count.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from arena.cluster import connect, disconnect
from arena.driver import Driver, DriverConfig
from arena.shards import ShardStore
from arena.workers import PoolConfig, WorkerPool
from games.match import MatchJob
from games.records import MatchRecord
from games.runner import Sink

RAY_BATCH = 256


class RayRunner:
    """Play jobs on ``workers`` Ray actors (agents built there from the seat specs)."""

    kind = "ray"

    def __init__(
        self,
        workers: int,
        scratch: str | Path | None = None,
        workspace=None,
        address: str | None = None,
        batch: int = RAY_BATCH,
    ):
        self._own_scratch = scratch is None
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix="arena-ray-runner-"))
        self.batch = batch
        self.cluster = connect(address, num_cpus=max(workers, os.cpu_count() or 1))
        try:
            self.pool = WorkerPool(
                PoolConfig(workers=workers), workspace=str(workspace) if workspace else None
            )
        except BaseException:
            disconnect(self.cluster)
            raise
        self.calls = 0

    def __call__(self, jobs: Sequence[MatchJob], sink: Sink | None = None) -> list[MatchRecord]:
        folder = self.scratch / f"jobs-{self.calls:05d}"
        self.calls += 1
        store = ShardStore(folder)
        try:
            store.load({job.match_id: job for job in jobs})
            Driver(self.pool, store, DriverConfig(batch=self.batch)).run(list(jobs))
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
        self.pool.close()
        disconnect(self.cluster)
        if self._own_scratch or self.scratch.exists():
            shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def runner_for(
    workers: int, scratch: str | Path | None = None, workspace=None, address: str | None = None
) -> Iterator[RayRunner | None]:
    """A ``RayRunner`` on ``workers`` workers, or None (the caller's local default) for 0."""
    if workers <= 0:
        yield None
        return
    runner = RayRunner(workers, scratch, workspace, address)
    try:
        yield runner
    finally:
        runner.close()
