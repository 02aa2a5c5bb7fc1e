"""The replay buffer of nights that continue from the champion (training/replay.py)."""

from __future__ import annotations

import json

import pytest

from games.jsonl import RecordError
from training.replay import mix_replay
from training.rows import SFTRow


def _write(path, moves: list[str], source: str) -> None:
    rows = [
        SFTRow(f"board {m}\nMove:", f" {m}\n", "tic_tac_toe", source, f"{source}-{i}", 0, 0)
        for i, m in enumerate(moves)
    ]
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))


def _moves(path) -> list[str]:
    return [json.loads(line)["completion"].strip() for line in path.read_text().splitlines()]


def test_tonight_first_then_earlier_rows_not_already_held(tmp_path):
    _write(tmp_path / "new.jsonl", ["a1", "b2"], "n3")
    _write(tmp_path / "n2.jsonl", ["b2", "c3"], "n2")  # b2: tonight has it
    _write(tmp_path / "n1.jsonl", ["c3", "a2", "a3"], "n1")  # c3: n2 has it
    earlier = [("n2", tmp_path / "n2.jsonl"), ("n1", tmp_path / "n1.jsonl")]
    mix = mix_replay(tmp_path / "new.jsonl", earlier, tmp_path / "mix.jsonl")
    assert _moves(tmp_path / "mix.jsonl") == ["a1", "b2", "c3", "a2", "a3"]
    assert (mix.new, mix.replayed, mix.duplicates, mix.capped) == (2, {"n2": 1, "n1": 2}, 2, 0)
    assert mix.rows == 5 and mix.to_dict()["replayed"] == {"n2": 1, "n1": 2}


def test_the_cap_samples_earlier_rows_reproducibly(tmp_path):
    _write(tmp_path / "new.jsonl", ["a1"], "n2")
    _write(tmp_path / "n1.jsonl", [f"x{i}" for i in range(50)], "n1")
    runs = [
        mix_replay(tmp_path / "new.jsonl", [("n1", tmp_path / "n1.jsonl")],
                   tmp_path / f"mix{seed}.jsonl", max_rows=10, seed=seed)
        for seed in (0, 0, 1)
    ]  # fmt: skip
    assert [m.replayed["n1"] for m in runs] == [10, 10, 10] and runs[0].capped == 40
    first, again, other = (_moves(tmp_path / f"mix{s}.jsonl") for s in (0, 0, 1))
    assert first == again and first != other and first[0] == "a1"


def test_a_missing_or_damaged_earlier_night_is_an_error_not_a_smaller_replay(tmp_path):
    _write(tmp_path / "new.jsonl", ["a1"], "n2")
    with pytest.raises(FileNotFoundError):
        mix_replay(tmp_path / "new.jsonl", [("n1", tmp_path / "gone.jsonl")], tmp_path / "m")
    (tmp_path / "bad.jsonl").write_text('{"prompt": 1}\n')
    with pytest.raises(RecordError):
        mix_replay(tmp_path / "new.jsonl", [("n1", tmp_path / "bad.jsonl")], tmp_path / "m")
    assert not (tmp_path / "m").exists()
