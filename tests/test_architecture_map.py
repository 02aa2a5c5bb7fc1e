"""ARCHITECTURE.md's folder map is the tree: every path it lists exists, and every module of the
five packages (and every sub-package) is listed, so a file added, moved or deleted without its
line in the map fails here rather than leaving the map to drift.

The map is the fenced block under ``## Folder map``: one entry per line, indented two spaces per
level under its folder (``llm/`` then ``  agents.py``), a path relative to that folder
(``registry/store.py``) or several separated by commas (``sft.py, dpo.py``), then its
description; lines indented to the description column continue the one above."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("games", "agents", "training", "arena", "ratings")
DESCRIPTION_COLUMN = 16  # an entry's name starts left of this; continuations start right of it
UNLISTED = {"__init__.py", "__main__.py"}  # a package's own files go with its folder


def map_block(text: str) -> list[str]:
    """The lines of the fenced block under ``## Folder map``."""
    section = text.split("\n## Folder map", 1)[1]
    return section.split("```", 2)[1].strip("\n").splitlines()


def listed_paths(lines: list[str]) -> list[str]:
    """Every path the map names, relative to the repository (folders end with ``/``)."""
    paths, folders = [], []  # folders: (indent, path) of the enclosing folder entries
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= DESCRIPTION_COLUMN:
            continue  # a continuation of the description above
        names = re.split(r"\s{2,}", line.strip())[0]
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        for name in (n.strip() for n in names.split(",")):
            paths.append(parent + name)
            if name.endswith("/"):
                folders.append((indent, parent + name))
    return paths


def package_modules(root: Path) -> set[str]:
    """Every module (``.py`` besides ``__init__``/``__main__``) and sub-package folder of the
    five packages, as the map writes them."""
    found = set()
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            rel = path.relative_to(root)
            if "__pycache__" in rel.parts:
                continue
            if path.is_file() and path.suffix == ".py" and path.name not in UNLISTED:
                found.add(rel.as_posix())
            elif path.is_dir() and (path / "__init__.py").is_file():
                found.add(rel.as_posix() + "/")
    return found


def map_problems(text: str, root: Path) -> list[str]:
    listed = listed_paths(map_block(text))
    missing = [p for p in listed if not (root / p).exists()]
    unlisted = sorted(package_modules(root) - set(listed))
    return [f"listed but not in the tree: {p}" for p in missing] + [
        f"in the tree but not in the map: {p}" for p in unlisted
    ]


def test_the_folder_map_is_the_tree():
    problems = map_problems((ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8"), ROOT)
    assert not problems, "ARCHITECTURE.md's folder map:\n" + "\n".join(problems)


def test_a_stale_or_missing_entry_is_found():
    """The check itself can fail: a listed file that is gone, a module that is not listed."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    planted = text.replace("  match.py  ", "  matchs.py ", 1)
    assert planted != text
    assert map_problems(planted, ROOT) == [
        "listed but not in the tree: games/matchs.py",
        "in the tree but not in the map: games/match.py",
    ]
