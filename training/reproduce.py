"""``arena reproduce RUN``: re-run a build, training or eval from its manifest and compare.

The manifest's ``config`` is rebuilt into its typed config (``training.config.from_dict``,
which refuses unknown keys), pointed at a fresh output folder, and run again. Then:

* inputs: each recorded input must still have its recorded sha256 (else the comparison is
  about different data, and the report says so);
* outputs: dataset files must match byte for byte (sha256, compared by file name); adapter
  weights are compared too, but only reported (bitwise-equal weights need the same hardware,
  thread count and library versions);
* numbers: rows, tokens and steps must be equal; losses, margins and eval metrics must agree
  within ``rtol`` (on CPU with fixed seeds they are normally identical).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from games import InputError
from games.limits import check_float
from training.config import CONFIG_KINDS, from_dict
from training.manifest import Manifest, read_manifest, sha256_file

METRIC_KEYS = (
    "first_loss",
    "final_loss",
    "mean_train_loss",
    "eval_loss",
    "margin_before",
    "margin_after",
    "accuracy",
    "exploitability",
)
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class Check:
    name: str
    expected: object
    got: object
    ok: bool
    required: bool = True


@dataclass
class ReproduceReport:
    manifest: Path
    kind: str
    out: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    def rows(self) -> list[list[object]]:
        def verdict(check: Check) -> str:
            return "yes" if check.ok else "NO" if check.required else "no (not required)"

        return [[c.name, _short(c.expected), _short(c.got), verdict(c)] for c in self.checks]


def _short(value) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def find_manifests(run: str | Path, workspace=None) -> list[Path]:
    """Manifests named by ``run``: a manifest file, a folder holding them, or a run id."""
    path = Path(run)
    if not path.exists() and workspace is not None:
        for candidate in (workspace.runs(str(run)), workspace.datasets(str(run))):
            if candidate.exists():
                path = candidate
                break
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(path.glob("*manifest.json"))
        if found:
            return found
    raise InputError(f"no run manifest at '{run}' (a manifest.json, its folder, or a run id)")


def reproduce(manifest_path: Path, out: Path | None = None, rtol: float = 1e-4) -> ReproduceReport:
    """Re-run the manifest's run into ``out`` (default: a new temporary folder) and compare."""
    rtol = check_float("rtol", rtol, 0, 1)
    manifest = read_manifest(manifest_path)
    cls = CONFIG_KINDS.get(manifest.kind)
    if cls is None:
        raise InputError(f"{manifest_path}: cannot reproduce a '{manifest.kind}' run")
    try:
        config = from_dict(cls, manifest.config)
    except ValueError as error:
        raise InputError(f"{manifest_path}: {error}") from None
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix=f"reproduce-{manifest.run_id}-"))
    old_out = Path(config.out)
    if out.resolve() == old_out.resolve():
        raise InputError("reproduce into a new folder, not the original run's")
    report = ReproduceReport(Path(manifest_path), manifest.kind, out)
    _check_inputs(manifest, old_out, report)
    new = _run(manifest.kind, dataclasses.replace(config, out=str(out)))
    _compare(manifest, new, report, rtol)
    return report


def _check_inputs(manifest: Manifest, old_out: Path, report: ReproduceReport) -> None:
    for entry in manifest.inputs:
        path = Path(entry["path"])
        if path.parent.resolve() == old_out.resolve():
            continue  # made by the run itself (matches played on the fly): compared below
        got = sha256_file(path) if path.exists() else "missing"
        report.checks.append(
            Check(f"input {path.name}", entry["sha256"], got, got == entry["sha256"])
        )


def _run(kind: str, config) -> Manifest:
    if kind == "sft-data":
        from training.sft_data import build_sft

        return build_sft(config).manifest
    if kind == "prefs-data":
        from training.pref_data import build_prefs

        return build_prefs(config).manifest
    if kind == "sft":
        from training.sft import train_sft

        return train_sft(config).manifest
    if kind == "dpo":
        from training.dpo import train_dpo

        return train_dpo(config).manifest
    from training.evaluate import run_eval

    run_eval(config)
    return read_manifest(Path(config.out) / "manifest.json")


def _compare(old: Manifest, new: Manifest, report: ReproduceReport, rtol: float) -> None:
    old_out = {Path(e["path"]).name: e["sha256"] for e in old.outputs}
    new_out = {Path(e["path"]).name: e["sha256"] for e in new.outputs}
    old_in = {Path(e["path"]).name: e["sha256"] for e in old.inputs}
    new_in = {Path(e["path"]).name: e["sha256"] for e in new.inputs}
    if "matches.jsonl" in old_in and old.kind.endswith("-data"):
        got = new_in.get("matches.jsonl")
        report.checks.append(
            Check(
                "played matches.jsonl", old_in["matches.jsonl"], got, got == old_in["matches.jsonl"]
            )
        )
    for name, digest in old_out.items():
        got = new_out.get(name, "missing")
        weights = name == ADAPTER_WEIGHTS
        report.checks.append(Check(f"output {name}", digest, got, got == digest, not weights))
    for key in ("rows", "tokens", "splits"):
        if key in old.dataset:
            got = new.dataset.get(key)
            report.checks.append(
                Check(f"dataset {key}", old.dataset[key], got, got == old.dataset[key])
            )
    if old.kind in ("sft", "dpo"):
        report.checks.append(Check("steps", old.steps, new.steps, old.steps == new.steps))
    for key in METRIC_KEYS:
        if old.metrics.get(key) is None:
            continue
        a, b = float(old.metrics[key]), new.metrics.get(key)
        ok = b is not None and math.isclose(a, float(b), rel_tol=rtol, abs_tol=1e-6)
        report.checks.append(Check(key, a, b, ok))
    for key, value in old.metrics.items():
        if key.startswith("score_vs_"):
            got = new.metrics.get(key)
            report.checks.append(
                Check(key, value, got, got is not None and math.isclose(value, got))
            )
