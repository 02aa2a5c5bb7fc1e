"""Benchmark the search agent: search-plus-policy against the policy alone, in one run.

What a night can distil (issue 17, Expert Iteration): for each game and simulation budget,
``search:llm:BASE,sims=N`` plays ``llm:BASE,temperature=0`` (the same LLM's argmax policy)
in seat-swapped pairs, and the score of the search with its 95% interval is reported
(``ratings.pairing_estimate``, pentanomial over the pairs). As a control in the same run,
OpenSpiel's plain UCT with random rollouts and the same budget (``mcts:N``, no LLM prior)
plays the same policy from the same openings, and the search plays ``mcts:N`` head to head:
what the LLM prior adds to the rollouts at the same budget. Time per move: the wall time of
each batched ``act_batch`` call shared evenly by the games in it (all pairs of a row play in
lockstep), and the latency of one game alone (``act`` on random positions, one at a time).

    PYTHONPATH=. .venv/bin/python scripts/bench_search.py --base arena-data/base/small --threads 1
    PYTHONPATH=. .venv/bin/python scripts/bench_search.py --base tiny --pairs 4 --sims 4 --out -
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
from benchmarks_md import DEFAULT, update_section

from agents import make_agent
from agents.search import SearchOptions
from games import InputError, load_game, random_observations
from games.match import play_matches
from games.schedule import pair_jobs, summarize
from ratings import pairing_estimate


@dataclass
class Row:
    game: str
    player: str
    opponent: str
    sims: int
    wdl: tuple[int, int, int]
    score: float
    ci: tuple[float, float]
    move_ms: float
    opponent_ms: float
    alone_ms: float | None
    wall_s: float


def think_ms(records, spec: str) -> float:
    """Mean think time per move of ``spec`` (the match loop shares a batch's time evenly)."""
    seconds = moves = 0
    for record in records:
        for seat, seat_record in enumerate(record.seats):
            if seat_record.spec == spec:
                seconds += record.timing["think_s"][seat]
                moves += sum(1 for m in record.moves if m.player == seat)
    return 1000 * seconds / max(moves, 1)


def latency_ms(agent, game: str, positions: int, seed: int) -> float:
    observations = random_observations(game, positions, seed=seed)
    started = time.perf_counter()
    for i, obs in enumerate(observations):
        agent.act(obs, np.random.default_rng([seed, i]))
    return 1000 * (time.perf_counter() - started) / len(observations)


def measure(args, game: str, sims: int, player: str, opponent: str, agents: dict) -> Row:
    handle = load_game(game)
    for spec in (player, opponent):
        if spec not in agents:
            agents[spec] = make_agent(spec, handle, workspace=args.workspace)
    jobs = pair_jobs(game, player, opponent, range(args.pairs), args.seed, tag=f"s{sims}")
    started = time.perf_counter()
    records = play_matches(jobs, {player: agents[player], opponent: agents[opponent]})
    wall = time.perf_counter() - started
    summary = summarize(records, player, opponent)
    est = pairing_estimate(summary.pentanomial, summary.wins, summary.draws, summary.losses)
    alone = None
    if player.startswith("search:") and opponent.startswith("llm:") and args.latency_positions:
        alone = latency_ms(agents[player], game, args.latency_positions, args.seed)
    row = Row(
        game,
        short(player),
        short(opponent),
        sims,
        (summary.wins, summary.draws, summary.losses),
        est.score,
        tuple(est.score_ci),
        think_ms(records, player),
        think_ms(records, opponent),
        alone,
        wall,
    )
    print(
        f"{game} {player} vs {opponent}: {row.wdl} score {row.score:.3f} "
        f"[{row.ci[0]:.3f}, {row.ci[1]:.3f}] {row.move_ms:.1f} ms/move ({wall:.0f} s)",
        flush=True,
    )
    return row


def short(spec: str) -> str:
    """``search``, ``mcts`` or ``policy`` (the argmax LLM) for the table."""
    kind = spec.split(":", 1)[0]
    return "policy" if kind == "llm" else kind


def table(rows: list[Row], pairs: int) -> list[str]:
    lines = [
        f"| game | player | opponent | sims | W-D-L ({2 * pairs} games) | score [95% CI] "
        "| ms/move, batched | ms/move, one game alone | opponent ms/move, batched |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        alone = f"{r.alone_ms:.0f}" if r.alone_ms is not None else "-"
        lines.append(
            f"| {r.game} | {r.player} | {r.opponent} | {r.sims} | {'-'.join(map(str, r.wdl))} | "
            f"{r.score:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}] | {r.move_ms:.1f} | {alone} | "
            f"{r.opponent_ms:.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="small", help="base folder or workspace name")
    parser.add_argument("--workspace", default=None, help="where workspace base names live")
    parser.add_argument("--games", nargs="+", default=["tic_tac_toe", "connect_four"])
    parser.add_argument("--sims", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--pairs", type=int, default=30, help="seat-swapped pairs per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--latency-positions", type=int, default=8, help="0: skip")
    parser.add_argument("--no-control", action="store_true", help="skip the mcts:N rows")
    parser.add_argument("--no-head-to-head", action="store_true", help="skip search vs mcts:N")
    parser.add_argument("--out", default=str(DEFAULT), help="markdown file (its section); -")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows: list[Row] = []
    load = os.getloadavg()[0]
    try:
        for game in args.games:
            policy = f"llm:{args.base},temperature=0"
            agents = {policy: make_agent(policy, load_game(game), workspace=args.workspace)}
            for sims in args.sims:
                search = f"search:llm:{args.base},sims={sims}"
                rows.append(measure(args, game, sims, search, policy, agents))
                if not args.no_control:
                    rows.append(measure(args, game, sims, f"mcts:{sims}", policy, agents))
                if not args.no_head_to_head:
                    rows.append(measure(args, game, sims, search, f"mcts:{sims}", agents))
    except InputError as error:
        print(f"bench_search: error: {error}", file=sys.stderr)
        return 2
    defaults = SearchOptions()
    command = "python scripts/bench_search.py " + " ".join(argv or sys.argv[1:])
    lines = [
        "## Search agent: search-plus-policy vs the policy alone (scripts/bench_search.py)",
        "",
        f"- command: `{command.strip()}`",
        f"- date: {datetime.datetime.now().isoformat(timespec='minutes')}; machine: "
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__} with {args.threads} thread(s); load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other work shares "
        "the cores: times are inflated by it, scores are not)",
        f"- each row: {args.pairs} seat-swapped pairs; `policy` = `llm:BASE,temperature=0` (the "
        "prior's own argmax play); openings of the default random plies, run seed "
        f"{args.seed}; `search` = `search:llm:BASE,sims=N` (defaults: c_puct "
        f"{defaults.c_puct:g}, {defaults.rollouts} random rollout(s) per leaf, temperature "
        f"{defaults.temperature:g}: the most visited move), `mcts` = OpenSpiel's UCT with "
        "random rollouts and no prior, the same N (control); score = the player's",
        "",
        *table(rows, args.pairs),
        "",
    ]
    text = "\n".join(lines)
    update_section(args.out, "search", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
