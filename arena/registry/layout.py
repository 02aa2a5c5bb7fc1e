"""Where registered adapters live in a workspace, and what the folders themselves record.

A registered adapter is the folder ``adapters/<game>/<base>/<version>/`` of the workspace that
holds ``registry.sqlite``. The registry stores that path *relative to the workspace*
(``adapters/tic_tac_toe/small/v3``): a moved or copied workspace keeps working and never reads
another workspace's files. Each folder also carries ``registration.json`` (game, base,
version, number, parent, run id, night, time), written before the folder gets its final name,
so the folders alone say which version names were given out: an emptied or lost registry
beside them is refused (``check_not_orphaned``) instead of giving the same names again, and
``arena registry rebuild`` reconstructs it from them (``arena.registry.rebuild``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from games import InputError
from games.files import write_json

REGISTRATION_FILE = "registration.json"
EVENTS_DIR = "events"
ADAPTERS = "adapters"
_VERSION = re.compile(r"^v([0-9]+)$")


def base_key(base: str) -> str:
    """The registry key of a base spec: its last path component (``small``,
    ``/data/base/small`` and ``./small/`` all name base ``small``)."""
    key = str(base).rstrip("/").rsplit("/", 1)[-1]
    if not key:
        raise InputError(f"base '{base}' has no name")
    return key


def folder_name(game: str) -> str:
    """A game spec as a folder name: ``connect_four(rows=5)`` -> ``connect_four_rows_5``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", game).strip("_")[:64]


def adapter_dir(root: Path, game: str, base: str, version: str) -> Path:
    return root / ADAPTERS / folder_name(game) / base / version


def to_stored(root: Path, path: str | Path | None) -> str | None:
    """The path as the registry stores it: relative to the workspace ``root``."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return relocated(path.as_posix())


def relocated(stored: str) -> str:
    """An absolute path written by an older arena (schema 1) as this workspace's relative
    path: the part from its last ``adapters/`` component on. Registered adapters always live
    there, so the row then names this workspace's folder, never the original's."""
    parts = Path(stored).parts
    if ADAPTERS in parts:
        index = len(parts) - 1 - parts[::-1].index(ADAPTERS)
        return Path(*parts[index:]).as_posix()
    raise InputError(
        f"registry path {stored} is outside the workspace and not under adapters/; "
        "`arena registry rebuild` reconstructs the registry from the adapter folders"
    )


def to_absolute(root: Path, stored: str | None) -> str | None:
    """A stored path as the absolute folder in workspace ``root`` (None stays None)."""
    if stored is None:
        return None
    relative = relocated(stored) if Path(stored).is_absolute() else stored
    return str(root / relative)


def version_number(name: str) -> int | None:
    match = _VERSION.match(name)
    return int(match.group(1)) if match else None


def registered_folders(root: Path) -> list[Path]:
    """Every folder ``adapters/<game>/<base>/v<N>/`` of the workspace that holds an adapter
    (its weights or registration record): the versions some registry gave out."""
    top = root / ADAPTERS
    if not top.is_dir():
        return []
    found = []
    for folder in sorted(top.glob("*/*/v*")):
        if version_number(folder.name) is None or not folder.is_dir():
            continue
        if (folder / REGISTRATION_FILE).is_file() or (folder / "manifest.json").is_file():
            found.append(folder)
    return found


def max_number_on_disk(root: Path, game: str, base: str) -> int:
    """The highest version number with a folder in ``adapters/<game>/<base>/`` (0: none),
    registered or not: a folder left by a crash keeps its name from being given again."""
    parent = root / ADAPTERS / folder_name(game) / base
    if not parent.is_dir():
        return 0
    numbers = [version_number(p.name) for p in parent.iterdir() if p.is_dir()]
    return max([n for n in numbers if n is not None], default=0)


def check_not_orphaned(registry: Path) -> None:
    """Refuse to start an empty registry beside adapter folders some registry registered:
    their version names would be given out again (a new ``v1`` beside the old one)."""
    folders = registered_folders(registry.parent)
    if not folders:
        return
    shown = ", ".join(str(f.relative_to(registry.parent)) for f in folders[:3])
    more = f" and {len(folders) - 3} more" if len(folders) > 3 else ""
    raise InputError(
        f"registry {registry} is missing or empty, but the workspace holds registered adapters "
        f"({shown}{more}); a new registry would give their version names out again. Run "
        "`arena registry rebuild` to reconstruct it from the adapters and the night reports"
    )


def write_registration(folder: Path, record: dict) -> None:
    write_json(folder / REGISTRATION_FILE, record, sort_keys=True)


def read_registration(folder: Path) -> dict | None:
    path = folder / REGISTRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: unreadable ({error})") from None
    return data if isinstance(data, dict) else None


def save_event(root: Path, event) -> Path:
    """Keep a promotion or rollback as ``events/<id>.json`` (``arena registry rebuild`` reads
    them: one made after the last night report is not lost with the registry)."""
    return write_json(root / EVENTS_DIR / f"{event.id:08d}-{event.kind}.json", event.to_dict())
