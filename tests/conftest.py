"""Session-wide fixtures shared by the test suite.

``tiny_base`` builds the ``tiny`` base model once per test session (about 20 s on 2 CPU
cores). Set ``ARENA_TEST_BASE_CACHE=/some/folder`` to reuse one prebuilt base across local
sessions; it is rebuilt there when its recorded preset or seed differs from the current ones.
CI leaves the variable unset, so the base is always built fresh from the current code.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

TINY_SEED = 0


def pytest_configure(config):
    """Ray workers of the tests keep their artifact cache (ship mode) in a temp folder, not
    in ~/.cache: set before any Ray instance starts, since workers inherit it."""
    import tempfile

    if not os.environ.get("ARENA_ARTIFACT_CACHE"):
        os.environ["ARENA_ARTIFACT_CACHE"] = tempfile.mkdtemp(prefix="arena-test-artifacts-")
        config.add_cleanup(_remove_artifact_cache)


def _remove_artifact_cache():
    import shutil

    shutil.rmtree(os.environ.pop("ARENA_ARTIFACT_CACHE", ""), ignore_errors=True)


def _reusable(folder: Path) -> bool:
    from dataclasses import asdict

    from training.base_model import PRESETS, read_manifest

    manifest = read_manifest(folder) if folder.is_dir() else None
    if not manifest or manifest.get("seed") != TINY_SEED:
        return False
    wanted = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(PRESETS["tiny"]).items()}
    return (
        manifest.get("config") == wanted
        and "files" in manifest  # the file hashes checked at load (older caches lack them)
        and (folder / "model.safetensors").is_file()
    )


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a ``tiny`` base model folder (HF format), built once per test session (a
    cache folder under a lock: two sessions sharing it build it once)."""
    from filelock import FileLock

    from training.base_model import build_base

    cache = os.environ.get("ARENA_TEST_BASE_CACHE")
    if not cache:
        return build_base(
            "tiny", tmp_path_factory.mktemp("base") / "tiny", seed=TINY_SEED, progress=False
        )
    folder = Path(cache).expanduser().resolve()
    with FileLock(str(folder) + ".lock"):
        if not _reusable(folder):
            build_base("tiny", folder, seed=TINY_SEED, progress=False, overwrite=True)
    return folder


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


# ---- fuzzing (Hypothesis): profiles, the CLI as a user runs it, a time bound per example ----
# `make test` runs the "ci" profile: few examples, derandomised (the same examples every run, so
# a green suite stays green), each bounded in time. ARENA_FUZZ=long runs the "long" profile:
# many random examples, kept in .hypothesis/ so a failure found once is replayed first.
from hypothesis import HealthCheck, settings  # noqa: E402

FUZZ_EXAMPLE_S = 60  # hard bound per example (SIGALRM); a hang fails the example
# `arena: error: ...`, or argparse's `arena match: error: ...` after its usage lines
ERROR_LINE = re.compile(r"^arena( [a-z-]+)*: error: ")

settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,  # wall time on 2 shared cores is noisy; FUZZ_EXAMPLE_S bounds hangs instead
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("long" if os.environ.get("ARENA_FUZZ") == "long" else "ci")


class ExampleTimeout(Exception):
    """An example ran past FUZZ_EXAMPLE_S: a hang, which the property forbids."""


class time_bound:
    """``with time_bound(30):`` raises ExampleTimeout when the block runs past 30 s."""

    def __init__(self, seconds: float = FUZZ_EXAMPLE_S):
        self.seconds = seconds

    def _fire(self, signum, frame):
        raise ExampleTimeout(f"example ran past {self.seconds} s")

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def assert_clean(self) -> None:
        """The fuzz property: success, or exit 2 whose last stderr line is one
        ``arena: error: ...`` line; never a traceback, never another status."""
        assert "Traceback" not in self.err, self.err[-3000:]
        assert self.code in (0, 2), (self.code, self.err[-3000:])
        if self.code == 2:
            lines = [line for line in self.err.splitlines() if line.strip()]
            assert lines and ERROR_LINE.match(lines[-1]), self.err[-3000:]

    @property
    def error(self) -> str:
        lines = [line for line in self.err.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_cli(argv: list[str], seconds: float = FUZZ_EXAMPLE_S) -> CliResult:
    """``arena ARGV`` in this process, as a user runs it (exit status, stdout, stderr)."""
    import contextlib
    import io

    from arena.cli import main

    out, err = io.StringIO(), io.StringIO()
    with time_bound(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse errors and --help
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        except ExampleTimeout:
            raise
        except BaseException:
            import traceback

            traceback.print_exc(file=err)
            code = 1
    return CliResult(int(code), out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def cli():
    """``cli(argv) -> CliResult``: the CLI in-process; ``.assert_clean()`` is the fuzz property."""
    return run_cli


@pytest.fixture(scope="session")
def bounded():
    """``with bounded(seconds):`` fails the example (ExampleTimeout) when it runs too long."""
    return time_bound
