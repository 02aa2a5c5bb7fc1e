"""Tournament, self-play and gate runs on a real local Ray instance (shared by this session).

Ray starts once (``arena.execution.cluster.connect`` is idempotent; the other Ray test modules
reuse it).
"""

import json

import pytest

from agents import make_agent
from arena.cli import main
from arena.execution.session import ExecOptions
from arena.runs.gate import GateRunConfig, run_gate
from arena.runs.selfplay import SelfplayConfig, allocate, parse_league, run_selfplay
from arena.runs.tournament import TournamentConfig, run_tournament
from games import InputError, load_game
from games.match import play_matches
from games.records import match_files, read_matches
from games.schedule import MatchOptions
from games.workspace import Workspace
from ratings import GateConfig, wilson_interval

# Uniform random tic-tac-toe from the empty board: the first player wins 737/1260 of the time
# on average (0.585), draws 0.127, loses 0.288 (exhaustive enumeration; e.g. Schaefer,
# "Tic-tac-toe and randomness"). Its expected score is therefore 0.585 + 0.127 / 2 = 0.648.
RANDOM_TTT_FIRST_WIN = 0.5848
RANDOM_TTT_FIRST_SCORE = 0.5848 + 0.1270 / 2


@pytest.fixture(scope="module")
def ray_local():
    from arena.execution.cluster import connect

    return connect(num_cpus=2)


def records_of(workspace: Workspace, run_id: str) -> list:
    out = []
    for path in match_files(workspace.matches(run_id)):
        out.extend(read_matches(path))
    return out


def without_timing(record) -> dict:
    data = record.to_dict() if hasattr(record, "to_dict") else dict(record)
    data.pop("timing")
    return data


def test_round_robin_summary_adds_up_and_matches_the_records(tmp_path, ray_local):
    ws = Workspace(tmp_path)
    players = ("random", "mcts:10", "solver")
    config = TournamentConfig(
        "tic_tac_toe", players, pairs=5, matches=MatchOptions(opening_plies=0)
    )
    result = run_tournament(config, ws, ExecOptions(workers=2, batch=4), run_id="rr")
    records = records_of(ws, "rr")
    assert len(records) == 3 * 5 * 2
    assert len({r.match_id for r in records}) == len(records)
    summary = json.loads((tmp_path / "runs" / "rr" / "summary.json").read_text())
    assert [(p["player"], p["opponent"]) for p in summary["pairings"]] == [
        ("random", "mcts:10"),
        ("random", "solver"),
        ("mcts:10", "solver"),
    ]
    for entry in summary["pairings"]:
        assert entry["wins"] + entry["draws"] + entry["losses"] == entry["games"] == 10
        assert sum(entry["pentanomial"]) == 5 and entry["incomplete_pairs"] == 0
        assert entry["score_ci"][0] <= entry["score"] <= entry["score_ci"][1]
    # From the empty board the solver never loses at tic-tac-toe.
    vs_solver = [p for p in summary["pairings"] if p["opponent"] == "solver"]
    assert all(p["wins"] == 0 for p in vs_solver)
    assert summary["leaderboard"]["ratings"][-1]["player"] == "random"
    assert "95% CI" in result.table() and "pairs 0/½/1/1½/2" in result.table()
    manifest = json.loads((tmp_path / "runs" / "rr" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["sessions"]) == 1
    assert manifest["sessions"][0]["played"] == 30


def test_random_self_play_reproduces_the_first_player_advantage(tmp_path, ray_local):
    ws = Workspace(tmp_path)
    config = SelfplayConfig("tic_tac_toe", "random", pairs=400, matches=MatchOptions(seed=11))
    result = run_selfplay(config, ws, ExecOptions(workers=2), run_id="fpa")
    records = records_of(ws, "fpa")
    assert len(records) == 800
    first = [r.score(0) for r in records]
    low, high = wilson_interval(sum(first), len(first))
    assert low <= RANDOM_TTT_FIRST_SCORE <= high, (low, sum(first) / len(first), high)
    wins = sum(1 for s in first if s == 1.0)
    low, high = wilson_interval(wins, len(first))
    assert low <= RANDOM_TTT_FIRST_WIN <= high
    (entry,) = result.opponents
    assert sum(entry["pentanomial"]) == 400 and entry["games"] == 800
    # Against itself, the seat swap cancels the first-player advantage.
    assert entry["score_ci"][0] <= 0.5 <= entry["score_ci"][1]


def test_same_config_same_records_on_one_or_two_workers_and_in_process(tmp_path, ray_local):
    config = TournamentConfig(
        "connect_four", ("mcts:8", "random"), pairs=4, matches=MatchOptions(seed=5)
    )
    runs = {}
    for workers in (1, 2):
        ws = Workspace(tmp_path / f"w{workers}")
        run_tournament(config, ws, ExecOptions(workers=workers, batch=2), run_id="det")
        runs[workers] = sorted(records_of(ws, "det"), key=lambda r: r.match_id)
    handle = load_game(config.game)
    agents = {spec: make_agent(spec, handle) for spec in config.players}
    local = sorted(play_matches(config.jobs("det"), agents), key=lambda r: r.match_id)
    assert len(runs[1]) == len(runs[2]) == len(local) == 8
    assert [without_timing(r) for r in runs[1]] == [without_timing(r) for r in runs[2]]
    assert [without_timing(r) for r in runs[1]] == [without_timing(r) for r in local]


def test_gate_accepts_a_clearly_stronger_player_early(tmp_path, ray_local):
    config = GateRunConfig("tic_tac_toe", "solver", "random", gate=GateConfig(max_pairs=400))
    result = run_gate(config, Workspace(tmp_path), ExecOptions(workers=2), run_id="strong")
    assert result.decision == "accept"
    assert result.gate.result.pairs < 100 and result.pairs_played < 100
    report = json.loads((tmp_path / "runs" / "strong" / "gate.json").read_text())
    assert report["decision"] == "accept" and report["llr"] >= report["bounds"][1]
    assert sum(report["counts"]) == report["pairs"]
    assert "ACCEPT" in (tmp_path / "runs" / "strong" / "gate.md").read_text()
    assert len(records_of(Workspace(tmp_path), "strong")) == 2 * result.pairs_played


def test_gate_never_accepts_a_player_against_itself(tmp_path, ray_local):
    config = GateRunConfig(
        "tic_tac_toe",
        candidate="random",
        champion="random",
        gate=GateConfig(max_pairs=600),
        batch_pairs=100,
    )
    result = run_gate(config, Workspace(tmp_path), ExecOptions(workers=2), run_id="self")
    assert result.decision == "reject"
    res = result.gate.result
    assert res.ci[0] <= 0.5 <= res.ci[1]
    assert res.llr <= res.bounds[1]


def test_gate_decision_does_not_depend_on_the_batch_size(tmp_path, ray_local):
    decided = []
    for batch in (7, 40):
        config = GateRunConfig(
            "tic_tac_toe",
            candidate="mcts:20",
            champion="random",
            gate=GateConfig(max_pairs=200),
            batch_pairs=batch,
        )
        ws = Workspace(tmp_path / str(batch))
        result = run_gate(config, ws, ExecOptions(workers=2), run_id="b")
        decided.append((result.decision, result.gate.result.pairs, result.gate.result.counts))
    assert decided[0] == decided[1]


def test_selfplay_league_split_and_options():
    assert allocate([3, 1, 1], 10) == [6, 2, 2]
    assert allocate([1, 1, 1], 4) == [2, 1, 1]
    assert parse_league(["self=2", "mcts:5", "llm:b@v1=0.5"]) == (
        ("self", 2.0),
        ("mcts:5", 1.0),
        ("llm:b@v1", 0.5),
    )
    config = SelfplayConfig(
        "tic_tac_toe", "llm:b@v2", league=(("self", 3), ("llm:b@v1", 1), ("mcts:5", 1)), pairs=10
    )
    assert config.opponents() == [
        ("llm:b@v2,temperature=1", 6),
        ("llm:b@v1,temperature=1", 2),
        ("mcts:5", 2),
    ]
    hot = SelfplayConfig("tic_tac_toe", "llm:b,t=0", league=(("self", 1),), temperature=0.7)
    assert hot.player == "llm:b,t=0"  # the spec's own temperature (here by its alias) wins
    jobs = config.jobs("sp")
    assert len(jobs) == 20 and len({j.match_id for j in jobs}) == 20
    with pytest.raises(InputError, match="weight"):
        parse_league(["mcts=x"])
    with pytest.raises(InputError, match="distinct"):
        SelfplayConfig("tic_tac_toe", "random", league=(("self", 1), ("random", 1)))


def test_cli_runs_print_tables_and_resume_with_the_same_run_id(tmp_path, ray_local, capsys):
    common = ["--workspace", str(tmp_path)]
    args = ["tournament", "--game", "tic_tac_toe", "--players", "random", "mcts:5"]
    args += ["--pairs", "3", "--run-id", "t", "--workers", "2"]
    assert main(common + args) == 0
    out = capsys.readouterr().out
    assert "mcts:5" in out and "95% CI" in out and "6 games (0 already recorded" in out
    assert main(common + args) == 0  # a complete run resumes to nothing to do
    assert "6 already recorded, 0 played" in capsys.readouterr().out

    args = ["selfplay", "--game", "kuhn_poker", "--player", "solver"]
    args += ["--league", "self", "random=2"]
    assert main(common + args + ["--pairs", "6", "--run-id", "s"]) == 0
    out = capsys.readouterr().out
    assert "12 games" in out and "random" in out
    assert len(records_of(Workspace(tmp_path), "s")) == 12

    args = ["gate", "--game", "tic_tac_toe", "--candidate", "solver", "--champion", "random"]
    assert main(common + args + ["--run-id", "g", "--min-pairs", "10", "--batch-pairs", "10"]) == 0
    out = capsys.readouterr().out
    assert "**ACCEPT**" in out and "gate.json" in out


def test_cli_refuses_to_mix_configs_under_one_run_id(tmp_path, ray_local, capsys):
    common = ["--workspace", str(tmp_path), "tournament", "--game", "tic_tac_toe", "--run-id", "x"]
    assert main(common + ["--players", "random", "solver", "--pairs", "2"]) == 0
    capsys.readouterr()
    assert main(common + ["--players", "random", "solver", "--pairs", "3"]) == 2
    err = capsys.readouterr().err
    # the run announces its size before Ray starts (issue 12: no silent start); the refusal
    # itself is one line, with no traceback
    errors = [line for line in err.splitlines() if line.startswith("arena: error:")]
    assert len(errors) == 1 and "already exists" in errors[0] and "pairs" in errors[0]
    assert "Traceback" not in err and err.splitlines()[-1] == errors[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["tournament", "--game", "tic_tac_toe", "--players", "random"], "at least 2 players"),
        (["tournament", "--game", "nope", "--players", "random", "solver"], "unknown game"),
        (["gate", "--game", "tic_tac_toe", "--candidate", "x", "--champion", "random"], "spec"),
        (
            ["gate", "--game", "tic_tac_toe", "--candidate", "solver", "--champion", "random"]
            + ["--min-pairs", "50", "--max-pairs", "10"],
            "max_pairs",
        ),
        (["selfplay", "--game", "tic_tac_toe", "--player", "random", "--workers", "0"], "workers"),
    ],
)
def test_cli_user_mistakes_are_one_line(tmp_path, args, message, capsys):
    assert main(["--workspace", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("arena: error:") and err.count("\n") == 1


def test_an_address_nobody_listens_on_fails_fast():
    from arena.execution.cluster import _probe

    with pytest.raises(InputError, match="cannot reach the Ray head at 127.0.0.1:1"):
        _probe("127.0.0.1:1")
    _probe("auto")  # not HOST:PORT: left to Ray


def test_worker_errors_come_back_as_one_line_input_errors(tmp_path, ray_local):
    # MCTS refuses hidden-information games; the refusal happens inside the Ray worker.
    config = TournamentConfig("kuhn_poker", ("mcts:5", "random"), pairs=1)
    with pytest.raises(InputError, match="perfect-information"):
        run_tournament(config, Workspace(tmp_path), ExecOptions(workers=1), run_id="bad")


def test_tournament_formats():
    players = ("random", "mcts:5", "solver")
    gauntlet = TournamentConfig("tic_tac_toe", players, format="gauntlet")
    assert gauntlet.pairings() == [(0, 1), (0, 2)]
    assert TournamentConfig("tic_tac_toe", players).pairings() == [(0, 1), (0, 2), (1, 2)]
    jobs = TournamentConfig("tic_tac_toe", players, pairs=3).jobs("r")
    assert len(jobs) == 18 and len({j.match_id for j in jobs}) == 18
    assert len({j.seed for j in jobs}) == 18
    with pytest.raises(InputError, match="distinct"):
        TournamentConfig("tic_tac_toe", ("random", "random"))
    with pytest.raises(InputError, match="format"):
        TournamentConfig("tic_tac_toe", players, format="swiss")


def test_gate_plays_argmax_and_counts_each_distinct_opening_once():
    from agents import is_deterministic
    from games.schedule import distinct_opening_pairs

    config = GateRunConfig("tic_tac_toe", "llm:b@v2", "llm:b", gate=GateConfig(max_pairs=500))
    assert config.candidate == "llm:b@v2,temperature=0" and config.champion == "llm:b,temperature=0"
    assert config.deterministic
    indices = config.pair_indices()
    openings = {job.opening.actions for job in config.jobs("x", indices)}
    assert len(indices) == len(openings) == 82  # 1 + 9 + 9 * 8 openings of 0-2 plies
    assert config.gate_config(len(indices)).max_pairs == 82
    assert distinct_opening_pairs("tic_tac_toe", 10, 0, tag="gate") == indices[:10]
    sampled = GateRunConfig(
        "tic_tac_toe", "llm:b,temperature=1", "llm:b", gate=GateConfig(max_pairs=50)
    )
    assert not sampled.deterministic and sampled.pair_indices() == list(range(50))
    poker = GateRunConfig("kuhn_poker", candidate="llm:b@v2", champion="llm:b")
    assert poker.candidate == "llm:b@v2" and not poker.deterministic
    assert not is_deterministic("solver") and is_deterministic("llm:b,t=0")
    with pytest.raises(InputError, match="distinct openings"):
        GateRunConfig(
            "tic_tac_toe", "llm:b@v2", "llm:b", gate=GateConfig(min_pairs=100)
        ).pair_indices()
