"""Preference pairs (TRL's ``prompt``/``chosen``/``rejected``) at positions from self-play logs.

Three methods, one output format (``training.rows.PrefRow``):

* ``rollout``: every legal action at a position is played on ``rollouts`` times by the rollout
  agents (``training.rollouts``); the best and worst actions form a pair only when their gap
  exceeds ``threshold`` with probability at least ``confidence``.
* ``solver``: exact alpha-beta values (tic_tac_toe and other small deterministic games);
  pairs are an optimal move against a move whose exact value is worse by more than the
  threshold. Confidence 1.
* ``outcome``: at one prompt, the move of a game the mover won against a different move of a
  game the mover lost, aggregated over every game that reached the prompt. This needs one
  table entry per distinct prompt in memory (the other methods stream).
* ``search``: step-level pairs from a search agent's own games (MCTS-DPO, Xie et al. 2024,
  "Monte Carlo Tree Search Boosts Reasoning via Iterative Preference Learning"): at each move
  the record carries the search's visit distribution (``policy``) and the LLM's own policy it
  started from (``prior``); where the search's most visited move is not the prior's argmax,
  the pair is (search's move, policy's move), kept when the search's visit shares differ by
  more than ``threshold``. No game is played: the search already paid for the values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from agents import make_agent, parse_spec
from agents.solver import AlphaBetaSolver
from games import InputError, completion_text, load_game, observe
from games.runner import LocalRunner
from training.build import BuildResult, build_dataset, normalise_agents, selected_moves
from training.config import PrefsDataConfig
from training.devsets import HeldOut
from training.rollouts import ROLLOUT_BATCH, Position, action_values, replay, rollout_jobs
from training.rows import Drops, PrefRow, SplitWriter, digest

NO_PAIR = {
    "gap": "position: no confident action gap above threshold",
    "played": "position: the played move was not confidently worse than the best",
}
DEFAULT_CONFIDENCE = {"rollout": 0.9, "outcome": 0.0, "solver": 1.0, "search": 0.0}
CHUNK_POSITIONS = 64


def gap_confidence(sum_c: float, n_c: int, sum_r: float, n_r: int, threshold: float) -> float:
    """P(mean score of chosen - mean score of rejected > threshold), scores in [0, 1].

    Adjusted normal approximation for a difference of proportions, adding one success and one
    failure per arm (Agresti & Caffo 2000, "Simple and effective confidence intervals for
    proportions and differences of proportions"): ``p~ = (x + 1) / (n + 2)``, ``se^2 = sum
    p~(1 - p~) / (n + 2)``, result ``Phi((p~_c - p~_r - threshold) / se)``. For scores in
    [0, 1] that are not 0/1 the Bernoulli variance ``p(1 - p)`` bounds the true variance, so the
    confidence is conservative; the +1/+1 keeps a few unanimous rollouts from looking certain
    (4 wins of 4 against 0 of 4, threshold 0.1: 0.996, not 1).
    """
    pc, pr = (sum_c + 1.0) / (n_c + 2.0), (sum_r + 1.0) / (n_r + 2.0)
    se = math.sqrt(pc * (1 - pc) / (n_c + 2.0) + pr * (1 - pr) / (n_r + 2.0))
    return 0.5 * math.erfc(-((pc - pr - threshold) / se) / math.sqrt(2.0))


def iter_positions(
    records, agents, seats, dedup: bool, drops: Drops, counter: list[int], heldout=None
) -> Iterator[Position]:
    """Distinct decision points of the selected seats, in log order (dev-set positions and
    their images dropped when ``heldout`` is given)."""
    seen: set[bytes] = set()
    heldout = heldout or HeldOut(False)
    for record, move in selected_moves(records, agents, seats, drops, counter):
        if heldout(record.game, move.prompt):
            drops.drop(HeldOut.REASON)
            continue
        if len(move.legal_actions) < 2:
            drops.drop("only one legal move")
            continue
        if dedup:
            key = digest(move.prompt)
            if key in seen:
                drops.drop("duplicate position")
                continue
            seen.add(key)
        yield Position(
            game=record.game,
            history=tuple(record.history[: move.ply]),
            player=move.player,
            prompt=move.prompt,
            actions=tuple(move.legal_actions),
            texts=tuple(move.legal_texts),
            match_id=record.match_id,
            ply=move.ply,
            played=move.action,
        )


def targeted(pairs: list, pos: Position, rejected: str) -> list:
    """``pairs`` as ranked, or (``rejected="played"``) only those whose rejected answer is the
    move the player chose there, largest gap first."""
    if rejected == "gap":
        return pairs
    return [p for p in pairs if p[1] == pos.played]


def ranked_pairs(values: dict[int, tuple[float, int, float]], threshold: float, level: float):
    """Pairs (chosen, rejected, confidence), largest gap first.

    ``values`` maps action -> (score sum in [0, 1] units, count, mean return); ``count == 0``
    marks an exact value (score sum is then the exact score), whose confidence is 1.
    """
    pairs = []
    for c, (sc, nc, _) in values.items():
        for r, (sr, nr, _) in values.items():
            mean_c, mean_r = (sc / nc if nc else sc), (sr / nr if nr else sr)
            gap = mean_c - mean_r
            if c == r or gap <= threshold:
                continue
            conf = 1.0 if nc == 0 else gap_confidence(sc, nc, sr, nr, threshold)
            if conf >= level:
                pairs.append((-gap, c, r, conf))
    pairs.sort()
    return [(c, r, conf) for _, c, r, conf in pairs]


def pref_row(pos: Position, c: int, r: int, values, conf: float, source: str) -> dict:
    text = dict(zip(pos.actions, pos.texts, strict=True))
    return PrefRow(
        prompt=pos.prompt,
        chosen=completion_text(text[c]),
        rejected=completion_text(text[r]),
        game=pos.game,
        chosen_value=round(values[c][2], 6),
        rejected_value=round(values[r][2], 6),
        rollouts=values[c][1],
        confidence=round(conf, 6),
        source=source,
        match_id=pos.match_id,
        ply=pos.ply,
        seat=pos.player,
    ).to_dict()


def _checked_state(pos: Position, drops: Drops):
    handle = load_game(pos.game)
    try:
        state = replay(handle, pos.history)
        if observe(handle, state).prompt != pos.prompt:
            raise ValueError("prompt differs")
    except ValueError:
        drops.drop("position does not replay to its prompt")
        return handle, None
    return handle, state


def build_prefs(
    config: PrefsDataConfig, agent_options: dict | None = None, runner=None
) -> BuildResult:
    """Build ``prefs.jsonl`` and ``prefs.heldout.jsonl`` in ``config.out`` with a manifest.

    Args:
        config: the build.
        agent_options: passed to ``make_agent`` for rollout agents (workspace, device).
        runner: plays rollout jobs (``games.runner.Runner``; default: a ``LocalRunner`` in
            this process). ``config.workers`` is for the caller: ``arena`` passes its
            ``RayRunner`` when it is above 0.
    """
    _validate(config)
    level = DEFAULT_CONFIDENCE[config.method] if config.confidence is None else config.confidence
    agents = normalise_agents(config.agents)

    def rows(records, writer: SplitWriter, drops: Drops) -> int:
        counter = [0]
        if config.method == "outcome":
            _outcome_pairs(config, records, agents, level, writer, drops, counter)
        elif config.method == "search":
            _search_pairs(config, records, agents, writer, drops, counter)
        else:
            positions = iter_positions(
                records,
                agents,
                config.seats,
                config.dedup != "none",
                drops,
                counter,
                HeldOut(config.exclude_devset, config.devset_images),
            )
            if config.method == "solver":
                _solver_pairs(config, positions, writer, drops)
            else:
                _rollout_pairs(config, positions, level, writer, drops, agent_options, runner)
        return counter[0]

    return build_dataset(
        config,
        "prefs",
        rows,
        seeds={"split": config.seed, "rollouts": config.seed},
        nothing_kept=(
            "preference pairs",
            "try more rollouts, a lower --threshold/--confidence, or more positions",
        ),
        extra={
            "rollout_runner": "local" if runner is None else getattr(runner, "kind", "custom"),
            "confidence_level": level,
        },
    )


def _validate(config: PrefsDataConfig) -> None:
    if config.method not in DEFAULT_CONFIDENCE:
        raise InputError(f"unknown method '{config.method}' (rollout, solver, outcome, search)")
    if config.rollouts < 1:
        raise InputError("--rollouts must be at least 1")
    if not 0.0 <= config.threshold < 1.0:
        raise InputError("--threshold is a fraction of the utility range, in [0, 1)")
    if config.confidence is not None and not 0.0 <= config.confidence < 1.0:
        raise InputError("--confidence must lie in [0, 1)")
    if config.pairs_per_position < 1:
        raise InputError("--pairs-per-position must be at least 1")
    for spec in (config.rollout_agent, config.rollout_opponent):
        if spec is not None:
            parse_spec(spec)


def _solver_pairs(config, positions, writer: SplitWriter, drops: Drops) -> None:
    solvers: dict[str, AlphaBetaSolver] = {}
    for count, pos in enumerate(positions):
        if config.max_positions is not None and count >= config.max_positions:
            drops.drop("beyond --max-positions")
            continue
        handle, state = _checked_state(pos, drops)
        if state is None:
            continue
        solver = solvers.get(pos.game) or solvers.setdefault(pos.game, AlphaBetaSolver(handle))
        low, high = handle.game.min_utility(), handle.game.max_utility()
        exact = solver.action_values(state)
        values = {a: ((v - low) / (high - low), 0, v) for a, v in exact.items()}
        pairs = targeted(ranked_pairs(values, config.threshold, 1.0), pos, config.rejected)
        pairs = pairs[: config.pairs_per_position]
        if not pairs:
            drops.drop(NO_PAIR[config.rejected])
        for c, r, conf in pairs:
            writer.add(pref_row(pos, c, r, values, conf, "solver"), digest(pos.prompt).hex())


def _rollout_pairs(config, positions, level, writer, drops, agent_options, runner) -> None:
    opponent = config.rollout_opponent or config.rollout_agent
    seats = (parse_spec(config.rollout_agent).raw, parse_spec(opponent).raw)
    source = f"rollout:{seats[0]}" + (f"/{seats[1]}" if seats[1] != seats[0] else "")
    agent_cache: dict[str, dict] = {}
    chunk: list[tuple[int, Position]] = []

    def flush() -> None:
        if not chunk:
            return
        jobs, meta = [], []
        for index, pos in chunk:
            handle, state = _checked_state(pos, drops)
            if state is None:
                continue
            jobs.extend(rollout_jobs(handle, pos, index, seats, config.rollouts, config.seed))
            meta.append((index, pos, handle))
        games = {pos.game for _, pos, _ in meta} if runner is None else set()
        for game in games - set(agent_cache):
            handle = load_game(game)
            agent_cache[game] = {
                s: make_agent(s, handle, **(agent_options or {})) for s in dict.fromkeys(seats)
            }
        by_game: dict[str, list] = {}
        for job in jobs:
            by_game.setdefault(job.game, []).append(job)
        records = []
        for game, game_jobs in by_game.items():
            play = runner or LocalRunner(agent_cache[game], ROLLOUT_BATCH)
            records.extend(play(game_jobs))
        grouped: dict[int, list] = {}
        for record in records:
            grouped.setdefault(int(record.match_id.split("-")[1]), []).append(record)
        for index, pos, handle in meta:
            stats = action_values(handle, pos, grouped.get(index, []))
            values = {a: (v.score_sum, v.n, v.mean) for a, v in stats.items()}
            pairs = targeted(ranked_pairs(values, config.threshold, level), pos, config.rejected)
            pairs = pairs[: config.pairs_per_position]
            if not pairs:
                drops.drop(NO_PAIR[config.rejected])
            for c, r, conf in pairs:
                writer.add(pref_row(pos, c, r, values, conf, source), digest(pos.prompt).hex())
        chunk.clear()

    for count, pos in enumerate(positions):
        if config.max_positions is not None and count >= config.max_positions:
            drops.drop("beyond --max-positions")
            continue
        chunk.append((count, pos))
        if len(chunk) >= CHUNK_POSITIONS:
            flush()
    flush()


def _outcome_pairs(config, records, agents, level, writer, drops, counter) -> None:
    table: dict[str, dict] = {}
    heldout = HeldOut(config.exclude_devset, config.devset_images)
    for record, move in selected_moves(records, agents, config.seats, drops, counter):
        if move.action is None:
            drops.drop("no legal move (forfeit)")
            continue
        if heldout(record.game, move.prompt):
            drops.drop(HeldOut.REASON)
            continue
        entry = table.setdefault(
            move.prompt,
            {"game": record.game, "move": move, "match_id": record.match_id, "stats": {}},
        )
        # [games, wins, losses, score sum, return sum]
        stats = entry["stats"].setdefault(move.action, [0, 0, 0, 0.0, 0.0])
        score = record.score(move.player)
        stats[0] += 1
        stats[1] += score == 1.0
        stats[2] += score == 0.0
        stats[3] += score
        stats[4] += record.returns[move.player]
    for prompt, entry in table.items():
        move, stats = entry["move"], entry["stats"]
        pos = Position(
            entry["game"], (), move.player, prompt, tuple(move.legal_actions),
            tuple(move.legal_texts), entry["match_id"], move.ply,
        )  # fmt: skip
        values = {a: (s[3], s[0], s[4] / s[0]) for a, s in stats.items()}
        pairs = [
            (c, r, conf)
            for c, r, conf in ranked_pairs(values, config.threshold, level)
            if stats[c][1] > 0 and stats[r][2] > 0
        ][: config.pairs_per_position]
        if not pairs:
            drops.drop("position: no won move against a lost move")
        for c, r, conf in pairs:
            writer.add(pref_row(pos, c, r, values, conf, "outcome"), digest(prompt).hex())


def _search_pairs(config, records, agents, writer, drops, counter) -> None:
    """MCTS-DPO pairs (see the module docstring): the search's choice against the prior's."""
    heldout = HeldOut(config.exclude_devset, config.devset_images)
    seen: set[bytes] = set()
    for record, move in selected_moves(records, agents, config.seats, drops, counter):
        if move.prior is None or move.policy is None:
            drops.drop("no search prior at this move (not a search agent's move)")
            continue
        if heldout(record.game, move.prompt):
            drops.drop(HeldOut.REASON)
            continue
        if config.dedup != "none":
            key = digest(move.prompt)
            if key in seen:
                drops.drop("duplicate position")
                continue
            seen.add(key)
        best = max(range(len(move.policy)), key=lambda i: (move.policy[i], -i))
        mine = max(range(len(move.prior)), key=lambda i: (move.prior[i], -i))
        gap = move.policy[best] - move.policy[mine]
        if best == mine:
            drops.drop("position: the search agrees with the policy")
            continue
        if gap <= config.threshold:
            drops.drop("position: visit shares closer than the threshold")
            continue
        c, r = move.legal_actions[best], move.legal_actions[mine]
        pos = Position(
            record.game, (), move.player, move.prompt, tuple(move.legal_actions),
            tuple(move.legal_texts), record.match_id, move.ply,
        )  # fmt: skip
        values = {c: (0.0, 0, move.policy[best]), r: (0.0, 0, move.policy[mine])}
        row = pref_row(pos, c, r, values, move.policy[best], "search")
        writer.add(row, record.match_id)
