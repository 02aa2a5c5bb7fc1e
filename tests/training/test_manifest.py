"""Run manifests record the peak CUDA memory of the process when, and only when, CUDA was used."""

from __future__ import annotations

import json

import pytest
import torch

from training.manifest import Manifest


def test_no_gpu_memory_keys_when_cuda_was_not_used(tmp_path):
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        pytest.skip("CUDA is already in use in this process")
    path = Manifest(kind="sft", run_id="r", config={}).write(tmp_path / "manifest.json")
    metrics = json.loads(path.read_text())["metrics"]
    assert metrics["peak_rss_mib"] > 0
    assert "peak_gpu_mib" not in metrics and "peak_gpu_reserved_mib" not in metrics


@pytest.mark.gpu
def test_peak_gpu_memory_is_recorded(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    block = torch.ones(96 * 2**20, dtype=torch.uint8, device="cuda")  # 96 MiB
    path = Manifest(kind="sft", run_id="r", config={}).write(tmp_path / "manifest.json")
    metrics = json.loads(path.read_text())["metrics"]
    assert 96 <= metrics["peak_gpu_mib"] <= metrics["peak_gpu_reserved_mib"]
    del block
