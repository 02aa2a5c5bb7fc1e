"""Session-wide fixtures shared by the test suite.

``tiny_base`` builds the ``tiny`` base model once per test session (about 20 s on 2 CPU
cores). Set ``ARENA_TEST_BASE_CACHE=/some/folder`` to reuse one prebuilt base across local
sessions; it is rebuilt there when its recorded preset or seed differs from the current ones.
CI leaves the variable unset, so the base is always built fresh from the current code.
"""

from __future__ import annotations

import os
import signal
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


def make_lora_adapter(base: Path, out: Path, seed: int, rank: int = 4, scale: float = 0.5) -> Path:
    """Save a LoRA adapter on ``base`` whose B matrices are random (peft initialises B to zero,
    which would make every adapter equal to the base), so different seeds play differently."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    peft_model.save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="session")
def lora_factory():
    """``make_lora_adapter(base, out, seed, rank=4, scale=0.5) -> Path``."""
    return make_lora_adapter


@pytest.fixture(scope="session")
def tiny_adapters(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two different LoRA adapters (folders ``v1`` and ``v2``) on ``tiny_base``."""
    root = tmp_path_factory.mktemp("adapters")
    return tuple(make_lora_adapter(tiny_base, root / f"v{i}", seed=i) for i in (1, 2))


def _kill_processes_under(marker: Path) -> None:
    """SIGKILL every process whose command line mentions ``marker`` (a temp dir the test
    created, so only processes that test started match)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            if str(marker) in cmdline:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def kill_processes_under():
    """``kill_processes_under(marker)``: clean up the Ray processes a test started itself."""
    return _kill_processes_under
