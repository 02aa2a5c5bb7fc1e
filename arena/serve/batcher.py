"""One thread that answers the LLM moves of every web game together.

Each HTTP request that needs an agent move would otherwise call the engine alone: 64 people
playing at once would mean 64 forward passes of one row. Requests instead put their pending
decision on a queue; a single worker thread takes everything that is waiting (after a short
gather window) and answers it with ``agents.llm.decide_batch``, which puts the moves of all
adapter versions that share a base into the same forward passes. Scripted agents do not come
here; they are cheap and run in the request's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future

logger = logging.getLogger(__name__)


class DecisionBatcher:
    """``submit(agent, obs, rng) -> Future[Decision]``; ``close()`` stops the worker.

    Args:
        window_s: how long the worker waits for more requests once one has arrived.
        max_batch: the most decisions answered in one call.
    """

    def __init__(self, window_s: float = 0.005, max_batch: int = 256):
        self.window_s, self.max_batch = window_s, max_batch
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.batches = 0
        self.decisions = 0
        self._thread = threading.Thread(target=self._run, name="llm-batcher", daemon=True)
        self._thread.start()

    def submit(self, agent, obs, rng) -> Future:
        if self._stop.is_set():
            raise RuntimeError("the decision batcher is closed")
        future: Future = Future()
        self._queue.put((agent, obs, rng, future))
        return future

    def _run(self) -> None:
        from agents.llm import decide_batch

        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            items = [first]
            deadline = time.monotonic() + self.window_s
            while len(items) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    items.append(self._queue.get(timeout=max(remaining, 0)))
                except queue.Empty:
                    break
            try:
                decisions = decide_batch([(agent, obs, rng) for agent, obs, rng, _ in items])
            except Exception as error:  # handed to every waiting request, which reports it
                logger.exception("batched decision failed")
                for *_, future in items:
                    future.set_exception(error)
                continue
            self.batches += 1
            self.decisions += len(items)
            for (*_, future), decision in zip(items, decisions, strict=True):
                future.set_result(decision)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        while not self._queue.empty():
            *_, future = self._queue.get_nowait()
            future.set_exception(RuntimeError("the server is shutting down"))
