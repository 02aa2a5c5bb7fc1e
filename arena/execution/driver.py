"""The driver: sends chunks of matches to the workers, streams records to shards, and survives
worker deaths and restarts.

Scheduling is pull-based: each worker holds at most ``prefetch`` chunks in flight, and gets
the next one as soon as it returns one, so a slow worker simply plays fewer chunks. At the
tail, when nothing is left to hand out, an idle worker takes a backup copy of a chunk that has
been running much longer than chunks usually take (MapReduce's backup tasks: Dean & Ghemawat,
OSDI 2004); the first copy to finish is written, the other is dropped. Chunks hold whole
seat-swapped pairs and are played with ``play_matches``, one batch per chunk.

Exactly once: every record is written by the driver alone, keyed by its match id, which is
derived from the run configuration (``games.schedule.pair_jobs``); the shard store refuses a
second copy. A worker that dies (``RayActorError``) is replaced and its unfinished chunks go
back to the front of the queue. Because each match's seed derives from (run seed, match
index), a game replayed on another worker, or in a resumed run, is the same game.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arena.execution.shards import ShardStore
from arena.execution.workers import WorkerPool
from games import InputError
from games.match import MatchJob
from games.records import MatchRecord

logger = logging.getLogger(__name__)
MIN_CHUNKS = 4


@dataclass
class Progress:
    """Snapshot passed to the progress callback after each chunk."""

    done: int
    total: int
    played: int
    elapsed_s: float
    replacements: int = 0

    @property
    def rate(self) -> float:
        """Games per second played in this session."""
        return self.played / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float:
        return (self.total - self.done) / self.rate if self.rate > 0 else math.inf


@dataclass
class RunStats:
    """What one ``Driver.run`` did."""

    scheduled: int = 0
    resumed: int = 0
    played: int = 0
    chunks: int = 0
    rescheduled_chunks: int = 0
    backup_chunks: int = 0
    duplicates_dropped: int = 0
    seconds: float = 0.0
    workers: list[dict] = field(default_factory=list)

    @property
    def games_per_s(self) -> float:
        return self.played / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Task:
    chunk: int
    slot: int
    generation: int
    started: float


@dataclass(frozen=True)
class DriverConfig:
    """Scheduling knobs; none of them changes any record.

    Attributes:
        batch: most games in one chunk (one ``play_matches`` call on a worker: the LLM batch).
        prefetch: chunks in flight per worker.
        backup_after: a tail chunk running longer than this many times the median chunk time
            gets a backup copy on an idle worker (0 disables backups).
        startup_timeout_s: fail if no worker has started after this long (resources).
        poll_s: how often the driver wakes up without news.
    """

    batch: int = 32
    prefetch: int = 2
    backup_after: float = 2.0
    startup_timeout_s: float = 300.0
    poll_s: float = 0.5

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        if self.prefetch < 1:
            raise InputError(f"prefetch must be at least 1, got {self.prefetch}")


class Driver:
    """Plays jobs on a ``WorkerPool`` into a ``ShardStore`` (call ``store.load`` first).

    ``shipped`` (ship mode: ``arena.execution.artifacts.ShipContext``) goes with every chunk,
    put into Ray's object store once, so each node receives it once.
    """

    def __init__(
        self,
        pool: WorkerPool,
        store: ShardStore,
        config: DriverConfig | None = None,
        shipped=None,
    ):
        self.pool = pool
        self.store = store
        self.config = config or DriverConfig()
        self.shipped = shipped
        self._shipped_ref = None

    def chunk(self, jobs: Sequence[MatchJob]) -> list[list[MatchJob]]:
        """Consecutive chunks of whole pairs, without the games already recorded.

        The boundaries depend on the job list and ``batch`` only, never on the number of
        workers: a chunk is one lockstep batch, and an LLM's numerics can depend (in the
        last bits) on what else is in its batch. At least ``MIN_CHUNKS`` chunks, so that
        several workers share even a small run.
        """
        size = max(2, min(self.config.batch, math.ceil(len(jobs) / MIN_CHUNKS)))
        size += size % 2
        done = self.store.done
        chunks = [
            [j for j in jobs[i : i + size] if j.match_id not in done]
            for i in range(0, len(jobs), size)
        ]
        return [chunk for chunk in chunks if chunk]

    def run(
        self, jobs: Sequence[MatchJob], progress: Callable[[Progress], None] | None = None
    ) -> RunStats:
        """Play every job whose match id is not recorded yet; returns what happened."""
        import ray

        started = time.perf_counter()
        stats = RunStats(scheduled=len(jobs))
        todo = [job for job in jobs if job.match_id not in self.store.done]
        stats.resumed = len(jobs) - len(todo)
        wanted = {job.match_id for job in todo}
        chunks = self.chunk(jobs)
        stats.chunks = len(chunks)
        queue: deque[int] = deque(range(len(chunks)))
        finished: set[int] = set()
        inflight: dict[object, _Task] = {}
        durations: list[float] = []
        per_slot: Counter[int] = Counter()
        backed_up: set[int] = set()

        def report() -> None:
            if progress is not None:
                progress(
                    Progress(
                        done=stats.resumed + stats.played,
                        total=len(jobs),
                        played=stats.played,
                        elapsed_s=time.perf_counter() - started,
                        replacements=self.pool.replacements,
                    )
                )

        def requeue_slot(slot_index: int) -> None:
            for ref, task in list(inflight.items()):
                if task.slot == slot_index:
                    del inflight[ref]
                    copies = sum(1 for t in inflight.values() if t.chunk == task.chunk)
                    if task.chunk not in finished and not copies and task.chunk not in queue:
                        queue.appendleft(task.chunk)
                        stats.rescheduled_chunks += 1

        report()
        waiting_since = time.perf_counter()
        try:
            while len(finished) < len(chunks):
                self._dispatch(chunks, queue, finished, inflight, durations, stats, backed_up)
                ready_refs = {s.ready: s.index for s in self.pool.slots if s.ready is not None}
                refs = list(inflight) + list(ready_refs)
                done, _ = ray.wait(refs, num_returns=1, timeout=self.config.poll_s)
                if not done:
                    if not any(s.ready is None for s in self.pool.slots):
                        if time.perf_counter() - waiting_since > self.config.startup_timeout_s:
                            raise RuntimeError(self._placement_hint())
                    continue
                ref = done[0]
                if ref in ready_refs:
                    self._worker_ready(ready_refs[ref], ref, requeue_slot)
                    waiting_since = time.perf_counter()
                    continue
                task = inflight.pop(ref)
                try:
                    records = ray.get(ref)
                except ray.exceptions.RayActorError as error:
                    slot = self.pool.slots[task.slot]
                    if slot.generation == task.generation:
                        inflight[ref] = task  # requeued with the rest of that worker's tasks
                        requeue_slot(task.slot)
                        self.pool.replace(task.slot, type(error).__name__)
                    elif task.chunk not in finished and task.chunk not in queue:
                        queue.appendleft(task.chunk)
                        stats.rescheduled_chunks += 1
                    continue
                except ray.exceptions.RayTaskError as error:
                    raise _task_failure(error) from None
                except ray.exceptions.RayError as error:  # lost object, etc.: play it again
                    logger.warning("chunk %d failed (%s); rescheduling", task.chunk, error)
                    if task.chunk not in finished and task.chunk not in queue:
                        queue.appendleft(task.chunk)
                        stats.rescheduled_chunks += 1
                    continue
                if task.chunk in finished:
                    stats.duplicates_dropped += len(records)
                    continue
                finished.add(task.chunk)
                durations.append(time.perf_counter() - task.started)
                for record in records:
                    MatchRecord.from_dict(record)  # validate at the process boundary
                    if record["match_id"] not in wanted or not self.store.write(record):
                        stats.duplicates_dropped += 1
                    else:
                        stats.played += 1
                        per_slot[task.slot] += 1
                report()
        finally:
            self.store.close()
            self._cancel(list(inflight))
            stats.seconds = time.perf_counter() - started
            stats.workers = [
                {"slot": s.index, **s.info, "started": bool(s.info), "games": per_slot[s.index]}
                for s in self.pool.slots
            ]
        return stats

    def _dispatch(self, chunks, queue, finished, inflight, durations, stats, backed_up) -> None:
        cfg = self.config
        now = time.perf_counter()
        for slot in self.pool.slots:
            if slot.ready is not None:
                continue
            load = sum(1 for t in inflight.values() if t.slot == slot.index)
            while load < cfg.prefetch and queue:
                index = queue.popleft()
                if index in finished:
                    continue
                self._submit(slot, index, chunks, inflight, now)
                load += 1
            if queue or load or not durations or cfg.backup_after <= 0:
                continue
            # Tail: back up the oldest unfinished chunk that runs far longer than usual on
            # another worker; each chunk gets at most one backup.
            limit = cfg.backup_after * statistics.median(durations)
            candidates = [
                t
                for t in inflight.values()
                if t.slot != slot.index
                and t.chunk not in finished
                and t.chunk not in backed_up
                and now - t.started > limit
            ]
            if candidates:
                oldest = min(candidates, key=lambda t: t.started)
                self._submit(slot, oldest.chunk, chunks, inflight, now)
                backed_up.add(oldest.chunk)
                stats.backup_chunks += 1

    def _submit(self, slot, index: int, chunks, inflight, now: float) -> None:
        import ray

        if self.shipped is not None and self._shipped_ref is None:
            self._shipped_ref = ray.put(self.shipped)
        ref = slot.handle.play.remote(chunks[index], self._shipped_ref)
        inflight[ref] = _Task(index, slot.index, slot.generation, now)

    def _worker_ready(self, index: int, ref, requeue_slot) -> None:
        import ray

        slot = self.pool.slots[index]
        try:
            slot.info = ray.get(ref)
            slot.ready = None
        except ray.exceptions.RayActorError as error:
            requeue_slot(index)
            self.pool.replace(index, f"failed to start: {error}")
        except ray.exceptions.RayTaskError as error:
            raise _task_failure(error) from None

    def _placement_hint(self) -> str:
        import ray

        available = ray.available_resources()
        cfg = self.pool.config
        return (
            f"no worker started within {self.config.startup_timeout_s:.0f}s: each worker "
            f"asks for {cfg.cpus_per_worker:g} CPU and {cfg.gpus_per_worker:g} GPU, the "
            f"cluster has {available.get('CPU', 0):g} CPU and {available.get('GPU', 0):g} "
            "GPU free (lower --cpus-per-worker/--gpus-per-worker or add nodes)"
        )

    @staticmethod
    def _cancel(refs: list) -> None:
        import ray

        for ref in refs:
            try:
                ray.cancel(ref)
            except Exception:  # already finished or its worker is gone: nothing to cancel
                pass


def _task_failure(error) -> Exception:
    """A worker raised: user mistakes stay one-line InputErrors, the rest keep their cause."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, InputError):
        return InputError(str(cause))
    return RuntimeError(f"a worker failed: {cause!r}" if cause is not None else str(error))
