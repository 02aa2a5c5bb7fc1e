"""The stages of one game's night, each a function of the night so far that returns its typed
result (``arena.nightly.results``; recorded as JSON in the registry's ``stages`` table and the
night's manifest).

Every stage can be re-run after a crash without double work: Ray runs resume from their shards
(fixed run ids), dataset builds and training rewrite their own folders, registration is
idempotent per training run, and the registry's verdicts are idempotent per (night, candidate).
Stage order: plan, selfplay, datasets, train, eval, gate, decide, regression, tournament.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.execution.session import ExecOptions
from arena.nightly.config import PREVIOUS, NightlyConfig
from arena.nightly.decisions import exploitability_gate
from arena.nightly.results import STAGES as STAGES  # the stage order, for callers of stages
from arena.nightly.results import (
    BuiltDataset,
    DatasetsResult,
    DecideResult,
    DevScore,
    EvalResult,
    GateResult,
    NightResults,
    OpponentScore,
    PlanResult,
    ReplayResult,
    SelfplayOpponent,
    SelfplayResult,
    SprtGate,
    TrainResult,
    TrainRun,
    read_result,
)
from arena.registry.store import BASE_VERSION, Registry, VersionRow, base_key, folder_name
from games import InputError, load_game
from games.files import json_safe
from games.workspace import Workspace
from training.rows import NoUsableData

logger = logging.getLogger(__name__)
# "train" (or "train:after") raises after the stage's work, before it is recorded as done;
# "train:before" raises before any work; "train:kill" SIGKILLs the process after the work.
FAULT_ENV = "ARENA_FAULT_STAGE"


slug = folder_name  # a game spec as a folder or run-id fragment


def inject_fault(stage: str, when: str) -> None:
    """Crash here when ``$ARENA_FAULT_STAGE`` names this stage and moment (tests of resumption):
    ``when`` is ``before`` or ``after`` the stage's work."""
    wanted = os.environ.get(FAULT_ENV, "")
    name, _, how = wanted.partition(":")
    if name != stage or (how or "after") not in (when, "kill" if when == "after" else ""):
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"injected fault {when} stage '{stage}' ({FAULT_ENV}={wanted})")


@dataclass
class GameNight:
    """What the stages of one game share."""

    config: NightlyConfig
    workspace: Workspace
    registry: Registry
    night: str
    game: str
    base: str  # as configured: the spec agents use (llm:<base>@v3)
    base_path: Path
    options: ExecOptions
    progress: Callable[[str], Callable | None] = lambda desc: None
    say: Callable[[str], None] = lambda line: None
    results: NightResults = field(default_factory=NightResults)

    @property
    def key(self) -> str:
        return base_key(self.base)

    @property
    def run_prefix(self) -> str:
        return f"{self.night}-{slug(self.game)}"

    @property
    def seed(self) -> int:
        """The night's seed: the configured seed mixed with the night id (nights differ)."""
        return (self.config.night.seed * 1_000_003 + zlib.crc32(self.night.encode())) % 2**31

    @property
    def actor(self) -> str:
        return f"nightly:{self.night}"

    def spec(self, version: str, play: bool = True) -> str:
        """``llm:<base>@<version>`` with ``[night] play``'s options; ``play``: argmax for
        perfect-information games (the evaluation readout of the design), the policy itself
        otherwise."""
        text = f"llm:{self.base}@{version}"
        if self.config.night.play:
            text += f",{self.config.night.play}"
        if play and load_game(self.game).perfect_information:
            text += ",temperature=0"
        return text

    def teacher(self, version: str) -> str:
        """The self-play player: ``[datasets] teacher`` with ``{champion}`` = ``version``'s
        spec (the champion itself by default; a search over its policy for expert iteration)."""
        return self.config.datasets.teacher.replace("{champion}", self.spec(version, play=False))

    def agent_options(self) -> dict:
        return {"workspace": self.workspace, "device": self.config.night.device}

    def version(self, version: str) -> VersionRow:
        return self.registry.get(self.game, self.key, version)


# ----------------------------------------------------------------------------------- stages


def stage_plan(gn: GameNight) -> PlanResult:
    """Fix tonight's champion, its predecessor, the league and which datasets to build."""
    gn.registry.init_base(gn.game, gn.key, actor=gn.actor, night=gn.night)
    champion = gn.registry.champion(gn.game, gn.key)
    previous = gn.registry.previous_champion(gn.game, gn.key)
    d = gn.config.datasets
    first = champion.version == BASE_VERSION
    sft = d.sft == "always" or (d.sft == "first" and first)
    prefs = d.prefs == "always" or (d.prefs == "after_first" and not first)
    notes = []
    if prefs and not sft and champion.path is None:
        prefs = False
        notes.append("no preference training: DPO/IPO needs an adapter and the champion is v0")
    league = []
    for spec, weight in gn.config.league:
        if spec == PREVIOUS:
            if previous is None:
                notes.append("league: no previous champion yet")
                continue
            spec = gn.spec(previous, play=False)
        league.append((spec, float(weight)))
    return PlanResult(
        champion=champion.version, previous=previous, sft=sft, prefs=prefs, league=tuple(league),
        seed=gn.seed, notes=tuple(notes),
    )  # fmt: skip


def stage_selfplay(gn: GameNight) -> SelfplayResult:
    from arena.runs.selfplay import run_selfplay

    plan = gn.results.plan
    config = gn.config.selfplay_config(
        game=gn.game, player=gn.teacher(plan.champion), league=plan.league, seed=gn.seed
    )
    run_id = f"{gn.run_prefix}-selfplay"
    result = run_selfplay(config, gn.workspace, gn.options, run_id, gn.progress("self-play"))
    return SelfplayResult(
        run_id=run_id,
        matches=result.paths["matches"],
        games=result.stats.scheduled,
        played=result.stats.played,
        games_per_s=round(result.stats.games_per_s, 2),
        opponents=tuple(
            SelfplayOpponent(**{k: o.get(k) for k in SELFPLAY_KEYS}) for o in result.opponents
        ),
    )


SELFPLAY_KEYS = ("opponent", "games", "wins", "draws", "losses", "score")


def stage_datasets(gn: GameNight) -> DatasetsResult:
    from arena.execution.runner import runner_for
    from training.config import PlaySpec
    from training.pref_data import build_prefs
    from training.sft_data import build_sft

    plan, d = gn.results.plan, gn.config.datasets
    root = gn.workspace.datasets(gn.run_prefix)
    sft = prefs = None
    no_data: list[str] = []
    if plan.sft:
        play = None  # games = 0: no expert games, the teacher's self-play only (selfplay_sft)
        if d.games:
            play = PlaySpec(gn.game, (d.expert, d.opponent), games=d.games, seed=gn.seed)
        selfplay = (gn.results.selfplay.matches,) if d.selfplay_sft else ()
        config = gn.config.sft_data_config(
            inputs=selfplay, out=str(root / "sft"), play=play,
            agents=(d.expert, gn.teacher(plan.champion)),
        )  # fmt: skip
        try:
            built = build_sft(config)
        except NoUsableData as error:  # the same inputs would fail again: no training tonight
            built = _no_data(gn, no_data, "SFT", error)
        if built is not None:
            sft = _built(config.out, built)
            gn.say(f"  SFT rows: {sft.train} train, {sft.heldout} held out")
            if d.replay_nights:
                mix = _replay(gn, Path(config.out))
                sft = dataclasses.replace(sft, replay=ReplayResult.of(mix))
                gn.say(
                    f"  replay: {mix.new} new + {sum(mix.replayed.values())} rows of "
                    f"{len(mix.replayed)} earlier night(s) = {mix.rows} training rows"
                )
    if plan.prefs:
        config = gn.config.prefs_data_config(
            inputs=(gn.results.selfplay.matches,), out=str(root / "prefs")
        )
        scratch, ws, mode = root / "prefs-rollouts", gn.workspace, gn.options.artifacts
        with runner_for(config.workers, scratch, ws, artifacts=mode) as runner:
            try:
                built = build_prefs(config, agent_options=gn.agent_options(), runner=runner)
            except NoUsableData as error:
                built = _no_data(gn, no_data, "preference", error)
        if built is not None:
            prefs = _built(config.out, built)
            gn.say(f"  preference pairs: {prefs.train} train, {prefs.heldout}")
    return DatasetsResult(sft=sft, prefs=prefs, no_data=tuple(no_data) or None)


def _built(folder: str, built) -> BuiltDataset:
    """A builder's ``BuildResult`` as the night records it."""
    written = built.written
    return BuiltDataset(folder, written["train"], written["heldout"], built.considered)


def _no_data(gn: GameNight, no_data: list[str], kind: str, error: NoUsableData) -> None:
    """Record why a dataset has no usable rows (the night then trains without it, and with
    neither dataset it ends rejected with this reason, never stuck failing on every rerun)."""
    no_data.append(f"no usable {kind} data: {error}")
    gn.say(f"  no usable {kind} data: {error}")


def earlier_sft(gn: GameNight) -> list[tuple[str, Path]]:
    """``(night, sft.jsonl)`` of up to ``replay_nights`` earlier nights of this game that built
    SFT rows, most recent first (from the registry's record of each night's datasets stage)."""
    found = []
    for row in reversed(gn.registry.nights()):
        if row.night == gn.night:
            continue
        done = done_result(gn.registry, row.night, gn.game, "datasets")
        sft = done.sft if done is not None else None
        if sft and (Path(sft.dir) / "sft.jsonl").is_file():
            found.append((row.night, Path(sft.dir) / "sft.jsonl"))
        if len(found) == gn.config.datasets.replay_nights:
            break
    return found


def _replay(gn: GameNight, folder: Path):
    """Tonight's SFT rows plus the replayed rows of earlier nights -> ``train-mix.jsonl``."""
    from training.replay import mix_replay

    d = gn.config.datasets
    return mix_replay(
        folder / "sft.jsonl", earlier_sft(gn), folder / "train-mix.jsonl",
        max_rows=d.replay_rows or None, seed=gn.seed,
    )  # fmt: skip


def _train_task(kind: str, config_dict: dict) -> dict:
    """Body of the Ray training task (also runs in-process): one SFT or DPO run, or none when
    its adapter is there, finished, from before a crash (an interrupted run resumes from its
    checkpoint: ``training.checkpoints``)."""
    from training.checkpoints import finished_run
    from training.config import DPORunConfig, SFTRunConfig, from_dict

    config = from_dict(SFTRunConfig if kind == "sft" else DPORunConfig, config_dict)
    if finished_run(config):
        return _manifest_summary(Path(config.out))
    if kind == "sft":
        from training.sft import train_sft

        result = train_sft(config, overwrite=True)
    else:
        from training.dpo import train_dpo

        result = train_dpo(config, overwrite=True)
    m = result.manifest
    return {
        "kind": kind,
        "out": str(result.out),
        "steps": m.steps,
        "seconds": round(m.stages.get("train", 0.0), 2),
        "rows": m.dataset.get("rows"),
        "tokens": m.dataset.get("tokens"),
        "first_loss": m.metrics.get("first_loss"),
        "final_loss": m.metrics.get("final_loss"),
        "eval_loss": m.metrics.get("eval_loss"),
    }


# The path fields of the training configs that must reach the training task's node.
TRAIN_INPUTS = ("base", "data", "eval_data", "init_adapter", "adapter")


def _remote_train(gn: GameNight, kind: str, config) -> dict:
    """Run one training as a Ray task with the configured resources; in ship mode its inputs
    travel to its node by content and the adapter comes back as verified bytes
    (``arena.execution.tasks``)."""
    from arena.execution.tasks import run_task
    from training.config import to_dict

    n = gn.config.night
    ship = gn.options.artifacts == "ship"

    def waiting(seconds: float) -> None:
        # In shared mode the task writes its progress into the (shared) workspace.
        line = f"running for {seconds:.0f}s" if ship else _train_progress(config.out, seconds)
        gn.say(f"  [train] {kind}: {line}")

    options = {"num_cpus": n.train_cpus, "num_gpus": n.train_gpus, "max_retries": 0}
    if n.train_resources:
        options["resources"] = dict(n.train_resources)
    return run_task(
        _train_task, (kind,), to_dict(config), ship=ship, inputs=TRAIN_INPUTS, out="out",
        ray_options=options, waiting=waiting,
    )  # fmt: skip


def _train_progress(out: str, running_s: float) -> str:
    """One progress line: steps, loss and ETA from the training's progress file."""
    from training.train_common import read_progress

    p = read_progress(out)
    if not p or not p.get("max_steps"):
        return f"running for {running_s:.0f}s (loading)"
    eta = f", ETA {p['eta_s']:.0f}s" if p.get("eta_s") is not None else ""
    loss = f", loss {p['loss']:.3f}" if p.get("loss") is not None else ""
    return f"step {p['step']}/{p['max_steps']}{loss}, {running_s:.0f}s{eta}"


def _with_threads(gn: GameNight, train) -> object:
    """Training threads: the section's own ``threads`` if set, else ``[night] threads``."""
    return (
        train
        if train.threads is not None
        else dataclasses.replace(train, threads=gn.config.night.threads)
    )


def verify_adapter(folder: Path, base_path: Path) -> None:
    """The registry's gatekeeper: the weights load completely into the base (files, base
    match, every tensor's shape), else InputError naming what is wrong."""
    from safetensors.torch import load_file

    from agents.llm import get_engine
    from agents.llm.adapters import WEIGHTS_FILE, inspect_adapter

    inspect_adapter(folder)
    try:
        load_file(str(folder / WEIGHTS_FILE))  # reads every byte: a truncated file fails here
    except Exception as error:  # safetensors raises its own error types
        raise InputError(f"adapter {folder}: weights do not load ({error})") from None
    engine = get_engine(str(base_path), device="cpu")
    ref = engine.load_adapter(folder)
    engine.unload_adapter(ref.name)


def _manifest_summary(folder: Path) -> dict:
    """What a registered adapter's training manifest says (a resumed night reports it)."""
    import json

    m = json.loads((folder / "manifest.json").read_text())
    metrics = m.get("metrics", {})
    return {
        "kind": m.get("kind"), "out": str(folder), "steps": m.get("steps"),
        "seconds": round(m.get("stages", {}).get("train", 0.0), 2),
        "rows": m.get("dataset", {}).get("rows"), "tokens": m.get("dataset", {}).get("tokens"),
        "first_loss": metrics.get("first_loss"), "final_loss": metrics.get("final_loss"),
        "eval_loss": metrics.get("eval_loss"),
    }  # fmt: skip


def stage_train(gn: GameNight) -> TrainResult:
    plan, data = gn.results.plan, gn.results.datasets
    champion = gn.version(plan.champion)
    run_id = f"{gn.run_prefix}-train"
    done = gn.registry.find_run(gn.game, gn.key, run_id)
    if done is not None:  # trained and registered before a crash: never train twice
        gn.say(f"  {done.version} was registered by this night already")
        run = TrainRun.from_dict(_manifest_summary(Path(done.path)), "the adapter's manifest")
        return TrainResult(runs=(run,), version=done.version, path=done.path)
    staging = gn.workspace.root / "adapters" / slug(gn.game) / gn.key / ".staging" / gn.night
    runs: list[TrainRun] = []
    adapter = champion.path
    if data.sft is not None:
        mix = data.sft.replay
        config = gn.config.sft_run_config(
            data=mix.file if mix else f"{data.sft.dir}/sft.jsonl",
            base=str(gn.base_path),
            out=str(staging / "sft"),
            init_adapter=adapter,
            game=gn.game,
        )
        config = dataclasses.replace(config, train=_with_threads(gn, config.train))
        rows = mix.rows if mix else data.sft.train
        gn.say(f"  SFT from {plan.champion} on {rows} rows")
        runs.append(TrainRun.from_dict(_remote_train(gn, "sft", config), "the SFT task"))
        adapter = runs[-1].out
    if data.prefs is not None:
        config = gn.config.dpo_run_config(
            data=f"{data.prefs.dir}/prefs.jsonl",
            base=str(gn.base_path),
            adapter=adapter,
            out=str(staging / "dpo"),
            game=gn.game,
        )
        config = dataclasses.replace(config, train=_with_threads(gn, config.train))
        gn.say(f"  {config.loss} preference optimisation on {data.prefs.train} pairs")
        runs.append(TrainRun.from_dict(_remote_train(gn, "dpo", config), "the DPO task"))
        adapter = runs[-1].out
    if adapter is None or adapter == champion.path:
        reason = "; ".join(data.no_data or ()) or "nothing was trained"
        return TrainResult(runs=tuple(runs), version=None, rejected=reason)
    folder = Path(adapter)
    try:
        row = gn.registry.register(
            gn.game, gn.key, folder, parent=plan.champion, run_id=run_id,
            night=gn.night, verify=lambda f: verify_adapter(f, gn.base_path),
        )  # fmt: skip
    except InputError as error:
        gn.say(f"  candidate refused: {error}")
        return TrainResult(runs=tuple(runs), version=None, rejected=f"candidate refused: {error}")
    gn.say(f"  registered {row.version} (parent {row.parent})")
    return TrainResult(runs=tuple(runs), version=row.version, path=row.path)


# What the night keeps of each eval opponent: the score (win = 1, draw = 0.5) and, for poker,
# the mean chips per game, each with its 95% interval over seat-swapped pairs.
OPPONENT_KEYS = ("opponent", "games", "score", "score_ci95", "mean_return", "mean_return_ci95")


def devset_score(gn: GameNight, version: str) -> DevScore:
    """Dev-set metric of ``version`` (and win rates when ``[eval] pairs`` > 0)."""
    from training.evaluate import evaluate

    cfg = gn.config.eval_config(game=gn.game, agent=gn.spec(version), out="-")
    report = evaluate(
        gn.game, gn.spec(version), opponents=cfg.opponents, pairs=cfg.pairs, seed=cfg.seed,
        limit=cfg.limit, agent_options=gn.agent_options(),
    )  # fmt: skip
    dev = report["devset"]
    metric = dev["metric"]
    value = dev["exploitability"] if metric == "exploitability" else dev["accuracy"]
    opponents = [
        {k: o.get(k) for k in OPPONENT_KEYS if o.get(k) is not None} for o in report["opponents"]
    ]
    return DevScore(
        version=version,
        metric=metric,
        value=value,
        ci95=dev.get("ci95"),
        higher_is_better=metric != "exploitability",
        opponents=tuple(OpponentScore.from_dict(o, "eval opponent") for o in opponents),
        seconds=report["seconds"],
    )


def stage_eval(gn: GameNight) -> EvalResult:
    cand = gn.results.train.version
    if cand is None:
        return EvalResult(skipped="no candidate")
    out = EvalResult(
        candidate=devset_score(gn, cand), champion=devset_score(gn, gn.results.plan.champion)
    )
    for _, e in out.scores():
        gn.say(f"  dev set {e.version}: {e.metric} {e.value:.3f}")
    return out


def stage_gate(gn: GameNight) -> GateResult:
    from arena.runs.gate import run_gate

    cand = gn.results.train.version
    if cand is None:
        return GateResult(skipped="no candidate")
    champ = gn.results.plan.champion
    scores = gn.results.eval
    if gn.config.gating.by == "exploitability" and scores.candidate.metric == "exploitability":
        report = exploitability_gate(
            scores.candidate, scores.champion, gn.config.gating.exploitability_margin
        )
        gn.say(f"  gate {cand} vs {champ}: {report.decision}: {report.reason}")
        return GateResult(exploitability=report)
    config = gn.config.gate_config(
        game=gn.game, candidate=gn.spec(cand), champion=gn.spec(champ), seed=gn.seed
    )
    result = run_gate(
        config, gn.workspace, gn.options, f"{gn.run_prefix}-gate", gn.progress("gate")
    )
    report = SprtGate.from_dict(result.to_dict(), "the gate run's report")
    gn.say(
        f"  gate {cand} vs {champ}: {report.decision} after {report.pairs} pairs, "
        f"score {report.score:.3f}, LLR {report.llr:.2f}"
    )
    return GateResult(sprt=report)


def stage_decide(gn: GameNight) -> DecideResult:
    train, gate = gn.results.train, gn.results.gate
    champ = gn.results.plan.champion
    if train.version is None:
        return DecideResult(decision="rejected", reason=train.rejected, champion=champ)
    decision = "promote" if gate.decision == "accept" else "reject"
    row, event = gn.registry.record_gate(
        gn.game, gn.key, train.version, champ, decision, gate.reason, json_safe(gate.to_dict()),
        gn.actor, gn.night,
    )  # fmt: skip
    now_champion = gn.registry.champion(gn.game, gn.key).version
    gn.say(f"  {event.kind} {train.version}: {row.reason}; champion {now_champion}")
    return DecideResult(
        decision="promoted" if decision == "promote" else "rejected",
        reason=row.reason,
        champion=now_champion,
        gate_id=row.id,
        event_id=event.id,
    )


def done_result(registry: Registry, night: str, game: str, stage: str):
    """The typed result of ``stage`` when that night finished it, else None (a stored result
    of the wrong shape is an InputError naming the night, game and stage)."""
    row = registry.stage(night, game, stage)
    if row is None or row.status != "done":
        return None
    return read_result(stage, row.result, f"night {night} {game} stage {stage}")
