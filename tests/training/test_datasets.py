"""Dataset builders on small generated logs: schema, de-duplication, seat balance, held-out
split, streaming, quarantine, and the three preference methods."""

from __future__ import annotations

import gc
import json
import math
import weakref
from collections import Counter

import pytest

import training.build as build
import training.pref_data as pref_data
from agents import make_agent
from agents.solver import AlphaBetaSolver
from games import InputError, load_game, observe
from games.jsonl import JsonlWriter, RecordError
from games.match import play_matches
from games.schedule import pair_jobs
from training.config import PlaySpec, PrefsDataConfig, SFTDataConfig
from training.manifest import sha256_file
from training.pref_data import build_prefs, gap_confidence
from training.rollouts import consistent_histories, replay
from training.rows import PrefRow, SFTRow
from training.sft_data import build_sft


def _log(path, game="tic_tac_toe", a="solver", b="random", pairs=12, seed=0):
    handle = load_game(game)
    agents = {s: make_agent(s, handle) for s in {a, b}}
    records = play_matches(pair_jobs(game, a, b, range(pairs), seed), agents)
    with JsonlWriter(path, mode="w") as writer:
        for record in records:
            writer.write(record.to_dict())
    return records


def _rows(path, parse):
    return [parse(json.loads(line)) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def ttt_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("logs") / "matches.jsonl"
    return path, _log(path)


def test_sft_rows_are_trl_prompt_completion_of_the_chosen_agent(ttt_log, tmp_path):
    path, records = ttt_log
    result = build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path), agents=("solver",)))
    rows = _rows(result.paths["train"], SFTRow.from_dict) + _rows(
        result.paths["heldout"], SFTRow.from_dict
    )
    assert rows and all(r.source == "solver" for r in rows)
    moves = {(r.match_id, m.ply): (r, m) for r in records for m in r.moves}
    for row in rows:
        record, move = moves[(row.match_id, row.ply)]
        assert record.seats[move.player].spec == "solver" and row.seat == move.player
        assert row.prompt == move.prompt and row.completion == f" {move.text}\n"
    # every move read is kept or counted under a reason
    assert result.considered == sum(len(r.moves) for r in records)
    assert result.considered == sum(result.written.values()) + sum(result.drops.values())
    assert result.drops["seat or agent not selected"] == sum(
        1 for r in records for m in r.moves if r.seats[m.player].spec != "solver"
    )


def test_sft_dedup_modes_and_seat_balance(ttt_log, tmp_path):
    path, _ = ttt_log
    built = {}
    for mode in ("none", "exact", "prompt"):
        result = build_sft(
            SFTDataConfig(
                inputs=(str(path),), out=str(tmp_path / mode), dedup=mode, balance_seats=False
            )
        )
        rows = _rows(result.paths["train"], SFTRow.from_dict)
        rows += _rows(result.paths["heldout"], SFTRow.from_dict)
        built[mode] = rows
    pairs = Counter((r.prompt, r.completion) for r in built["exact"])
    assert max(pairs.values()) == 1
    assert len(Counter(r.prompt for r in built["prompt"])) == len(built["prompt"])
    assert len(built["none"]) > len(built["exact"]) >= len(built["prompt"])
    balanced = build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path / "bal")))
    for split_path in balanced.paths.values():
        seats = Counter(r.seat for r in _rows(split_path, SFTRow.from_dict))
        assert seats[0] == seats[1]
    assert balanced.drops["seat balance"] > 0


def test_heldout_split_keeps_each_match_on_one_side(ttt_log, tmp_path):
    path, _ = ttt_log
    result = build_sft(
        SFTDataConfig(inputs=(str(path),), out=str(tmp_path), heldout=0.3, dedup="none")
    )
    train = {r.match_id for r in _rows(result.paths["train"], SFTRow.from_dict)}
    heldout = {r.match_id for r in _rows(result.paths["heldout"], SFTRow.from_dict)}
    assert train and heldout and not train & heldout


def test_build_is_deterministic_and_shards_equal_one_file(ttt_log, tmp_path):
    path, records = ttt_log
    shards = tmp_path / "shards"
    for index in range(3):
        with JsonlWriter(shards / f"part-{index}.jsonl", mode="w") as writer:
            for record in records[index::3]:
                writer.write(record.to_dict())
    a = build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path / "a")))
    b = build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path / "b")))
    same = {"dedup": "none", "balance_seats": False}
    c = build_sft(SFTDataConfig(inputs=(str(shards),), out=str(tmp_path / "c"), **same))
    d = build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path / "d"), **same))
    assert sha256_file(a.paths["train"]) == sha256_file(b.paths["train"])
    assert sorted(c.paths["train"].read_text().splitlines()) == sorted(
        d.paths["train"].read_text().splitlines()
    )
    assert not list((tmp_path / "a").glob(".sft-spool-*"))  # the spool is cleaned up


def test_builder_streams_records_without_keeping_them(ttt_log, tmp_path, monkeypatch):
    """Guards against a builder that lists all records first (logs larger than memory)."""
    path, _ = ttt_log
    real = build.iter_records  # the shared skeleton reads for every builder
    alive = []

    def watched(*args, **kwargs):
        for record in real(*args, **kwargs):
            count = sum(1 for ref in refs if ref() is not None)
            if count > 1:  # perhaps only garbage in a reference cycle: collect, count again
                gc.collect()
                count = sum(1 for ref in refs if ref() is not None)
            alive.append(count)
            refs.append(weakref.ref(record))
            yield record

    refs: list = []
    monkeypatch.setattr(build, "iter_records", watched)
    build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path)))
    assert len(alive) == 24 and max(alive) <= 1


def test_malformed_lines_stop_or_are_quarantined(ttt_log, tmp_path):
    path, _ = ttt_log
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], "{not json", lines[1], '{"schema_version": 1}']) + "\n")
    with pytest.raises(RecordError, match=r"bad\.jsonl:2"):
        build_sft(SFTDataConfig(inputs=(str(bad),), out=str(tmp_path / "strict")))
    result = build_sft(
        SFTDataConfig(inputs=(str(bad),), out=str(tmp_path / "lenient"), skip_bad=True)
    )
    assert result.read.bad == 2 and result.drops["malformed match line (quarantined)"] == 2
    quarantined = [json.loads(x) for x in result.read.quarantine.read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [2, 4] and quarantined[0]["text"] == "{not json"


def test_empty_selection_is_a_clear_error(ttt_log, tmp_path):
    path, _ = ttt_log
    with pytest.raises(InputError, match="no SFT rows kept"):
        build_sft(SFTDataConfig(inputs=(str(path),), out=str(tmp_path), agents=("mcts:7",)))
    with pytest.raises(InputError, match="no match logs"):
        build_sft(SFTDataConfig(inputs=(), out=str(tmp_path)))


def test_solver_pairs_prefer_an_optimal_move(ttt_log, tmp_path):
    path, _ = ttt_log
    result = build_prefs(
        PrefsDataConfig(inputs=(str(path),), out=str(tmp_path), method="solver", heldout=0.0)
    )
    rows = _rows(result.paths["train"], PrefRow.from_dict)
    handle = load_game("tic_tac_toe")
    solver = AlphaBetaSolver(handle)
    seats = Counter(r.seat for r in rows)
    assert rows and seats[0] == seats[1]
    for row in rows[:20]:
        state = replay(handle, _history(row, path))
        obs = observe(handle, state)
        values = solver.action_values(state)
        text_value = {f" {obs.text_of(a)}\n": v for a, v in values.items()}
        best = max(values.values())
        assert text_value[row.chosen] == best == row.chosen_value
        assert text_value[row.rejected] == row.rejected_value < best
        assert row.confidence == 1.0 and row.rollouts == 0


def test_pairs_can_target_the_players_own_mistakes(tmp_path):
    path = tmp_path / "log.jsonl"
    records = _log(path, a="random", b="random", pairs=10)
    config = PrefsDataConfig(
        inputs=(str(path),), out=str(tmp_path / "p"), method="solver", rejected="played"
    )
    result = build_prefs(config)
    rows = [r for p in result.paths.values() for r in _rows(p, PrefRow.from_dict)]
    played = {(r.match_id, m.ply): f" {m.text}\n" for r in records for m in r.moves}
    assert (
        rows and result.drops["position: the played move was not confidently worse than the best"]
    )
    for row in rows:
        assert row.rejected == played[(row.match_id, row.ply)]
        assert row.chosen_value > row.rejected_value


def _history(row, path):
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["match_id"] == row.match_id:
            return record["history"][: row.ply]
    raise AssertionError(row.match_id)


def test_gap_confidence_is_agresti_caffo():
    # pinned: 12/16 vs 4/16 wins, threshold 0.1 -> p~ = 13/18, 5/18
    pc, pr = 13 / 18, 5 / 18
    se = math.sqrt(pc * (1 - pc) / 18 + pr * (1 - pr) / 18)
    expected = 0.5 * math.erfc(-((pc - pr - 0.1) / se) / math.sqrt(2))
    assert gap_confidence(12, 16, 4, 16, 0.1) == pytest.approx(expected, abs=1e-12)
    assert gap_confidence(4, 4, 0, 4, 0.1) == pytest.approx(0.9957, abs=1e-4)  # not certainty
    assert gap_confidence(32, 32, 0, 32, 0.1) > gap_confidence(4, 4, 0, 4, 0.1)
    assert gap_confidence(4, 16, 12, 16, 0.0) < 0.05


def test_rollout_pairs_are_confident_deterministic_and_balanced(tmp_path):
    config = dict(
        inputs=(),
        method="rollout",
        rollouts=12,
        max_positions=24,
        play=PlaySpec("tic_tac_toe", ("random", "random"), games=10, seed=3),
    )
    a = build_prefs(PrefsDataConfig(out=str(tmp_path / "a"), **config))
    b = build_prefs(PrefsDataConfig(out=str(tmp_path / "b"), **config))
    assert sha256_file(a.paths["train"]) == sha256_file(b.paths["train"])
    rows = _rows(a.paths["train"], PrefRow.from_dict)
    assert rows and all(r.confidence >= 0.9 and r.rollouts == 12 for r in rows)
    assert all(r.chosen_value > r.rejected_value for r in rows)
    assert all(r.source == "rollout:random" for r in rows)
    assert a.manifest.dataset["confidence_level"] == 0.9


def test_poker_rollouts_redeal_the_hidden_card():
    handle = load_game("kuhn_poker")
    # player 0 holds the Jack (0), player 1 the King (2); player 0 checked
    histories, probs = consistent_histories(handle, [0, 2, 0], player=1)
    assert histories == [(0, 2, 0), (1, 2, 0)] and probs.tolist() == [0.5, 0.5]
    for history in histories:
        assert replay(handle, history).information_state_string(1) == replay(
            handle, [0, 2, 0]
        ).information_state_string(1)


def test_poker_rollouts_weigh_hidden_cards_by_the_opponents_policy():
    from training.rollouts import opponent_policy

    handle = load_game("kuhn_poker")
    # player 0 holds the Queen and checked; player 1 bet. The equilibrium opponent bets the
    # King always and the Jack a third of the time: the Jack has probability 1/4, not 1/2.
    history = [1, 2, 0, 1]
    deals, chance = consistent_histories(handle, history, player=0)
    assert chance.tolist() == [0.5, 0.5]
    deals, belief = consistent_histories(handle, history, 0, opponent_policy(handle, "solver"))
    assert deals == [(1, 0, 0, 1), (1, 2, 0, 1)] and abs(belief[0] - 0.25) < 0.01
    uniform = consistent_histories(handle, history, 0, opponent_policy(handle, "random"))[1]
    assert uniform.tolist() == [0.5, 0.5]  # a uniform opponent says nothing about its card
    never = consistent_histories(handle, history, 0, lambda state: {0: 1.0, 1: 0.0})[1]
    assert never.tolist() == [0.5, 0.5]  # a policy that rules out every deal: chance weights
    assert opponent_policy(load_game("tic_tac_toe"), "random") is None
    assert opponent_policy(handle, "llm:small") is None


def test_poker_rollout_pairs_build(tmp_path):
    result = build_prefs(
        PrefsDataConfig(
            inputs=(),
            out=str(tmp_path),
            method="rollout",
            rollouts=48,
            threshold=0.02,
            heldout=0.0,
            play=PlaySpec("kuhn_poker", ("random", "random"), games=40),
        )
    )
    rows = _rows(result.paths["train"], PrefRow.from_dict)
    assert rows and all(r.game == "kuhn_poker" and r.chosen != r.rejected for r in rows)


def test_outcome_pairs_take_a_won_move_over_a_lost_one(tmp_path):
    path = tmp_path / "m.jsonl"
    records = _log(path, a="random", b="random", pairs=60, seed=1)
    result = build_prefs(
        PrefsDataConfig(inputs=(str(path),), out=str(tmp_path / "o"), method="outcome")
    )
    rows = _rows(result.paths["train"], PrefRow.from_dict)
    assert rows and all(r.source == "outcome" for r in rows)
    for row in rows:
        won, lost = set(), set()
        for record in records:
            for move in record.moves:
                if move.prompt == row.prompt:
                    score = record.score(move.player)
                    (won if score == 1 else lost if score == 0 else set()).add(f" {move.text}\n")
        assert row.chosen in won and row.rejected in lost


def test_prefs_bad_options_are_input_errors(tmp_path):
    base = dict(inputs=(), out=str(tmp_path), play=PlaySpec("tic_tac_toe", ("random", "random"), 2))
    with pytest.raises(InputError, match="threshold"):
        build_prefs(PrefsDataConfig(**base, threshold=1.5))
    with pytest.raises(InputError, match="unknown agent spec"):
        build_prefs(PrefsDataConfig(**base, rollout_agent="alphazero"))
    with pytest.raises(InputError, match="perfect-information"):
        build_prefs(
            PrefsDataConfig(
                inputs=(),
                out=str(tmp_path / "k"),
                method="solver",
                play=PlaySpec("kuhn_poker", ("random", "random"), 4),
            )
        )
    assert pref_data.DEFAULT_CONFIDENCE["rollout"] == 0.9


def test_devset_positions_and_their_images_never_reach_training_rows(tmp_path):
    from training.devsets import HeldOut, heldout_prompts, load_devset

    held = heldout_prompts("tic_tac_toe")
    rows, _ = load_devset("tic_tac_toe")
    assert {r["prompt"] for r in rows} <= held
    handle = load_game("tic_tac_toe")
    state = handle.game.new_initial_state()
    for action in rows[0]["history"]:  # the image under a quarter turn is held out too
        state.apply_action({0: 2, 1: 5, 2: 8, 3: 1, 4: 4, 5: 7, 6: 0, 7: 3, 8: 6}[action])
    assert observe(handle, state).prompt in held
    assert heldout_prompts("kuhn_poker") == frozenset()
    exact = heldout_prompts("tic_tac_toe", images=False)  # the dev positions alone
    assert {r["prompt"] for r in rows} == exact and exact < held  # images: held only
    path = tmp_path / "log.jsonl"
    _log(path, a="random", b="random", pairs=40)
    built = {}
    for exclude in (True, False):
        config = SFTDataConfig(
            inputs=(str(path),),
            out=str(tmp_path / str(exclude)),
            balance_seats=False,
            exclude_devset=exclude,
        )
        result = build_sft(config)
        prompts = [r.prompt for p in result.paths.values() for r in _rows(p, SFTRow.from_dict)]
        built[exclude] = (result, sum(p in held for p in prompts))
    (kept, leaked), (unfiltered, present) = built[True], built[False]
    assert leaked == 0 and present > 0
    assert kept.drops[HeldOut.REASON] == kept.manifest.dataset["devset_excluded"] >= present
    assert HeldOut.REASON not in unfiltered.drops


def test_solver_labels_take_a_win_now_over_slower_wins():
    from types import SimpleNamespace

    from games import observe
    from training.sft_data import SolverLabels

    handle = load_game("tic_tac_toe")
    # x: a1 b1, o: a2 a3 -> x wins now at c1, and every other move wins later: by value alone
    # every legal move is optimal (the position was dropped as "no signal")
    history = [0, 1, 3, 2]
    state = handle.game.new_initial_state()
    for action in history:
        state.apply_action(action)
    values = AlphaBetaSolver(handle).action_values(state)
    assert set(values.values()) == {1.0}
    record = SimpleNamespace(game="tic_tac_toe", history=history, match_id="m")
    obs = observe(handle, state)
    move = SimpleNamespace(
        ply=4, prompt=obs.prompt, legal_actions=list(obs.actions), legal_texts=list(obs.texts)
    )
    assert SolverLabels()(record, move) == ["c1"]
    # a position where every move is optimal and none wins now carries no signal
    empty = SimpleNamespace(game="tic_tac_toe", history=[], match_id="m")
    first = SimpleNamespace(ply=0, prompt=observe(handle, handle.game.new_initial_state()).prompt)
    assert SolverLabels().actions(empty, first) == []


def test_images_add_each_row_at_the_mirror_and_never_a_held_out_board(tmp_path):
    """connect_four, logged moves: every row once more at the mirrored board with the
    mirrored column; tic_tac_toe, solver labels: up to 8 boards a position, none held out."""
    from training.devsets import HeldOut, heldout_prompts

    path = tmp_path / "c4.jsonl"
    _log(path, game="connect_four", a="random", b="random", pairs=3)
    built = {}
    for images in (False, True):
        config = SFTDataConfig(
            inputs=(str(path),), out=str(tmp_path / f"c4-{images}"), balance_seats=False,
            heldout=0.0, dedup="none", images=images,
        )  # fmt: skip
        result = build_sft(config)
        built[images] = (result, _rows(result.paths["train"], SFTRow.from_dict))
    (_, plain), (with_images, rows) = built[False], built[True]
    want = Counter(r.completion for r in plain)  # columns 1-7: the mirror of c is 8 - c
    want.update(f" {8 - int(r.completion)}\n" for r in plain)
    dropped = sum(n for reason, n in with_images.drops.items() if reason.startswith("image:"))
    assert len(rows) == 2 * len(plain) - dropped and dropped == 0
    assert Counter(r.completion for r in rows) == want
    assert {r.prompt for r in plain} < {r.prompt for r in rows}

    path = tmp_path / "ttt.jsonl"
    _log(path, a="random", b="random", pairs=20)
    for images_held in (True, False):  # the held-out set is closed under the symmetries or not
        config = SFTDataConfig(
            inputs=(str(path),), out=str(tmp_path / f"ttt-{images_held}"), balance_seats=False,
            label="solver", images=True, devset_images=images_held,
        )  # fmt: skip
        result = build_sft(config)
        prompts = [r.prompt for p in result.paths.values() for r in _rows(p, SFTRow.from_dict)]
        assert not set(prompts) & heldout_prompts("tic_tac_toe", images=images_held)
        image_drops = result.drops.get("image: " + HeldOut.REASON, 0)
        assert image_drops == 0 if images_held else image_drops > 0


def test_no_usable_rows_is_its_own_error(tmp_path):
    """Issue 18, finding 6: a night must tell "no usable data" (the same inputs fail the same
    way: a verdict) from a broken run; both ways of having no rows raise NoUsableData."""
    from training.rows import Drops, NoUsableData, SplitWriter

    writer = SplitWriter(tmp_path, "prefs", heldout=0.0, seed=0, balance=True)
    writer.add({"seat": 0, "prompt": "p"}, group="m1")
    with pytest.raises(NoUsableData, match="cannot balance seats: seat 1 has no prefs rows"):
        writer.finish(Drops())
    assert issubclass(NoUsableData, InputError)  # still one line for `arena data`


def test_search_pairs_take_the_search_move_over_the_priors_own(tmp_path, tiny_base):
    """MCTS-DPO pairs from logged search games: chosen = the most visited move, rejected = the
    prior's argmax, only where they differ; moves without a prior (not a search) are skipped."""
    search = f"search:llm:{tiny_base},sims=12"
    path = tmp_path / "search.jsonl"
    records = _log(path, a=search, b="random", pairs=3)
    built = build_prefs(
        PrefsDataConfig(
            inputs=(str(path),), out=str(tmp_path / "p"), method="search", heldout=0.0,
            balance_seats=False, dedup="none", threshold=0.0, exclude_devset=False,
        )
    )  # fmt: skip
    rows = _rows(built.paths["train"], PrefRow.from_dict)
    moves = {(r.match_id, m.ply): m for r in records for m in r.moves}
    differ = [m for m in moves.values() if m.prior is not None and
              max(range(len(m.policy)), key=m.policy.__getitem__) !=
              max(range(len(m.prior)), key=m.prior.__getitem__)]  # fmt: skip
    assert rows and len(rows) == len(differ)
    for row in rows:
        move = moves[(row.match_id, row.ply)]
        text = dict(zip(move.legal_actions, move.legal_texts, strict=True))
        best = move.legal_actions[move.policy.index(max(move.policy))]
        mine = move.legal_actions[move.prior.index(max(move.prior))]
        assert (row.chosen, row.rejected) == (f" {text[best]}\n", f" {text[mine]}\n")
        assert row.source == "search" and row.chosen_value > row.rejected_value
    assert built.drops["no search prior at this move (not a search agent's move)"] > 0


def test_visit_labels_write_every_move_the_policy_gave_its_share(tmp_path):
    """label visits: the played move, plus every move with at least min_share of the logged
    policy (random logs the uniform policy: 1/n for each of its n legal moves)."""
    path = tmp_path / "log.jsonl"
    records = _log(path, a="random", b="random", pairs=3)
    moves = [m for r in records for m in r.moves]
    built = {}
    for label, share in (("visits", 0.1), ("visits", 0.6), ("played", 0.25)):
        config = SFTDataConfig(
            inputs=(str(path),), out=str(tmp_path / f"{label}{share}"), balance_seats=False,
            heldout=0.0, dedup="none", exclude_devset=False, label=label, min_share=share,
        )  # fmt: skip
        built[label, share] = _rows(build_sft(config).paths["train"], SFTRow.from_dict)
    assert len(built["visits", 0.1]) == sum(len(m.legal_actions) for m in moves)
    assert built["visits", 0.6] == built["played", 0.25]
    assert len(built["played", 0.25]) == len(moves)
    with pytest.raises(InputError, match="min_share"):
        SFTDataConfig(inputs=("x",), out="o", label="visits", min_share=1.5)
