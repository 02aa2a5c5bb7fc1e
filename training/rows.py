"""Dataset rows (SFT and preference) and the streaming machinery that writes them.

Builders stream match logs once and hand each candidate row to a ``SplitWriter``, which
assigns it to the train or held-out split by its group (a match id, so one game never
straddles the splits), spools it to disk per (split, seat), and at the end writes each split
balanced across seats. Memory stays bounded by the de-duplication digests (16 bytes per kept
row) and the balancing subsample's indices, never by the rows themselves, so logs larger than
memory build fine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from games import InputError
from games.jsonl import JsonlWriter, iter_jsonl, require
from games.limits import check_regular_file

SPLITS = ("train", "heldout")


def _completion(obj: dict, key: str, where: str) -> str:
    text = require(obj, key, str, where)
    if not (text.startswith(" ") and text.endswith("\n") and text.strip()):
        raise ValueError(f"{where}'{key}' must look like games.completion_text: ' move\\n'")
    return text


class NoUsableData(InputError):
    """The inputs hold no row to train on (no rows kept, or a seat with none to balance).
    Not a broken run: the same inputs give the same answer, so a night ends rejected with
    this reason instead of failing on every rerun."""


@dataclass(frozen=True)
class SFTRow:
    """One TRL prompt-completion row plus where it came from."""

    prompt: str
    completion: str
    game: str
    source: str
    match_id: str
    ply: int
    seat: int

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(obj: dict) -> SFTRow:
        return SFTRow(
            prompt=require(obj, "prompt", str),
            completion=_completion(obj, "completion", ""),
            game=require(obj, "game", str),
            source=require(obj, "source", str),
            match_id=require(obj, "match_id", str),
            ply=require(obj, "ply", int),
            seat=_seat(obj),
        )


@dataclass(frozen=True)
class PrefRow:
    """One TRL preference row: ``chosen`` beats ``rejected`` at ``prompt``.

    ``chosen_value``/``rejected_value`` are mean returns for the mover (exact solver values
    for the solver method); ``rollouts`` is the number of rollouts (or games) per action behind
    each value; ``confidence`` is P(gap > threshold) (1.0 for exact values).
    """

    prompt: str
    chosen: str
    rejected: str
    game: str
    chosen_value: float
    rejected_value: float
    rollouts: int
    confidence: float
    source: str
    match_id: str
    ply: int
    seat: int

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(obj: dict) -> PrefRow:
        chosen = _completion(obj, "chosen", "")
        rejected = _completion(obj, "rejected", "")
        if chosen == rejected:
            raise ValueError("'chosen' and 'rejected' are the same completion")
        confidence = require(obj, "confidence", float)
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"'confidence' must lie in [0, 1], got {confidence}")
        return PrefRow(
            prompt=require(obj, "prompt", str),
            chosen=chosen,
            rejected=rejected,
            game=require(obj, "game", str),
            chosen_value=require(obj, "chosen_value", float),
            rejected_value=require(obj, "rejected_value", float),
            rollouts=require(obj, "rollouts", int),
            confidence=confidence,
            source=require(obj, "source", str),
            match_id=require(obj, "match_id", str),
            ply=require(obj, "ply", int),
            seat=_seat(obj),
        )


def _seat(obj: dict) -> int:
    seat = require(obj, "seat", int)
    if seat not in (0, 1):
        raise ValueError("'seat' must be 0 or 1")
    return seat


def read_rows(path: str | Path, parse, *, skip_bad: bool = False) -> list:
    """Every validated row of a dataset file; an empty dataset is an error."""
    path = check_regular_file(path, "dataset")
    rows = list(iter_jsonl(path, parse, skip_bad=skip_bad))
    if not rows:
        raise InputError(f"dataset {path} has no rows")
    return rows


def dataset_game(path: str | Path) -> str:
    """The game of a dataset (from its first row), to file its adapter under."""
    from games import load_game

    path = check_regular_file(path, "dataset")
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    try:
        return load_game(json.loads(first.decode("utf-8"))["game"]).name
    except (ValueError, KeyError, TypeError):
        raise InputError(
            f"{path}:1: cannot read the game from the first row; pass --game"
        ) from None


def digest(*parts: str) -> bytes:
    """A 16-byte key for de-duplication (BLAKE2b; collisions are negligible at 2^-64)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.digest()


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from (seed, key): the split a group falls in, order-free."""
    raw = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") / 2**64


class Drops(Counter):
    """Rows dropped, by reason (printed by the CLI and written to the manifest)."""

    def drop(self, reason: str, count: int = 1) -> None:
        self[reason] += count


class SplitWriter:
    """Spools rows per (split, seat), then writes each split balanced across seats.

    Args:
        out_dir: where ``<name>.jsonl`` and ``<name>.heldout.jsonl`` are written.
        name: ``sft`` or ``prefs``.
        heldout: fraction of groups held out.
        seed: split and subsample seed.
        balance: downsample the larger seat of each split to the smaller one.
    """

    def __init__(self, out_dir: Path, name: str, heldout: float, seed: int, balance: bool):
        if not 0.0 <= heldout < 1.0:
            raise InputError(f"held-out fraction must lie in [0, 1), got {heldout}")
        self.out_dir = Path(out_dir)
        self.name = name
        self.heldout = heldout
        self.seed = seed
        self.balance = balance
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{name}-spool-", dir=self.out_dir))
        self._spools = {
            (split, seat): JsonlWriter(self._tmp / f"{split}-{seat}.jsonl", mode="w")
            for split in SPLITS
            for seat in (0, 1)
        }
        self.counts = {key: 0 for key in self._spools}

    def add(self, row: dict, group: str) -> None:
        split = "heldout" if unit_hash(self.seed, group) < self.heldout else "train"
        key = (split, row["seat"])
        self._spools[key].write(row)
        self.counts[key] += 1

    def paths(self) -> dict[str, Path]:
        return {
            "train": self.out_dir / f"{self.name}.jsonl",
            "heldout": self.out_dir / f"{self.name}.heldout.jsonl",
        }

    def finish(self, drops: Drops) -> dict[str, int]:
        """Write the splits; returns rows written per split. Removes the spool."""
        for spool in self._spools.values():
            spool.close()
        written = {}
        try:
            for split, path in self.paths().items():
                written[split] = self._write_split(split, path, drops)
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return written

    def abort(self) -> None:
        for spool in self._spools.values():
            spool.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _write_split(self, split: str, path: Path, drops: Drops) -> int:
        n = [self.counts[(split, 0)], self.counts[(split, 1)]]
        keep: list[set[int] | None] = [None, None]
        if self.balance and n[0] != n[1]:
            k = min(n)
            if k == 0 and split == "train":
                empty = n.index(0)
                raise NoUsableData(
                    f"cannot balance seats: seat {empty} has no {self.name} rows "
                    f"(seat {1 - empty} has {n[1 - empty]}); pass --no-balance to keep them"
                )
            big = int(np.argmax(n))
            rng = np.random.default_rng([self.seed, SPLITS.index(split), big])
            keep[big] = set(rng.choice(n[big], size=k, replace=False).tolist())
            drops.drop("seat balance", n[big] - k)
        readers = [_numbered(self._tmp / f"{split}-{seat}.jsonl", keep[seat]) for seat in (0, 1)]
        count = 0
        with JsonlWriter(path, mode="w") as writer:
            # Interleave the seats so that any prefix of the file is balanced too.
            pending = [next(r, None) for r in readers]
            while any(p is not None for p in pending):
                for seat in (0, 1):
                    if pending[seat] is not None:
                        writer.write(pending[seat])
                        count += 1
                        pending[seat] = next(readers[seat], None)
        return count


def _numbered(path: Path, keep: set[int] | None):
    with path.open(encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            if keep is None or index in keep:
                yield json.loads(line)
