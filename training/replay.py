"""A replay buffer for nights that continue from the champion.

A night fine-tunes the champion's adapter further instead of re-fitting from the base, so its
training set must keep what earlier nights taught: tonight's new rows are mixed with the rows of
earlier nights (experience replay against catastrophic forgetting; as in the replay buffer of
AlphaZero, Silver et al. 2018, which trains on the games of the last iterations, not only the
newest). The mix is written as one JSONL file next to tonight's dataset; its summary says how
many rows each night contributed, so a report can say where the data came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from games.files import atomic_write
from games.jsonl import iter_jsonl
from training.rows import SFTRow, digest


@dataclass(frozen=True)
class ReplayMix:
    """What went into a mixed training file.

    Attributes:
        path: the mixed JSONL file (tonight's rows first, then the replayed ones).
        new: tonight's rows.
        replayed: rows taken from earlier nights, per source label, in the given order.
        duplicates: earlier rows left out because tonight (or a later source) has them.
        capped: earlier rows left out by ``max_rows``.
    """

    path: Path
    new: int
    replayed: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    capped: int = 0

    @property
    def rows(self) -> int:
        return self.new + sum(self.replayed.values())

    def to_dict(self) -> dict:
        return {
            "file": str(self.path), "rows": self.rows, "new": self.new,
            "replayed": dict(self.replayed), "duplicates": self.duplicates,
            "capped": self.capped,
        }  # fmt: skip


def mix_replay(
    new: Path,
    earlier: list[tuple[str, Path]],
    out: Path,
    *,
    max_rows: int | None = None,
    seed: int = 0,
) -> ReplayMix:
    """Write ``out``: every row of ``new``, then the rows of ``earlier`` (``(label, path)``
    pairs, most recent first) that tonight's rows do not already hold, at most ``max_rows`` of
    them (a uniform sample over all earlier rows, seeded, when there are more).

    Rows are validated as SFT rows on read; a missing earlier file is an error (a replay that
    silently shrank would hide forgetting).
    """
    seen: set[bytes] = set()
    rows: list[SFTRow] = []
    for row in iter_jsonl(new, SFTRow.from_dict):
        seen.add(digest(row.prompt, row.completion))
        rows.append(row)
    fresh = len(rows)
    candidates: list[tuple[str, SFTRow]] = []
    duplicates = 0
    for label, path in earlier:
        for row in iter_jsonl(path, SFTRow.from_dict):
            key = digest(row.prompt, row.completion)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            candidates.append((label, row))
    capped = 0
    if max_rows is not None and len(candidates) > max_rows:
        rng = np.random.default_rng([seed, 0x5E1A])
        keep = np.sort(rng.choice(len(candidates), size=max_rows, replace=False))
        capped = len(candidates) - max_rows
        candidates = [candidates[i] for i in keep]
    replayed: dict[str, int] = {label: 0 for label, _ in earlier}
    for label, row in candidates:
        replayed[label] += 1
        rows.append(row)
    atomic_write(out, (json.dumps(row.to_dict(), ensure_ascii=False) + "\n" for row in rows))
    return ReplayMix(out, fresh, replayed, duplicates, capped)
