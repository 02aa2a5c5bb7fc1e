"""Fixtures of the nightly tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny_config(base: Path, **sections) -> str:
    """The smallest night that still runs every stage (the gate decides nothing in 4 pairs:
    the champion stays; the machinery, not the learning, is under test)."""
    text = f"""
[night]
base = "{base}"
build_preset = ""
workers = 1
[datasets]
games = 20
[selfplay]
pairs = 3
league = ["self=1", "previous=1", "random=1"]
[sft_train.train]
max_steps = 2
[prefs_data]
max_positions = 8
rollouts = 2
[dpo_train.train]
max_steps = 2
[eval]
pairs = 1
opponents = ["random"]
limit = 16
[gate]
min_pairs = 2
max_pairs = 4
batch_pairs = 2
[tournament]
pairs = 1
recent = 2
scripted = ["random"]
"""
    for name, body in sections.items():
        text += f"[{name}]\n{body}\n"
    return text


@pytest.fixture(scope="session")
def night_config():
    """``night_config(base, **sections) -> str``: the tiny nightly TOML."""
    return tiny_config
