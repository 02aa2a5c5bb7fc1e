"""A run's match log on disk: ``matches/<run>/shard-XXXX.jsonl``, written exactly once per match.

Each driver session appends to fresh shards (``shard-0000.jsonl``, then ``shard-0001.jsonl``
after a restart, ...), one flushed line per finished game, and never reopens an older shard
for appending: a crash can tear at most the last line of the shard being written, and the
next line can never be glued onto a torn one.

On resume every shard is read back through the validating reader (``games.records``). Lines
that fail validation, a torn last line included, are moved verbatim to
``shard-XXXX.jsonl.bad`` with the reason, the shard is rewritten without them (atomically:
temp file, fsync, rename), and their games count as missing, so the driver plays them again.
A second copy of a match id is quarantined the same way (first copy kept). Records whose id
the run does not schedule, or whose seed or seats differ from the scheduled job, mean the
folder belongs to another configuration: that is an error, never silently merged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from games import InputError
from games.files import atomic_write
from games.jsonl import JsonlWriter, ReadStats
from games.match import MatchJob
from games.records import MatchRecord, match_files, read_matches

logger = logging.getLogger(__name__)
_SHARD = re.compile(r"^shard-(\d{4,})\.jsonl$")


@dataclass
class LoadReport:
    """What ``ShardStore.load`` found."""

    shards: int = 0
    records: int = 0
    torn: int = 0
    invalid: int = 0
    duplicates: int = 0

    @property
    def quarantined(self) -> int:
        return self.torn + self.invalid + self.duplicates


class ShardStore:
    """The shards of one run; ``done`` holds the match ids already recorded."""

    def __init__(self, folder: str | Path, shard_records: int = 10_000):
        self.folder = Path(folder)
        self.shard_records = shard_records
        self.done: set[str] = set()
        self._writer: JsonlWriter | None = None
        self._in_shard = 0

    def shard_paths(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [p for p in match_files(self.folder) if _SHARD.match(p.name)]

    def load(self, expected: Mapping[str, MatchJob] | None = None) -> LoadReport:
        """Validate every shard, quarantine bad lines and duplicates, and fill ``done``.

        Args:
            expected: the run's jobs by match id; when given, every record must be one of
                them with the same game, seed and seats.

        Raises:
            InputError: a record that this run configuration did not schedule.
        """
        report = LoadReport()
        self.done.clear()
        for path in self.shard_paths():
            report.shards += 1
            self._load_one(path, expected, report)
        report.records = len(self.done)
        if report.quarantined:
            logger.warning(
                "%s: quarantined %d line(s) (%d torn, %d invalid, %d duplicate); "
                "their games will be played again",
                self.folder,
                report.quarantined,
                report.torn,
                report.invalid,
                report.duplicates,
            )
        return report

    def _load_one(
        self, path: Path, expected: Mapping[str, MatchJob] | None, report: LoadReport
    ) -> None:
        quarantine = path.with_name(path.name + ".bad")
        raw = path.read_bytes()
        torn_tail = bool(raw) and not raw.endswith(b"\n")
        stats = ReadStats()
        kept: list[MatchRecord] = []
        duplicates: list[MatchRecord] = []
        for record in read_matches(path, skip_bad=True, quarantine=quarantine, stats=stats):
            if record.match_id in self.done:
                duplicates.append(record)
                continue
            _check_expected(path, record, expected)
            self.done.add(record.match_id)
            kept.append(record)
        if torn_tail and stats.bad:
            report.torn += 1
            report.invalid += stats.bad - 1
        else:
            report.invalid += stats.bad
        report.duplicates += len(duplicates)
        if duplicates:
            with quarantine.open("a", encoding="utf-8") as handle:
                for record in duplicates:
                    entry = {
                        "file": str(path),
                        "reason": f"duplicate match_id {record.match_id}",
                        "text": json.dumps(record.to_dict(), separators=(",", ":")),
                    }
                    handle.write(json.dumps(entry) + "\n")
        if stats.bad or duplicates:
            _rewrite(path, kept)

    def records(self) -> Iterator[MatchRecord]:
        """Stream every recorded match (call after ``load``; shards are clean by then)."""
        for path in self.shard_paths():
            yield from read_matches(path)

    def _next_index(self) -> int:
        indices = [int(_SHARD.match(p.name).group(1)) for p in self.shard_paths()]
        return max(indices, default=-1) + 1

    def write(self, record: dict) -> bool:
        """Append ``record`` unless its match id is already recorded; True if written."""
        match_id = record["match_id"]
        if match_id in self.done:
            return False
        if self._writer is None or self._in_shard >= self.shard_records:
            self.close()
            path = self.folder / f"shard-{self._next_index():04d}.jsonl"
            self._writer = JsonlWriter(path, mode="x")
            self._in_shard = 0
        self._writer.write(record)
        self._in_shard += 1
        self.done.add(match_id)
        return True

    def close(self) -> None:
        """Flush to disk and close the current shard (the next write opens a new one)."""
        if self._writer is not None:
            self._writer.sync()
            self._writer.close()
            self._writer = None


def _check_expected(
    path: Path, record: MatchRecord, expected: Mapping[str, MatchJob] | None
) -> None:
    if expected is None:
        return
    job = expected.get(record.match_id)
    if job is None:
        raise InputError(
            f"{path}: match {record.match_id} is not part of this run's schedule; "
            "the folder holds another run (use a new --run-id)"
        )
    seats = tuple(seat.spec for seat in record.seats)
    if record.game != job.game or record.seed != job.seed or seats != job.seats:
        raise InputError(
            f"{path}: match {record.match_id} was played with another configuration "
            f"(game {record.game}, seats {list(seats)}, seed {record.seed}); "
            "use a new --run-id"
        )


def _rewrite(path: Path, records: list[MatchRecord]) -> None:
    """Replace ``path`` by ``records`` atomically (a crash leaves the old or the new file)."""
    atomic_write(
        path,
        (
            json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
            for record in records
        ),
        fsync=True,
    )
