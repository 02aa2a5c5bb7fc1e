"""Session-wide fixtures shared by the test suite.

``tiny_base`` builds the ``tiny`` base model once per test session (about 20 s on 2 CPU
cores). Set ``ARENA_TEST_BASE_CACHE=/some/folder`` to reuse one prebuilt base across local
sessions; it is rebuilt there when its recorded preset or seed differs from the current ones.
CI leaves the variable unset, so the base is always built fresh from the current code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_SEED = 0


def _reusable(folder: Path) -> bool:
    from dataclasses import asdict

    from training.base_model import PRESETS, read_manifest

    manifest = read_manifest(folder) if folder.is_dir() else None
    if not manifest or manifest.get("seed") != TINY_SEED:
        return False
    wanted = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(PRESETS["tiny"]).items()}
    return manifest.get("config") == wanted and (folder / "model.safetensors").is_file()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a ``tiny`` base model folder (HF format), built once per session."""
    from training.base_model import build_base

    cache = os.environ.get("ARENA_TEST_BASE_CACHE")
    if cache:
        folder = Path(cache).expanduser().resolve()
        if not _reusable(folder):
            build_base("tiny", folder, seed=TINY_SEED, progress=False, overwrite=True)
        return folder
    return build_base(
        "tiny", tmp_path_factory.mktemp("base") / "tiny", seed=TINY_SEED, progress=False
    )
