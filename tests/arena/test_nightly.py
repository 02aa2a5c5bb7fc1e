"""The nightly cycle on the tiny base with tiny budgets: one real night through the CLI, then
a second night on a copy of its workspace with a crash at every stage and a real SIGKILL
(resumed without double work), a corrupted candidate, concurrent nights, config errors, and
the regression verdict.

The nights share one embedded Ray instance (started once for the module), as one process
would on a cluster; the SIGKILLed night runs in a subprocess that joins it with --address.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from arena.cli import main
from arena.nightly.config import parse_config
from arena.nightly.decisions import regression_verdict
from arena.nightly.pipeline import EXIT_CODES, NightLock
from arena.nightly.results import DevScore, read_result
from arena.nightly.stages import FAULT_ENV, STAGES
from arena.registry.store import Registry, base_key
from games.files import json_safe
from games.workspace import Workspace
from ratings import GateConfig

GAME = "tic_tac_toe"


def test_config_errors_are_one_line_and_stop_before_any_work(tmp_path, capsys):
    ws = tmp_path / "ws"
    cases = {
        "[night]\ngames = ['chess9']": "unknown game 'chess9'",
        "[night]\ncolour = 1": "unknown key(s) ['colour']",
        "[gate]\nmargin = 0.9": "margin",
        "[gate]\ncandidate = 'random'": "the night sets ['candidate'] itself",
        "[sft_train.train]\nmax_steps = 'many'": "expected int",
        "[datasets]\nsft = 'sometimes'": "sft must be one of",
        "[night]\nartifacts = 'nfs'": "artifacts must be one of auto, shared, ship",
        "[night]\ntrain_resources = {gpu_node = -1}": "train_resources.gpu_node must be a finite",
        "[night]\ntrain_resources = 'gpu_node'": "train_resources: expected a table, got str",
        "[night]\nbase = 'nowhere'\nbuild_preset = ''": "base 'nowhere' not found",
        "[night]\nplay = 'temperature=1'": "play: the night sets the temperature itself",
        "[night]\nplay = 'syn=1'": "unknown LLM option 'syn'",
        "[night\n": "not valid TOML",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        assert main(["--workspace", str(ws), "nightly", "--config", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("arena: error: ") and message in err[0], err
    assert not ws.exists()  # nothing started


def test_night_play_options_reach_every_spec_the_night_plays():
    from arena.nightly.stages import GameNight

    config = parse_config("[night]\nplay = 'sym=1'\n[datasets]\nteacher = 'search:{champion}'")
    gn = GameNight(config, None, None, "n1", "tic_tac_toe", "small", Path("b"), None)
    assert gn.spec("v2") == "llm:small@v2,sym=1,temperature=0"
    assert gn.teacher("v2") == "search:llm:small@v2,sym=1"
    plain = GameNight(parse_config(""), None, None, "n1", "kuhn_poker", "small", Path("b"), None)
    assert plain.spec("v2") == "llm:small@v2"  # poker plays the policy itself


def test_example_config_parses_and_keeps_training_defaults():
    from training.config import DPORunConfig, TrainOptions

    config = parse_config(Path("configs/nightly.toml").read_text())
    dpo = config.dpo_run_config(data="d", base="b", adapter="a", out="o")
    default = DPORunConfig(data="d", base="b", adapter="a", out="o")
    assert dpo.train.learning_rate == default.train.learning_rate  # not copied: inherited
    sft = config.sft_run_config(data="d", base="b", out="o")
    assert sft.train.learning_rate == TrainOptions().learning_rate  # not copied: inherited
    # every night continues the champion on fresh solver-labelled positions (LEARNING.md)
    assert config.datasets.sft == "always" and config.datasets.prefs == "never"
    assert sft.continue_lr == 3e-4 and sft.train.max_steps == 1500 and sft.train.warmup == 0.1
    assert config.night.base == "small"
    assert config.sft_data_config(inputs=(), out="o").label == "solver"
    assert dpo.train.epochs == default.train.epochs  # the tuned DPO budget, not max_steps
    assert dpo.train.max_steps == -1 and dpo.precompute_ref == default.precompute_ref
    # with prefs on (the DPO recipe): the champion's own mistakes against the solver's best move
    prefs = config.prefs_data_config(inputs=("x",), out="o")
    assert (prefs.method, prefs.rejected) == ("solver", "played")


def test_gpu_night_config_fits_one_gpu_and_trains_sft_then_dpo():
    """configs/gpu-night.toml (scripts/gpu_check.sh): the actors' and the training task's GPU
    shares fit one GPU together, and one night trains SFT then DPO within small budgets."""
    config = parse_config(Path("configs/gpu-night.toml").read_text(), "gpu-night.toml")
    n, p = config.night, config.night.placement
    assert p.gpus_per_worker > 0 and n.train_gpus > 0 and n.build_preset == ""
    assert p.workers * p.gpus_per_worker + n.train_gpus <= 1
    assert (config.datasets.sft, config.datasets.prefs) == ("first", "always")
    assert config.sft_run_config(data="d", base="b", out="o").train.max_steps == 40
    assert config.dpo_run_config(data="d", base="b", adapter="a", out="o").train.max_steps == 20


def test_regression_verdict():
    prev = DevScore("v1", "accuracy", 0.60, higher_is_better=True)
    cur = replace(prev, version="v2", value=0.50)
    assert regression_verdict(cur, prev, 0.05)[0] is True
    assert regression_verdict(cur, prev, 0.15)[0] is False
    assert regression_verdict(cur, prev, 0.15, score_ci_high=0.40)[0] is True
    poker = DevScore("v1", "exploitability", 0.1, higher_is_better=False)
    assert regression_verdict(replace(poker, value=0.2), poker, 0.05)[0] is True
    assert regression_verdict(replace(poker, value=0.05), poker, 0.0)[0] is False


def test_a_second_night_on_the_same_workspace_is_refused(tmp_path, tiny_base, capsys, night_config):
    ws = Workspace.resolve(tmp_path / "ws")
    config = tmp_path / "n.toml"
    config.write_text(night_config(tiny_base))
    with NightLock(ws, "other-night"):
        assert main(["--workspace", str(ws.root), "nightly", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "another `arena nightly` is running on this workspace (night other-night" in err


@pytest.fixture(scope="module")
def ray_instance():
    from arena.execution.cluster import connect, disconnect

    info = connect(None, num_cpus=3)
    import ray

    yield ray.get_runtime_context().gcs_address
    disconnect(info)


def run(ws: Path, config: Path, night: str) -> int:
    return main(["--workspace", str(ws), "nightly", "--config", str(config), "--night", night])


@pytest.fixture(scope="module")
def first_night(tmp_path_factory, tiny_base, ray_instance, night_config):
    """One real night, the whole pipeline (n1: the first SFT candidate gated against the bare
    base), run once for the module; the tests below read it, or resume from a copy of it."""
    root = tmp_path_factory.mktemp("night")
    ws, config = root / "ws", root / "nightly.toml"
    config.write_text(night_config(tiny_base))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(ws, config, "n1")
    return SimpleNamespace(
        ws=ws, config=config, code=code, out=out.getvalue(), err=err.getvalue(),
        key=base_key(str(tiny_base)),
    )  # fmt: skip


@pytest.mark.slow
def test_a_night_trains_gates_decides_and_reports(first_night):
    ws, key = first_night.ws, first_night.key
    assert "=== night n1:" in first_night.out, first_night.err[-3000:]
    assert "tic_tac_toe gate:" in first_night.out and "rank" in first_night.out
    with Registry.open(ws / "registry.sqlite", readonly=True) as reg:
        assert [v.version for v in reg.versions(GAME, key)] == ["v0", "v1"]
        stages = {s.stage: s for s in reg.stages("n1")}
        assert {name: s.status for name, s in stages.items()} == dict.fromkeys(STAGES, "done")
        assert len(reg.gate_decisions(night="n1")) == 1 and reg.latest_ratings(GAME, key)
        # the exit status, the night's outcome, the verdict and the registry agree
        night = reg.night("n1")
        decided = stages["decide"].result["decision"]
        assert night.status == "finished" and night.outcome == decided
        assert first_night.code == EXIT_CODES[night.outcome]
        gate = stages["gate"].result["decision"]
        assert decided == ("promoted" if gate == "accept" else "rejected")
        champion = reg.champion(GAME, key).version
        assert champion == ("v1" if decided == "promoted" else "v0")
        assert [e.kind for e in reg.events(GAME, key) if e.night == "n1"][-1] == (
            "promote" if decided == "promoted" else "reject"
        )
    report = (ws / "nights/n1/report.md").read_text()
    assert report.startswith(f"# Night n1: **{night.outcome.upper()}**")
    assert re.search(r"v1 optimal_move_accuracy [\d.]+ \[[\d.]+, [\d.]+\], vs random", report)
    png = f"ratings-tic_tac_toe-{key}.png"  # the rating-history plot, embedded
    assert f"]({png})" in report and (ws / "nights/n1" / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_finished_night_is_not_run_again(first_night, capsys):
    assert run(first_night.ws, first_night.config, "n1") == first_night.code
    assert "night n1 already finished" in capsys.readouterr().out


# A crash after each stage's work in turn (the decide stage: a real SIGKILL in another process,
# right after the verdict was committed), each rerun redoing only the stage that crashed. The
# stages whose rerun is a plain recomputation (plan, datasets, eval) crash before their work:
# the resume bookkeeping is the same, and their work is not done twice for nothing.
CRASHES = {"plan": "before", "datasets": "before", "eval": "before", "decide": "kill"}


EXPERT_ITERATION = """[datasets]
games = 0
sft = "always"
teacher = "search:{champion},sims=8"
selfplay_sft = true
replay_nights = 1
"""


def first_night_rows(ws: Path) -> int:
    return sum(1 for _ in (ws / "datasets/n1-tic_tac_toe/sft/sft.jsonl").open())


@pytest.mark.slow
def test_a_second_night_resumes_after_a_crash_at_every_stage(
    first_night, tmp_path, ray_instance, monkeypatch, capsys, dump_registry
):
    ws, key = tmp_path / "ws", first_night.key
    shutil.copytree(first_night.ws, ws)  # the first night's workspace, a fresh copy
    # night 2 is an expert-iteration night (issue 17): no expert games; the search over the
    # champion plays the champion's seats, its moves are the SFT rows, night 1's rows are
    # replayed, SFT continues the champion at continue_lr, and DPO pairs the search's choice
    # with the policy's own (method "search")
    config = tmp_path / "n2.toml"
    config.write_text(
        first_night.config.read_text()
        .replace("[datasets]\ngames = 20\n", EXPERT_ITERATION)
        .replace("[prefs_data]\n", '[prefs_data]\nmethod = "search"\n')
        + "[sft_train]\ncontinue_lr = 1e-3\n"
    )
    reg = Registry.open(ws / "registry.sqlite", readonly=True)
    if reg.champion(GAME, key).version == "v0":  # so that night 2 trains with DPO
        assert main(["--workspace", str(ws), "promote", "v1", "--reason", "test"]) == 0
    cmd = [sys.executable, "-m", "arena", "--workspace", str(ws), "nightly"]
    cmd += ["--config", str(config), "--night", "n2"]
    for stage in STAGES:
        when = CRASHES.get(stage, "after")
        if when == "kill":
            env = {**os.environ, FAULT_ENV: f"{stage}:kill", "RAY_ADDRESS": ray_instance}
            killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            assert killed.returncode == -9, killed.stderr[-2000:]
            assert "resuming night n2" in killed.stdout
            assert reg.stage("n2", GAME, stage).status == "running"  # killed mid-stage
            assert len([e for e in reg.events(GAME, key) if e.night == "n2"]) == 1
        else:
            monkeypatch.setenv(FAULT_ENV, f"{stage}:{when}")
            assert run(ws, config, "n2") == 1, stage
            assert reg.stage("n2", GAME, stage).status == "failed"
        champion = reg.champion(GAME, key)
        assert champion.path is None or Path(champion.path, "adapter_model.safetensors").is_file()
    monkeypatch.delenv(FAULT_ENV)
    code = run(ws, config, "n2")
    capsys.readouterr()
    assert code == EXIT_CODES[reg.night("n2").outcome]
    stages = {s.stage: s for s in reg.stages("n2")}
    assert {s: (r.status, r.attempts) for s, r in stages.items()} == dict.fromkeys(
        STAGES, ("done", 2)
    )
    built = read_result("datasets", stages["datasets"].result)
    assert built.prefs and built.prefs.train > 0
    assert built.sft.replay.replayed == {"n1": first_night_rows(ws)}  # night 1's rows, all
    assert built.sft.replay.new == built.sft.train > 0
    sft_rows = [json.loads(line) for line in Path(built.sft.dir, "sft.jsonl").open()]
    (source,) = {r["source"] for r in sft_rows}  # the search's moves, nobody else's
    assert source.startswith("search:llm:") and source.endswith("@v1,sims=8"), source
    (dpo,) = read_result("train", stages["train"].result).runs  # resumed: the registered run
    dpo_config = json.loads(Path(dpo.out, "manifest.json").read_text())["config"]
    assert dpo.kind == "dpo" and Path(dpo_config["adapter"]).name == "sft"  # SFT, then DPO
    sft_manifest = json.loads(Path(dpo_config["adapter"], "manifest.json").read_text())
    assert Path(sft_manifest["config"]["init_adapter"]).name == "v1"  # the champion's
    assert sft_manifest["config"]["continue_lr"] == 1e-3
    for row in stages.values():  # typed results write back exactly what the registry holds
        assert json_safe(read_result(row.stage, row.result).to_dict()) == row.result
    assert [v.version for v in reg.versions(GAME, key) if v.night == "n2"] == ["v2"]
    assert len(reg.gate_decisions(night="n2")) == 1
    verdicts = [e for e in reg.events(GAME, key) if e.night == "n2" and e.kind != "rollback"]
    assert len(verdicts) == 1  # nothing decided or promoted twice
    selfplay = json.loads((ws / "runs/n2-tic_tac_toe-selfplay/manifest.json").read_text())
    assert selfplay["sessions"][-1]["resumed_records"] == stages["selfplay"].result["games"]
    assert reg.night("n2").status == "finished"

    # issue 18, finding 1: the registry is lost after the nights (and a promotion by hand):
    # the next night is refused before any work, and `arena registry rebuild` gives back the
    # same versions, champion, decisions, history, ratings and nights
    before = dump_registry(reg)
    reg.close()
    for suffix in ("", "-wal", "-shm"):
        (ws / f"registry.sqlite{suffix}").unlink(missing_ok=True)
    assert run(ws, config, "n3") == 2
    assert "`arena registry rebuild`" in capsys.readouterr().err
    assert main(["--workspace", str(ws), "registry", "rebuild"]) == 0
    capsys.readouterr()
    with Registry.open(ws / "registry.sqlite") as rebuilt:
        assert dump_registry(rebuilt) == before
        staged = tmp_path / "staged"
        staged.mkdir()
        (staged / "manifest.json").write_text("{}")
        assert rebuilt.register(GAME, key, staged, "v2", "after").version == "v3"


@pytest.mark.slow
def test_a_night_without_usable_data_ends_rejected_not_stuck(
    tmp_path, tiny_base, ray_instance, capsys, night_config
):
    """Issue 18, finding 6: "cannot balance seats: seat 1 has no prefs rows" failed the night
    identically on every rerun. No usable rows (here: the expert never wins) is a verdict."""
    ws = tmp_path / "ws"
    config = tmp_path / "nightly.toml"
    text = night_config(tiny_base).replace(
        "[datasets]\ngames = 20", '[datasets]\ngames = 4\nexpert = "random"\nopponent = "solver"'
    )
    config.write_text(text + '[sft_data]\noutcome = "won"\n')
    assert run(ws, config, "dry") == 3
    out = capsys.readouterr().out
    assert "no usable SFT data: no SFT rows kept" in out and "=== night dry: REJECTED" in out
    report = json.loads((ws / "nights/dry/report.json").read_text())
    decided = report["games"][GAME]["decide"]
    assert decided["decision"] == "rejected" and "no usable SFT data" in decided["reason"]
    assert "no usable SFT data" in (ws / "nights/dry/report.md").read_text()
    assert run(ws, config, "dry") == 3  # finished: not run again, never stuck
    assert "night dry already finished (rejected)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_corrupted_candidate_is_refused_and_the_champion_keeps_serving(
    tmp_path, tiny_base, lora_factory
):
    from arena.nightly.stages import verify_adapter
    from games import InputError

    reg = Registry.open(tmp_path / "registry.sqlite")
    key = base_key(str(tiny_base))
    reg.init_base(GAME, key, actor="test")
    good = lora_factory(tiny_base, tmp_path / "good", seed=1)
    reg.register(GAME, key, good, "v0", "r1", verify=lambda f: verify_adapter(f, tiny_base))
    reg.promote(GAME, key, "v1", reason="test", actor="test")
    for damage in ("truncate", "remove"):
        bad = lora_factory(tiny_base, tmp_path / damage, seed=2)
        weights = bad / "adapter_model.safetensors"
        if damage == "truncate":
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        else:
            weights.unlink()
        with pytest.raises(InputError, match="adapter_model.safetensors|weights do not load"):
            reg.register(
                GAME, key, bad, "v1", damage, verify=lambda f: verify_adapter(f, tiny_base)
            )
        assert bad.is_dir()  # left where it was, never moved into the registry
    assert [v.version for v in reg.versions(GAME, key)] == ["v0", "v1"]
    champion = reg.champion(GAME, key)
    assert champion.version == "v1"
    verify_adapter(Path(champion.path), tiny_base)  # still loads
    reg.close()


@pytest.mark.slow
def test_a_candidate_identical_to_the_champion_is_not_promoted(
    tmp_path, tiny_base, ray_instance, lora_factory
):
    from arena.execution.session import ExecOptions
    from arena.runs.gate import GateRunConfig, run_gate

    ws = Workspace.resolve(tmp_path / "ws")
    key = base_key(str(tiny_base))
    reg = Registry.open(ws.registry)
    reg.init_base(GAME, key, actor="test")
    reg.register(GAME, key, lora_factory(tiny_base, tmp_path / "a", seed=4), "v0", "a")
    reg.promote(GAME, key, "v1", reason="test", actor="test")
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in Path(reg.get(GAME, key, "v1").path).iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    reg.register(GAME, key, copy, parent="v1", run_id="b")
    spec = f"llm:{tiny_base}@{{}},temperature=0"
    gate = run_gate(
        GateRunConfig(
            GAME, spec.format("v2"), spec.format("v1"), gate=GateConfig(min_pairs=4, max_pairs=8)
        ),
        ws, ExecOptions(workers=1), "same-gate",
    )  # fmt: skip
    assert gate.decision == "reject"
    gate_row, event = reg.record_gate(
        GAME, key, "v2", "v1", "reject", gate.gate.result.reason, gate.to_dict(), "test"
    )
    assert event.kind == "reject" and reg.champion(GAME, key).version == "v1"
    reg.close()


def test_training_progress_line(tmp_path):
    from arena.nightly.stages import _train_progress
    from training.train_common import progress_path

    assert _train_progress(str(tmp_path), 12) == "running for 12s (loading)"
    progress_path(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    progress_path(tmp_path).write_text(
        '{"step": 50, "max_steps": 512, "eta_s": 300.4, "loss": 0.5}'
    )
    assert _train_progress(str(tmp_path), 40) == "step 50/512, loss 0.500, 40s, ETA 300s"


def test_eval_summary_shows_intervals_and_poker_chips():
    from arena.nightly.report import eval_summary

    board = {
        "version": "v1",
        "metric": "optimal_move_accuracy",
        "value": 0.595,
        "ci95": [0.526, 0.661],
        "opponents": [
            {
                "opponent": "random",
                "score": 0.7,
                "score_ci95": [0.64, 0.76],
                "mean_return": 0.4,  # a board game's return is not chips: not shown
                "mean_return_ci95": [0.3, 0.5],
            }
        ],
    }
    assert eval_summary(DevScore.from_dict({**board, "higher_is_better": True})) == (
        "v1 optimal_move_accuracy 0.595 [0.526, 0.661], vs random 0.700 [0.640, 0.760]"
    )
    poker = {
        "version": "v2",
        "metric": "exploitability",
        "value": 0.1,
        "opponents": [
            {
                "opponent": "random",
                "score": 0.55,
                "score_ci95": [0.5, 0.6],
                "mean_return": 0.125,
                "mean_return_ci95": [-0.05, 0.3],
            }
        ],
    }
    assert eval_summary(DevScore.from_dict({**poker, "higher_is_better": False})) == (
        "v2 exploitability 0.100, vs random 0.550 [0.500, 0.600] chips/game +0.125 [-0.050, +0.300]"
    )


def test_preference_learning_config_parses():
    """configs/learning-prefs.toml (LEARNING.md section 4): a weak SFT night, then DPO nights
    on the champion's own mistakes with the default DPO budget."""
    from training.config import DPORunConfig

    config = parse_config(Path("configs/learning-prefs.toml").read_text())
    assert config.sft_run_config(data="d", base="b", out="o").train.epochs < 8
    prefs = config.prefs_data_config(inputs=("x",), out="o")
    assert (prefs.method, prefs.rejected) == ("solver", "played")
    dpo = config.dpo_run_config(data="d", base="b", adapter="a", out="o")
    assert dpo == DPORunConfig(data="d", base="b", adapter="a", out="o")
