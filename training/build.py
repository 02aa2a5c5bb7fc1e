"""What every dataset build shares (``training.sft_data``, ``training.pref_data``): the inputs
(matches played first when asked, every input log hashed), the streaming skeleton around a
builder's rows (split writer, quarantine of malformed lines, a manifest with sizes and drops),
and the result.

A builder supplies only its rows: ``build_dataset(config, "sft", rows=...)`` where
``rows(records, writer, drops)`` reads the match records (streamed, never listed), writes rows
with ``writer.add`` or counts them under a drop reason in ``drops``, and returns how many moves
it considered. Every move read is either written or counted; nothing disappears silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agents import parse_spec
from games.jsonl import ReadStats
from games.records import MatchRecord, MoveRecord
from training.config import to_dict
from training.devsets import HeldOut
from training.logs import input_files, iter_records, play_to_log
from training.manifest import Manifest
from training.rows import Drops, NoUsableData, SplitWriter

Rows = Callable[[Iterator[MatchRecord], SplitWriter, Drops], int]


@dataclass
class BuildResult:
    """What a dataset build wrote, and what it dropped and why."""

    manifest: Manifest
    paths: dict[str, Path]
    written: dict[str, int]
    considered: int
    drops: Drops
    read: ReadStats = field(default_factory=ReadStats)

    def summary(self) -> str:
        lines = [
            f"considered {self.considered}; kept {sum(self.written.values())} "
            f"(train {self.written['train']}, held-out {self.written['heldout']})"
        ]
        for reason, count in sorted(self.drops.items(), key=lambda kv: -kv[1]):
            lines.append(f"  dropped {count}: {reason}")
        if self.read.bad:
            lines.append(
                f"  {self.read.bad} malformed match lines quarantined in {self.read.quarantine}"
            )
        lines.extend(f"  wrote {path}" for path in self.paths.values())
        return "\n".join(lines)


def build_dataset(
    config,
    name: str,
    rows: Rows,
    *,
    seeds: dict[str, int],
    nothing_kept: tuple[str, str],
    extra: dict | None = None,
) -> BuildResult:
    """Build ``<name>.jsonl`` and ``<name>.heldout.jsonl`` in ``config.out`` with
    ``<name>.manifest.json``, the rows coming from ``rows`` (see the module docstring).

    Args:
        config: an ``SFTDataConfig`` or ``PrefsDataConfig`` (inputs, play, out, heldout,
            seed, seats, balance_seats, skip_bad).
        name: ``sft`` or ``prefs``: the file names and the manifest's kind (``sft-data``).
        seeds: the manifest's seeds.
        nothing_kept: ``(what, hint)`` of the error when no training row is kept
            (``no SFT rows kept from 40 moves (...); check --agents``).
        extra: more entries of the manifest's ``dataset`` section.

    Raises:
        NoUsableData: no training row kept (the same inputs would fail again).
        InputError: no input, or malformed input (unless ``skip_bad``).
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(kind=f"{name}-data", run_id=out.name, config=to_dict(config), seeds=seeds)
    files = prepare_inputs(config, manifest, out)
    drops, stats = Drops(), ReadStats()
    writer = SplitWriter(out, name, config.heldout, config.seed, balance_wanted(config))
    try:
        with manifest.stage("build"):
            records = iter_records(files, skip_bad=config.skip_bad, quarantine_dir=out, stats=stats)
            considered = rows(records, writer, drops)
            written = writer.finish(drops)
    except BaseException:
        writer.abort()
        raise
    if stats.bad:
        drops.drop("malformed match line (quarantined)", stats.bad)
    if written["train"] == 0:
        what, hint = nothing_kept
        raise NoUsableData(
            f"no {what} kept from {considered} moves ("
            + ", ".join(f"{r}: {c}" for r, c in drops.items())
            + f"); {hint}"
        )
    paths = writer.paths()
    manifest.add_outputs(paths.values())
    manifest.dataset = {
        "splits": dataset_stats(paths),
        "considered": considered,
        "dropped": dict(drops),
        "devset_excluded": drops.get(HeldOut.REASON, 0),
        "records_read": stats.read,
        "bad_lines": stats.bad,
        **(extra or {}),
    }
    manifest.write(out / f"{name}.manifest.json")
    return BuildResult(manifest, paths, written, considered, drops, stats)


def selected_seats(
    record: MatchRecord, agents: frozenset[str] | None, seats: tuple[int, ...] | None
) -> list[bool]:
    """Which seats of ``record`` a builder learns from (by agent spec and seat index)."""
    return [
        (agents is None or record.seats[seat].spec in agents) and (seats is None or seat in seats)
        for seat in (0, 1)
    ]


def selected_moves(
    records, agents, seats, drops: Drops, counter: list[int]
) -> Iterator[tuple[MatchRecord, MoveRecord]]:
    """``(record, move)`` for every move of the selected seats, in log order; each move read
    is counted in ``counter[0]``, and those of other seats or agents are counted as drops."""
    for record in records:
        chosen = selected_seats(record, agents, seats)
        for move in record.moves:
            counter[0] += 1
            if chosen[move.player]:
                yield record, move
            else:
                drops.drop("seat or agent not selected")


def balance_wanted(config) -> bool:
    """Balance seats unless asked not to, or unless only one seat is selected."""
    return config.balance_seats and (config.seats is None or len(set(config.seats)) == 2)


def normalise_agents(agents: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if not agents else frozenset(parse_spec(a).raw for a in agents)


def prepare_inputs(config, manifest: Manifest, out: Path) -> list[Path]:
    """Play the configured matches (if any), then list and hash every input log."""
    inputs = list(config.inputs)
    if config.play is not None:
        with manifest.stage("play"):
            inputs.append(str(play_to_log(config.play, out / "matches.jsonl")))
        manifest.seeds["play"] = config.play.seed
    files = input_files(inputs)
    with manifest.stage("hash_inputs"):
        manifest.add_inputs(files)
    return files


def dataset_stats(paths: dict[str, Path]) -> dict:
    """Rows and characters per split (tokens are counted at training time, per tokenizer)."""
    stats = {}
    for split, path in paths.items():
        rows = chars = 0
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                obj = json.loads(line)
                rows += 1
                chars += sum(len(v) for k, v in obj.items() if k in _TEXT_FIELDS)
        stats[split] = {"rows": rows, "chars": chars}
    return stats


_TEXT_FIELDS = ("prompt", "completion", "chosen", "rejected")
