"""Match logs as the builders' input: streaming every shard, or playing the matches first.

Playing on the fly writes an ordinary match log beside the dataset, so a build from played
matches is recorded (and reproduced) exactly like a build from the arena's logs: its input is
a file with a hash. The records' wall-clock ``timing`` is left out of that log, so the same
seed gives the same bytes and ``arena reproduce`` can compare the hash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from agents import make_agent, parse_spec
from games import InputError, load_game
from games.jsonl import JsonlWriter, ReadStats
from games.records import MatchRecord, match_files, read_matches
from games.runner import DEFAULT_BATCH, LocalRunner, Runner
from training.config import PlaySpec

log = logging.getLogger(__name__)


def input_files(inputs: tuple[str, ...] | list[str]) -> list[Path]:
    """Every match-log file named by ``inputs`` (files, or folders of ``*.jsonl`` shards)."""
    if not inputs:
        raise InputError("no match logs given (pass match-log files/folders, or --play)")
    files: list[Path] = []
    for item in inputs:
        found = match_files(item)
        if not found:
            raise InputError(f"no *.jsonl match logs in {item}")
        files.extend(found)
    return files


def iter_records(
    files: list[Path], *, skip_bad: bool, quarantine_dir: Path | None, stats: ReadStats
) -> Iterator[MatchRecord]:
    """Stream validated records from ``files`` in order; bad lines stop or are quarantined."""
    for path in files:
        quarantine = quarantine_dir / f"{path.name}.bad" if quarantine_dir else None
        yield from read_matches(path, skip_bad=skip_bad, quarantine=quarantine, stats=stats)


def play_to_log(
    spec: PlaySpec,
    out: Path,
    batch: int = DEFAULT_BATCH,
    runner: Runner | None = None,
    **agent_options,
) -> Path:
    """Play ``spec``'s matches and write them to ``out`` (JSONL); ``runner`` plays them
    (``games.runner``; default: a ``LocalRunner`` here, ``batch`` games at a time)."""
    handle = load_game(spec.game)
    specs = [parse_spec(s).raw for s in spec.agents]
    jobs = spec.jobs("play")
    log.info("playing %d games of %s: %s vs %s", len(jobs), handle.spec, *specs)
    if runner is None:
        agents = {s: make_agent(s, handle, **agent_options) for s in dict.fromkeys(specs)}
        runner = LocalRunner(agents, batch)
    with JsonlWriter(out, mode="w") as writer:
        runner(jobs, lambda record: writer.write({**record.to_dict(), "timing": {}}))
    return out
