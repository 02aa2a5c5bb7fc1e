"""The runner interface: the Ray runner gives the records (and so the datasets) that the
local runner gives."""

from __future__ import annotations

import pytest

from arena.execution.runner import RayRunner
from training.config import PlaySpec, PrefsDataConfig
from training.manifest import sha256_file
from training.pref_data import build_prefs


@pytest.mark.slow
def test_rollouts_on_ray_workers_give_the_same_pairs(tmp_path):
    config = dict(
        inputs=(),
        method="rollout",
        rollouts=8,
        max_positions=16,
        play=PlaySpec("tic_tac_toe", ("random", "random"), games=6, seed=3),
    )
    local = build_prefs(PrefsDataConfig(out=str(tmp_path / "local"), **config))
    scratch = tmp_path / "ray" / ".ray-scratch"
    with RayRunner(2, scratch) as runner:
        ray = build_prefs(
            PrefsDataConfig(out=str(tmp_path / "ray"), workers=2, **config), runner=runner
        )
    assert ray.manifest.dataset["rollout_runner"] == "ray"
    assert local.manifest.dataset["rollout_runner"] == "local"
    assert sha256_file(ray.paths["train"]) == sha256_file(local.paths["train"])
    assert not (tmp_path / "ray" / ".ray-scratch").exists()
