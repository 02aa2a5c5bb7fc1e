"""Fuzz: damaged match logs through `arena data sft`, strict and with --skip-bad (issue 12).

A real log of tic_tac_toe games is damaged the ways files get damaged: bytes that are not
UTF-8, torn (truncated) lines, fields of the wrong type or missing, NaN, deep nesting, duplicated
lines. The properties: without --skip-bad a bad line is a one-line `FILE:LINE: reason` error;
with --skip-bad every bad line is quarantined (never dropped silently) and a rerun adds nothing
to the quarantine file; never a traceback.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from games.jsonl import RecordError, iter_jsonl
from games.records import MatchRecord

LONG = os.environ.get("ARENA_FUZZ") == "long"


@pytest.fixture(scope="module")
def clean_log(tmp_path_factory) -> list[bytes]:
    from arena.cli import main

    folder = tmp_path_factory.mktemp("log")
    log = folder / "m.jsonl"
    argv = ["--workspace", str(folder), "match", "--game", "tic_tac_toe", "--agents", "random"]
    assert main([*argv, "mcts:2", "--games", "4", "--out", str(log)]) == 0
    return log.read_bytes().splitlines(keepends=True)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_subnormal=False),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner)
    ),
    max_leaves=5,
)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


@st.composite
def damage(draw, lines: list[bytes]) -> list[bytes]:
    """The log with 1-3 lines damaged in one of the ways files get damaged."""
    lines = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        how = draw(
            st.sampled_from(["bytes", "torn", "field", "drop", "nan", "deep", "dup", "text"])
        )
        if len(line) < 3:
            line = b"[" + line
        elif how == "bytes":
            cut = draw(st.integers(0, len(line) - 1))
            junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xfe\xff"]))
            line = line[:cut] + junk + line[cut:]
        elif how == "torn":
            line = line[: draw(st.integers(1, len(line) - 1))] + b"\n"
        elif how in ("field", "drop") and _is_object(line):
            obj = json.loads(line)
            key = draw(st.sampled_from(sorted(obj)))
            if how == "drop":
                del obj[key]
            else:
                obj[key] = draw(JSON_VALUES)
            line = json.dumps(obj).encode() + b"\n"
        elif how == "nan":
            line = line.replace(b'"seed":', b'"seed":NaN,"x":', 1)
        elif how == "deep":
            line = b"[" * 50_000 + b"\n"
        elif how == "dup":
            lines.insert(index, line)
        else:
            line = draw(st.binary(max_size=40)).replace(b"\n", b"") + b"\n"
        lines[index] = line
    return lines


def _bad_lines(path) -> list[int]:
    bad = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            if raw.strip():
                MatchRecord.from_dict(json.loads(raw.decode("utf-8")))
        except Exception:  # noqa: BLE001 - the oracle: anything the reader must refuse
            bad.append(number)
    return bad


@settings(max_examples=300 if LONG else 25)
@given(data=st.data())
def test_damaged_logs(cli, clean_log, tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    log = folder / "m.jsonl"
    log.write_bytes(b"".join(data.draw(damage(clean_log))))
    strict = cli(["data", "sft", str(log), "--out", str(folder / "strict")])
    strict.assert_clean()
    if strict.code == 2 and str(log) in strict.error:
        assert re.search(re.escape(str(log)) + r":\d+: ", strict.error), strict.error

    out = folder / "skip"
    first = cli(["data", "sft", str(log), "--out", str(out), "--skip-bad"])
    first.assert_clean()
    quarantine = out / "m.jsonl.bad"
    entries = quarantine.read_text().splitlines() if quarantine.exists() else []
    assert len(entries) >= 1 or not _bad_lines(log) or first.code == 2
    before = quarantine.read_bytes() if quarantine.exists() else b""
    again = cli(["data", "sft", str(log), "--out", str(out), "--skip-bad"])
    again.assert_clean()
    after = quarantine.read_bytes() if quarantine.exists() else b""
    assert after == before  # idempotent: a rerun quarantines nothing twice


@settings(max_examples=300 if LONG else 30)
@given(content=st.binary(max_size=300))
def test_reader_on_arbitrary_bytes(tmp_path_factory, content):
    """The reader itself: any bytes give records or one RecordError naming file:line."""
    path = tmp_path_factory.mktemp("bytes") / "x.jsonl"
    path.write_bytes(content)
    try:
        list(iter_jsonl(path, MatchRecord.from_dict))
    except RecordError as error:
        assert str(error).startswith(f"{path}:") and "\n" not in str(error)


def test_non_utf8_byte_is_a_file_line_error_and_quarantined_once(cli, clean_log, tmp_path):
    """Issue 12: a byte that was not UTF-8 gave a traceback without file:line, and --skip-bad
    did not quarantine it; quarantine files were appended to, so a rerun counted it twice."""
    log = tmp_path / "m.jsonl"
    log.write_bytes(b"".join(clean_log[:2]) + b'{"match_id": "\xff"}\n' + b"".join(clean_log[2:]))
    strict = cli(["data", "sft", str(log), "--out", str(tmp_path / "a")])
    assert strict.code == 2 and strict.error == (
        f"arena: error: {log}:3: not UTF-8 text (byte 15 of the line)"
    )
    for _ in range(2):
        skip = cli(["data", "sft", str(log), "--out", str(tmp_path / "b"), "--skip-bad"])
        assert skip.code == 0, skip.err
        entries = [json.loads(x) for x in (tmp_path / "b" / "m.jsonl.bad").read_text().splitlines()]
        assert [(e["line"], e["reason"]) for e in entries] == [
            (3, "not UTF-8 text (byte 15 of the line)")
        ]
        assert entries[0]["text"] == '{"match_id": "\\xff"}'


@pytest.mark.parametrize("kind", ["data sft", "data prefs", "train sft"])
def test_devices_and_fifos_are_refused_not_read_forever(cli, tmp_path, kind):
    """Found while hardening: `arena data sft /dev/zero` read forever (a hang), `arena train sft
    --data /dev/zero` ran out of memory, a FIFO blocked."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for source in ("/dev/zero", str(fifo)):
        if kind == "train sft":
            argv = ["train", "sft", "--data", source, "--base", "x", "--out", str(tmp_path / "a")]
        else:
            argv = [*kind.split(), source, "--out", str(tmp_path / "out")]
        result = cli(["--workspace", str(tmp_path), *argv], seconds=30)
        result.assert_clean()
        assert result.code == 2 and "is not a regular file" in result.error


def test_crafted_game_in_a_match_log_is_a_bad_line(cli, clean_log, tmp_path):
    """Found while hardening: a log whose record names `connect_four(rows=0)` was accepted, and
    the dataset builders and rollouts then handed that string to OpenSpiel (a segfault)."""
    log = tmp_path / "m.jsonl"
    evil = clean_log[0].replace(b'"game":"tic_tac_toe"', b'"game":"connect_four(rows=0)"', 1)
    log.write_bytes(evil + b"".join(clean_log[1:]))
    result = cli(["data", "prefs", str(log), "--out", str(tmp_path / "p")])
    assert result.code == 2 and f"{log}:1: game 'connect_four(rows=0)'" in result.error


def test_lone_surrogate_escape_is_a_bad_line(tmp_path):
    """Found by the long fuzz profile: `"\\ud800"` is valid JSON but no Unicode text; a dataset
    builder then failed to hash the row (UnicodeEncodeError traceback)."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"match_id": "\\ud800"}\n')
    with pytest.raises(RecordError, match=r":1: a string holds a lone surrogate"):
        list(iter_jsonl(path, MatchRecord.from_dict))


def test_wrong_shapes_are_bad_lines(tmp_path):
    """Found by the long fuzz profile: a seat that is null raised AttributeError (a traceback)."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"schema_version": 1, "seats": [null, 1], "returns": [0, 0]}\n')
    with pytest.raises(RecordError, match=r"x.jsonl:1: "):
        list(iter_jsonl(path, MatchRecord.from_dict))
