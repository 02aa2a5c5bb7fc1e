"""``arena registry rebuild``: reconstruct ``registry.sqlite`` from what the workspace keeps
beside it, so that a lost, emptied or damaged registry never costs the version history.

Sources (each written atomically when the registry changed):

- ``adapters/<game>/<base>/v<N>/registration.json``: every registered version (number,
  parent, training run, night, time; ``layout``), with ``manifest.json`` as a fallback for
  folders registered before registration records existed;
- ``nights/<id>/report.json``: the registry's history as of the night's end (every event,
  the night's gate decisions and rating snapshot; ``history_for_report``), and
  ``nights/<id>/manifest.json``: the night's status, configuration and stages;
- ``events/<id>.json``: each promotion or rollback (``layout.save_event``), so one made after
  the last night is kept too.

Events are append-only and keep their ids, so their union replays the champion and every
version's status exactly (``replay``). What none of the sources saw (a change made after the
last night by a process that died before writing its event file) cannot come back; the summary
says what was restored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from arena.registry.layout import (
    EVENTS_DIR,
    adapter_dir,
    read_registration,
    registered_folders,
    to_stored,
    version_number,
)
from arena.registry.store import BASE_VERSION, Registry
from games import InputError

logger = logging.getLogger(__name__)


def history_for_report(registry: Registry, night: str) -> dict:
    """What a night report keeps of the registry: every event so far (small, append-only),
    the night's gate decisions (with their reports) and the night's rating snapshot."""
    return {
        "events": [e.to_dict() for e in registry.events()],
        "gate_decisions": [g.to_dict() for g in registry.gate_decisions(night=night)],
        "ratings": [r.to_dict() for r in registry.ratings(night=night)],
    }


@dataclass
class Sources:
    versions: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    events: dict[int, dict] = field(default_factory=dict)
    gates: dict[int, dict] = field(default_factory=dict)
    ratings: dict[int, dict] = field(default_factory=dict)
    nights: dict[str, dict] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _read_json(path: Path, notes: list[str]) -> dict | None:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as error:
        notes.append(f"skipped {path}: unreadable ({error})")
        return None
    return data if isinstance(data, dict) else None


def _version_from_folder(root: Path, folder: Path, notes: list[str]) -> dict | None:
    record = read_registration(folder)
    if record is not None:
        return record
    manifest = _read_json(folder / "manifest.json", notes) or {}
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    parent = config.get("init_adapter") or config.get("adapter")
    parent = Path(parent).name if parent and version_number(Path(parent).name) else None
    notes.append(f"{folder.relative_to(root)} has no {'registration.json'}: parent and night "
                 "come from its manifest")  # fmt: skip
    return {
        "game": config.get("game") or folder.parent.parent.name,
        "base": folder.parent.name,
        "version": folder.name,
        "number": version_number(folder.name),
        "parent": parent,
        "run_id": manifest.get("run_id"),
        "manifest_sha256": None,
        "night": None,
        "created_at": manifest.get("created") or "",
    }


def gather(root: Path) -> Sources:
    """Read every source in workspace ``root``."""
    src = Sources()
    for folder in registered_folders(root):
        row = _version_from_folder(root, folder, src.notes)
        if row is not None:
            row["path"] = to_stored(root, folder)
            src.versions[(row["game"], row["base"], row["version"])] = row
    src.counts["adapter folders"] = len(src.versions)
    reports = sorted((root / "nights").glob("*/report.json"))
    for path in reports:
        report = _read_json(path, src.notes) or {}
        history = report.get("registry") or {}
        for event in history.get("events", []):
            src.events[int(event["id"])] = event
        for gate in history.get("gate_decisions", []):
            src.gates[int(gate["id"])] = gate
        for rating in history.get("ratings", []):
            src.ratings[int(rating["id"])] = rating
        manifest = _read_json(path.with_name("manifest.json"), src.notes) or {}
        if manifest.get("night") and manifest.get("started_at"):
            src.nights[manifest["night"]] = {
                "night": manifest["night"],
                "config": manifest.get("config") or {},
                "status": manifest.get("status") or "failed",
                "outcome": report.get("outcome"),
                "started_at": manifest["started_at"],
                "finished_at": manifest.get("finished_at"),
            }
            src.stages += [s for s in manifest.get("stages", []) if isinstance(s, dict)]
        if not history:
            src.notes.append(f"{path} predates registry history in reports")
    src.counts["night reports"] = len(reports)
    files = sorted((root / EVENTS_DIR).glob("*.json"))
    for path in files:
        event = _read_json(path, src.notes)
        if event and "id" in event:
            src.events[int(event["id"])] = event
    src.counts["event files"] = len(files)
    return src


def replay(src: Sources) -> dict[tuple[str, str], dict]:
    """Apply the events in id order, as the registry did: statuses of the versions they name
    and the champion of each (game, base). Returns the champion rows."""
    champions: dict[tuple[str, str], dict] = {}

    def version(game: str, base: str, name: str | None) -> dict | None:
        if name is None:
            return None
        key = (game, base, name)
        if key not in src.versions:
            folder = None if name == BASE_VERSION else adapter_dir(Path("."), game, base, name)
            src.versions[key] = {
                "game": game, "base": base, "version": name, "number": version_number(name),
                "parent": None, "run_id": None, "manifest_sha256": None, "night": None,
                "created_at": "", "path": None if folder is None else folder.as_posix(),
            }  # fmt: skip
            if name != BASE_VERSION:
                src.notes.append(f"{game}/{base} {name}: in the history but its folder is gone")
        return src.versions[key]

    for event_id in sorted(src.events):
        e = src.events[event_id]
        key, kind = (e["game"], e["base"]), e["kind"]
        old = version(*key, e.get("from_version"))
        new = version(*key, e["to_version"])
        if kind == "init":
            new.update(status="champion", night=e.get("night"), created_at=e["created_at"])
        elif kind == "reject":
            new["status"] = "rejected"
        else:  # promote (the old champion retires) or rollback (it is demoted)
            if old is not None:
                old["status"] = "retired" if kind == "promote" else "rejected"
            new["status"] = "champion"
        if kind in ("init", "promote", "rollback"):
            champions[key] = {
                "game": key[0], "base": key[1], "version": e["to_version"],
                "since": e["created_at"], "event_id": event_id,
            }  # fmt: skip
    return champions


def _insert(conn: sqlite3.Connection, table: str, row: dict, columns: list[str]) -> None:
    values = [json.dumps(row[c]) if isinstance(row.get(c), dict) else row.get(c) for c in columns]
    marks = ",".join("?" * len(columns))
    conn.execute(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", values)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()]


def _refuse_live(path: Path) -> None:
    """A readable registry with versions is not rebuilt over; a damaged one is moved aside."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            count = conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
    except sqlite3.DatabaseError:
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        logger.warning("moved the damaged registry to %s", aside)
        return
    if count:
        raise InputError(
            f"registry {path} is readable and holds {count} versions; rebuild replaces only a "
            "missing, empty or damaged registry (move it away first to rebuild anyway)"
        )


def rebuild(workspace_root: Path) -> dict:
    """Reconstruct ``registry.sqlite`` of ``workspace_root``; returns a summary (counts per
    source, the champion per game and base, notes on what could not be restored)."""
    root = Path(workspace_root).resolve()
    path = root / "registry.sqlite"
    _refuse_live(path)
    src = gather(root)
    champions = replay(src)
    temp = path.with_name(f".{path.name}.rebuild-{os.getpid()}")
    temp.unlink(missing_ok=True)
    with Registry(temp, _rebuilding=True) as reg, reg.transaction() as conn:
        for row in sorted(src.versions.values(), key=lambda r: (r["game"], r["base"],
                                                                 r["number"] or 0)):  # fmt: skip
            row.setdefault("status", "candidate")
            _insert(conn, "versions", row, _columns(conn, "versions"))
        for table, rows in (("champions", champions.values()), ("events", src.events.values()),
                            ("gate_decisions", src.gates.values()),
                            ("ratings", src.ratings.values()), ("nights", src.nights.values()),
                            ("stages", src.stages)):  # fmt: skip
            columns = _columns(conn, table)
            for row in rows:
                _insert(conn, table, row, columns)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(temp, path)
    return {
        "registry": str(path),
        "sources": src.counts,
        "versions": len(src.versions),
        "events": len(src.events),
        "gate_decisions": len(src.gates),
        "nights": len(src.nights),
        "champions": {f"{g} on {b}": c["version"] for (g, b), c in sorted(champions.items())},
        "notes": src.notes,
    }
