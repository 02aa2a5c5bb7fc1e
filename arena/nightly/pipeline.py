"""``arena nightly``: one night of the cycle, per game: self-play -> datasets -> training ->
dev-set evaluation -> gate -> promote or reject -> regression check (rollback) -> tournament
and rating snapshot -> report.

Resumable and idempotent: every stage's completion (with its result) is committed to the
registry, and a rerun of the same night skips finished stages and re-runs the interrupted one,
whose own steps are idempotent (``arena.nightly.stages``). A finished night is not run again;
its report is printed. One night at a time per workspace: an advisory ``flock`` on
``nights/.lock``, released by the kernel when the process dies (so a SIGKILLed night never
leaves a stale lock).

Outcome and exit status: ``promoted`` (0) when a game got a new champion that survived its
regression check, ``rejected`` (3) when the cycle completed without one, ``failed`` (1) when a
stage failed (rerun the same command to continue).
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.nightly.checks import stage_regression, stage_tournament
from arena.nightly.config import NightlyConfig
from arena.nightly.preflight import base_folder, check_ready
from arena.nightly.results import STAGES, NightResults, read_result
from arena.nightly.stages import (
    GameNight,
    inject_fault,
    stage_datasets,
    stage_decide,
    stage_eval,
    stage_gate,
    stage_plan,
    stage_selfplay,
    stage_train,
)
from arena.registry.store import Registry
from games import InputError, load_game
from games.files import json_safe
from games.workspace import Workspace, check_name

logger = logging.getLogger(__name__)
EXIT_CODES = {"promoted": 0, "rejected": 3, "failed": 1}
STAGE_FUNCS = {
    "plan": stage_plan,
    "selfplay": stage_selfplay,
    "datasets": stage_datasets,
    "train": stage_train,
    "eval": stage_eval,
    "gate": stage_gate,
    "decide": stage_decide,
    "regression": stage_regression,
    "tournament": stage_tournament,
}
assert tuple(STAGE_FUNCS) == STAGES


def default_night_id() -> str:
    """Tonight's id: the UTC date (a rerun the same day continues the same night)."""
    return time.strftime("%Y-%m-%d", time.gmtime())


@dataclass
class NightResult:
    night: str
    outcome: str
    games: dict[str, NightResults] = field(default_factory=dict)
    seconds: dict[str, dict] = field(default_factory=dict)  # game -> {stage: seconds}
    error: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    resumed: bool = False
    artifacts: dict = field(default_factory=dict)  # the artifact mode and why (this session)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


class NightLock:
    """Exclusive, non-blocking ``flock`` on ``nights/.lock``; the file names the holder."""

    def __init__(self, workspace: Workspace, night: str):
        self.path = workspace.root / "nights" / ".lock"
        self.night = night
        self.handle = None

    def __enter__(self) -> NightLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InputError(
                f"another `arena nightly` is running on this workspace ({holder}); "
                f"wait for it to finish (lock {self.path})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"night {self.night}, pid {os.getpid()}, since {time.ctime()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def ensure_base(config: NightlyConfig, workspace: Workspace, say) -> Path:
    """The base folder (``preflight.base_folder``), built from ``build_preset`` when absent."""
    folder = base_folder(config.night.base, workspace)
    if folder is not None:
        return folder
    named, preset = workspace.base(config.night.base), config.night.build_preset
    from training.base_model import build_base

    say(f"building base '{config.night.base}' (preset {preset}) in {named} ...")
    started = time.perf_counter()
    build_base(preset, named, seed=0, progress=False)
    say(f"  built in {time.perf_counter() - started:.0f}s")
    return named


def run_night(
    config: NightlyConfig,
    workspace: Workspace,
    night: str | None = None,
    address: str | None = None,
    say: Callable[[str], None] = lambda line: None,
    progress: Callable[[str], Callable | None] = lambda desc: None,
) -> NightResult:
    """Run (or resume) ``night``; see the module docstring."""
    from arena.nightly.report import write_report

    night = check_name("night id", night or default_night_id())
    check_ready(config, workspace)
    with NightLock(workspace, night), Registry.open(workspace.registry) as reg:
        row = reg.night(night)
        if row is not None and row.status == "finished":
            say(f"night {night} already finished ({row.outcome}); its report:")
            result = _from_registry(reg, night, row.outcome)
            result.resumed = True
            result.paths = write_report(result, reg, workspace, config)
            return result
        resolved = json_safe({k: v for k, v in config.to_dict().items() if k != "source"})
        if row is not None:
            if {k: v for k, v in row.config.items() if k != "source"} != resolved:
                raise InputError(
                    f"night {night} was started with another configuration; resume it with "
                    "the same config, or start another --night"
                )
            say(f"resuming night {night} (started {row.started_at})")
        reg.begin_night(night, {**resolved, "source": config.source})
        result = NightResult(night, "failed", resumed=row is not None)
        cluster = None
        try:
            base_path = ensure_base(config, workspace, say)
            cluster = _connect(config, address or config.night.placement.address)
            say(cluster.describe())
            from arena.execution.artifacts import choose_mode

            options = config.night.placement
            choice = choose_mode(options.artifacts, workspace, cluster)
            result.artifacts = choice.to_dict()
            say(f"artifacts: {choice.mode} ({choice.reason})")
            options = dataclasses.replace(
                options, address=address or options.address, artifacts=choice.mode
            )
            for game in config.night.games:
                gn = GameNight(
                    config, workspace, reg, night, load_game(game).spec, config.night.base,
                    base_path, options, progress, say,
                )  # fmt: skip
                _run_game(gn, result)
            result.outcome = _outcome(result)
        except Exception as error:
            result.outcome = "failed"
            result.error = f"{type(error).__name__}: {error}"
            logger.debug("night failed:\n%s", traceback.format_exc())
            if not isinstance(error, InputError | RuntimeError):
                logger.error("night %s failed:\n%s", night, traceback.format_exc())
        finally:
            status = "failed" if result.outcome == "failed" else "finished"
            reg.finish_night(night, status, result.outcome)
            result.paths = write_report(result, reg, workspace, config)
            if cluster is not None:
                from arena.execution.cluster import disconnect

                disconnect(cluster)
        return result


def _connect(config: NightlyConfig, address: str | None):
    from arena.execution.cluster import connect

    n, p = config.night, config.night.placement
    cpus = max(os.cpu_count() or 1, math.ceil(p.workers * p.cpus_per_worker + n.train_cpus))
    gpus = math.ceil(max(n.train_gpus, p.workers * p.gpus_per_worker)) or None
    return connect(address, num_cpus=cpus, num_gpus=gpus)


def _run_game(gn: GameNight, result: NightResult) -> None:
    result.games[gn.game] = gn.results
    seconds = result.seconds.setdefault(gn.game, {})
    for stage in STAGES:
        done = gn.registry.stage(gn.night, gn.game, stage)
        if done is not None and done.status == "done":
            where = f"night {gn.night} {gn.game} stage {stage}"
            gn.results.set(stage, read_result(stage, done.result, where))
            seconds[stage] = done.seconds
            gn.say(f"[{gn.game}] {stage}: done earlier, skipped")
            continue
        gn.say(f"[{gn.game}] {stage} ...")
        gn.registry.stage_started(gn.night, gn.game, stage)
        started = time.perf_counter()
        try:
            inject_fault(stage, "before")
            out = json_safe(STAGE_FUNCS[stage](gn).to_dict())
            # read back as a resumed night will: in memory exactly what is stored
            typed = read_result(stage, out, f"stage {stage}")
            inject_fault(stage, "after")
        except BaseException as error:
            gn.registry.stage_failed(gn.night, gn.game, stage, f"{type(error).__name__}: {error}")
            raise
        seconds[stage] = round(time.perf_counter() - started, 2)
        gn.registry.stage_done(gn.night, gn.game, stage, seconds[stage], out)
        gn.results.set(stage, typed)
        gn.say(f"[{gn.game}] {stage}: {seconds[stage]:.1f}s")


def _outcome(result: NightResult) -> str:
    outcomes = [r.outcome for r in result.games.values()]
    return "promoted" if "promoted" in outcomes else "rejected"


def _from_registry(reg: Registry, night: str, outcome: str | None) -> NightResult:
    """A finished night as recorded: the stages that finished, typed."""
    result = NightResult(night, outcome or "failed")
    for stage in reg.stages(night):
        results = result.games.setdefault(stage.game, NightResults())
        if stage.status == "done":
            where = f"night {night} {stage.game} stage {stage.stage}"
            results.set(stage.stage, read_result(stage.stage, stage.result, where))
        result.seconds.setdefault(stage.game, {})[stage.stage] = stage.seconds
    return result
