"""The leaf layers stay light: importing every module of ``games`` and ``ratings`` loads
neither torch nor Ray (checked in a fresh interpreter, so nothing else has loaded them).
The static layer contract is ``lint-imports`` (pyproject.toml), run by ``make test``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import importlib, json, pkgutil, sys
names = []
for package in ("games", "ratings"):
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ray", "transformers"))
print(json.dumps({"modules": names, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_games_and_ratings_import_neither_torch_nor_ray(probe):
    assert "games.match" in probe["modules"] and "ratings.elo" in probe["modules"]
    assert probe["heavy"] == []
