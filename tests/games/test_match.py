"""The match loop and match records: determinism, forfeits, round trips, validated reading."""

import json

import numpy as np
import pytest

from agents import Decision, ScriptedAgent, make_agent
from games import Opening, load_game
from games.jsonl import JsonlWriter, ReadStats, RecordError
from games.match import MatchJob, play_match, play_matches
from games.records import MatchRecord, read_matches
from games.schedule import pair_jobs, summarize


def _records(game="tic_tac_toe", a="random", b="mcts:20", pairs=5, seed=0, batch=None):
    handle = load_game(game)
    agents = {spec: make_agent(spec, handle) for spec in {a, b}}
    jobs = pair_jobs(game, a, b, range(pairs), seed)
    if batch is None:
        return play_matches(jobs, agents)
    return [play_match(job, agents) for job in jobs]


def _strip_timing(records):
    return [{k: v for k, v in r.to_dict().items() if k != "timing"} for r in records]


def test_same_seed_same_records_whatever_the_batching():
    together = _records(pairs=6)
    one_by_one = _records(pairs=6, batch=1)
    assert _strip_timing(together) == _strip_timing(one_by_one)
    assert _strip_timing(_records(pairs=6, seed=1)) != _strip_timing(together)


def test_records_hold_prompts_policies_and_returns():
    record = _records(pairs=1)[0]
    assert record.termination == "normal"
    assert [s.spec for s in record.seats] == ["random", "mcts:20"]
    assert sum(record.returns) == 0
    first = record.moves[0]
    assert first.prompt.startswith("Game: tic_tac_toe")
    assert first.text == first.legal_texts[first.legal_actions.index(first.action)]
    assert first.policy is not None and abs(sum(first.policy) - 1) < 1e-9
    assert record.history[: len(record.opening["actions"])] == record.opening["actions"]


def test_pairs_share_openings_with_seats_swapped():
    records = _records(pairs=4)
    for a, b in zip(records[::2], records[1::2], strict=True):
        assert a.opening == b.opening and a.pair_index == b.pair_index
        assert [s.spec for s in a.seats] == [s.spec for s in reversed(b.seats)]
    summary = summarize(records, "random", "mcts:20")
    assert sum(summary.pentanomial) == 4 and summary.games == 8


class IllegalAgent(ScriptedAgent):
    spec = "illegal"

    def act(self, obs, rng):
        return Decision(action=max(obs.actions) + 100, text="z9")


class ForfeitAgent(ScriptedAgent):
    spec = "forfeit"

    def act(self, obs, rng):
        return Decision(action=None, text="???", unparseable=3)


@pytest.mark.parametrize("bad", [IllegalAgent(), ForfeitAgent()])
def test_illegal_move_or_forfeit_loses_and_is_recorded(bad):
    handle = load_game("tic_tac_toe")
    job = MatchJob("m0", "tic_tac_toe", (bad.spec, "random"), Opening(), seed=0)
    record = play_match(job, {bad.spec: bad, "random": make_agent("random", handle)})
    assert record.termination == "illegal_move"
    assert record.returns == [-1.0, 1.0]
    last = record.moves[-1]
    assert last.action is None and last.raw in ("z9", "???")
    assert last.illegal + last.unparseable >= 1
    assert MatchRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_move_cap_ends_the_game_as_a_draw():
    handle = load_game("tic_tac_toe")
    job = MatchJob("m0", "tic_tac_toe", ("random", "random"), Opening(), seed=0, move_cap=3)
    record = play_match(job, {"random": make_agent("random", handle)})
    assert record.termination == "move_cap" and record.returns == [0.0, 0.0]
    assert len(record.moves) == 3


def test_jsonl_round_trip(tmp_path):
    records = _records(game="leduc_poker", a="solver", b="random", pairs=3)
    path = tmp_path / "m.jsonl"
    with JsonlWriter(path) as writer:
        for r in records:
            writer.write(r.to_dict())
    assert list(read_matches(path)) == records


def _write_with_bad_lines(tmp_path):
    records = _records(pairs=2)
    good = [json.dumps(r.to_dict()) for r in records]
    broken = json.loads(good[1])
    broken["returns"] = [1.0]
    lines = [good[0], "{not json", json.dumps(broken), good[2], "", good[3], "[1, 2]"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_line_error_names_file_and_line(tmp_path):
    path = _write_with_bad_lines(tmp_path)
    with pytest.raises(RecordError, match=r"mixed\.jsonl:2: "):
        list(read_matches(path))


def test_skip_bad_quarantines_and_counts(tmp_path):
    path = _write_with_bad_lines(tmp_path)
    stats = ReadStats()
    kept = list(read_matches(path, skip_bad=True, stats=stats))
    assert len(kept) == 3 and stats.read == 3 and stats.bad == 3
    quarantined = [json.loads(line) for line in stats.quarantine.read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [2, 3, 7]
    assert "2 seats and 2 returns" in quarantined[1]["reason"]
    assert quarantined[0]["text"] == "{not json"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("termination", "resigned", "termination must be one of"),
        ("schema_version", 99, "unsupported schema_version"),
        ("seed", "7", "field 'seed' must be int"),
        ("returns", [float("nan"), 0.0], "finite"),
    ],
)
def test_validation_names_the_problem(field, value, message):
    obj = _records(pairs=1)[0].to_dict()
    obj[field] = value
    with pytest.raises(ValueError, match=message):
        MatchRecord.from_dict(obj)


def test_move_validation_catches_an_action_outside_the_legal_set():
    obj = _records(pairs=1)[0].to_dict()
    obj["moves"][0]["action"] = 99
    with pytest.raises(ValueError, match=r"move \d+: action 99"):
        MatchRecord.from_dict(obj)
    obj = _records(pairs=1)[0].to_dict()
    obj["moves"][0]["policy"] = [1.0] * len(obj["moves"][0]["legal_actions"])
    with pytest.raises(ValueError, match="policy sums to"):
        MatchRecord.from_dict(obj)


def test_concurrent_games_draw_only_from_their_own_generators():
    handle = load_game("connect_four")
    agents = {"random": make_agent("random", handle)}
    jobs = pair_jobs("connect_four", "random", "random", range(4), 3)
    alone = play_matches(jobs[3:4], agents)[0]
    together = play_matches(jobs, agents)[3]
    assert alone.history == together.history
    assert np.isclose(sum(alone.returns), 0)


class _WithPrior(ScriptedAgent):
    """Plays the first legal move; its prior is uniform (as a search agent's LLM prior)."""

    spec = "with-prior"

    def act(self, obs, rng):
        prior = {a: 1.0 / len(obs.actions) for a in obs.actions}
        return Decision(action=obs.actions[0], policy={obs.actions[0]: 1.0}, prior=prior)


def test_a_decisions_prior_is_recorded_aligned_and_older_records_without_it_read():
    handle = load_game("tic_tac_toe")
    agents = {"with-prior": _WithPrior(), "random": make_agent("random", handle)}
    job = MatchJob("p", "tic_tac_toe", ("with-prior", "random"), Opening((), 0), seed=1)
    record = play_match(job, agents)
    mine = [m for m in record.moves if m.player == 0]
    assert all(m.prior == [1 / len(m.legal_actions)] * len(m.legal_actions) for m in mine)
    assert all(m.prior is None for m in record.moves if m.player == 1)
    obj = record.to_dict()
    assert MatchRecord.from_dict(json.loads(json.dumps(obj))) == record
    for move in obj["moves"]:
        del move["prior"]  # a record written before the field existed
    assert all(m.prior is None for m in MatchRecord.from_dict(obj).moves)
    for bad, message in [([0.5], "aligned"), ([-1.0] + [0.0] * 8, "non-negative")]:
        obj["moves"][0]["prior"] = bad
        with pytest.raises(ValueError, match=f"prior .*{message}"):
            MatchRecord.from_dict(obj)
