"""One runner interface for playing match jobs, and its local implementation.

A runner takes a list of ``MatchJob`` and returns their ``MatchRecord`` (in any order; each
record carries its match id), handing each record to an optional ``sink`` as it is finished
(a JSONL writer, a progress bar). ``LocalRunner`` plays in this process, ``batch`` games in
lockstep at a time (one ``play_matches`` call per batch, so an LLM agent answers a batch in one
forward pass); ``arena.execution.runner.RayRunner`` plays the same jobs on Ray workers and gives the
same records, because every game's randomness is in its job. Callers below ``arena`` (dataset
builders, evaluation) take a runner as an argument and default to a ``LocalRunner``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from games.defaults import DEFAULT_BATCH
from games.match import MatchJob, play_matches
from games.player import Agent
from games.records import MatchRecord

Sink = Callable[[MatchRecord], None]


class Runner(Protocol):
    """Plays jobs; ``kind`` names the implementation in manifests (``local``, ``ray``)."""

    kind: str

    def __call__(self, jobs: Sequence[MatchJob], sink: Sink | None = None) -> list[MatchRecord]: ...


def play_in_batches(
    jobs: Sequence[MatchJob], agents: Mapping[str, Agent], batch: int, sink: Sink | None = None
) -> list[MatchRecord]:
    """Play ``jobs`` here, ``batch`` at a time, in order; each record goes to ``sink`` too."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    records: list[MatchRecord] = []
    for start in range(0, len(jobs), batch):
        for record in play_matches(jobs[start : start + batch], agents):
            if sink is not None:
                sink(record)
            records.append(record)
    return records


class LocalRunner:
    """``play_in_batches`` with fixed agents (keyed by seat spec) and batch size."""

    kind = "local"

    def __init__(self, agents: Mapping[str, Agent], batch: int = DEFAULT_BATCH):
        self.agents = agents
        self.batch = batch

    def __call__(self, jobs: Sequence[MatchJob], sink: Sink | None = None) -> list[MatchRecord]:
        return play_in_batches(jobs, self.agents, self.batch, sink)

    def close(self) -> None:
        """Nothing to release: the agents belong to the caller."""


def local_runner(agents: Mapping[str, Agent], batch: int = DEFAULT_BATCH) -> LocalRunner:
    return LocalRunner(agents, batch)
