"""``arena games``, ``arena match`` and ``arena demo``: scripted and LLM games in one process."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from agents import make_agent, parse_spec
from arena.execution.session import MAX_BATCH
from arena.reporting.tables import pairing_entry, pairing_table
from games import CURATED_GAMES, InputError, load_game, observe, playable_games, sample_opening
from games.config_flags import Flags
from games.defaults import DEFAULT_BATCH
from games.jsonl import JsonlWriter
from games.limits import check_int
from games.match import MatchJob
from games.runner import LocalRunner
from games.schedule import summarize
from games.workspace import Workspace
from training.config import PlaySpec

MATCH_FLAGS = Flags(PlaySpec, defaults={"games": 10})  # a quick look: 10 games unless told


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("games", help="list supported games with a sample prompt")
    p.add_argument("--all", action="store_true", help="also list every playable OpenSpiel game")
    p.set_defaults(func=cmd_games)

    p = sub.add_parser(
        "match",
        help="play seat-swapped games between two agents -> JSONL + W/D/L",
        description="Play N games between two agents as seat-swapped pairs (same opening, seats "
        "swapped), write every game as JSONL, and print wins, draws and losses.",
    )
    MATCH_FLAGS.add_to(p)
    p.add_argument("--out", default=None, help="output JSONL (default: workspace matches/<run>/)")
    p.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help="games played concurrently (default %(default)s)",
    )
    p.add_argument("--device", default=None, help="LLM agents: cpu or cuda (default: auto)")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser(
        "demo",
        help="the main job on the embedded default (see README)",
        description="Build the tiny local base model once (workspace base/tiny), then play a "
        "round robin of it against scripted agents on tic_tac_toe on a local Ray instance and "
        "print results with confidence intervals and a Bradley-Terry leaderboard.",
    )
    p.add_argument("--pairs", type=int, default=6, help="pairs per pairing (default 6)")
    p.add_argument("--no-llm", action="store_true", help="scripted agents only (no base model)")
    p.set_defaults(func=cmd_demo)


def cmd_games(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(0)
    for name in CURATED_GAMES:
        handle = load_game(name)
        state = handle.game.new_initial_state()
        opening = sample_opening(handle, rng, max_plies=1)
        for action in opening.actions:
            state.apply_action(action)
        print(f"== {name}\n{observe(handle, state).prompt}\n")
    if args.all:
        others = [g for g in playable_games() if g not in CURATED_GAMES]
        print("Also playable with the generic view:\n  " + ", ".join(others))
    else:
        print(
            "Any other 2-player turn-based OpenSpiel game plays with a generic view "
            "(e.g. hex(board_size=5), breakthrough); `arena games --all` lists them."
        )
    return 0


def play_jobs(jobs: list[MatchJob], agents: dict, out: Path, batch: int, desc: str) -> list:
    """Play ``jobs`` in batches, appending each record to ``out``; returns the records."""
    with (
        JsonlWriter(out, mode="w") as writer,
        tqdm(total=len(jobs), desc=desc, unit="game", leave=False) as bar,
    ):

        def sink(record) -> None:
            writer.write(record.to_dict())
            bar.update(1)

        return LocalRunner(agents, batch)(jobs, sink)


def cmd_match(args: argparse.Namespace) -> int:
    check_int("--batch", args.batch, 1, MAX_BATCH)
    handle = load_game(args.game)
    specs = [parse_spec(s).raw for s in args.agents]
    # the same fields and ranges as every other way of playing matches
    play = MATCH_FLAGS.build(args, game=handle.spec, agents=tuple(specs))
    workspace = Workspace.resolve(args.workspace)
    run_id = time.strftime("match-%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else workspace.matches(run_id) / "matches.jsonl"
    agents = {
        spec: make_agent(spec, handle, workspace=workspace, device=args.device)
        for spec in dict.fromkeys(specs)
    }
    if play.games >= 2000:  # openings take about 2 s per 10,000 games: say so first
        print(
            f"[match] {play.games} games of {handle.spec}: {specs[0]} vs {specs[1]}; "
            "preparing the openings ...",
            file=sys.stderr,
            flush=True,
        )
    jobs = play.jobs(run_id)[: play.games]
    started = time.perf_counter()
    records = play_jobs(jobs, agents, out, args.batch, desc=f"{specs[0]} vs {specs[1]}")
    seconds = time.perf_counter() - started
    summary = summarize(records, specs[0], specs[1])
    print(pairing_table([pairing_entry(summary)]))
    illegal = sum(m.illegal for r in records for m in r.moves)
    unparseable = sum(m.unparseable for r in records for m in r.moves)
    print(
        f"{len(records)} games in {seconds:.1f}s; illegal moves {illegal}, "
        f"unparseable outputs {unparseable}; records: {out}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The locally built base model against scripted agents on tic_tac_toe, through the Ray
    tournament on the embedded local cluster."""
    from arena.cli.run_cmds import ProgressLine
    from arena.execution.session import ExecOptions
    from arena.runs.tournament import TournamentConfig, run_tournament

    if args.pairs < 1:
        raise InputError("--pairs must be at least 1")
    workspace = Workspace.resolve(args.workspace)
    players = ["random", "mcts:25", "solver"]
    if not args.no_llm:
        base = workspace.base("tiny")
        if not (base / "config.json").exists():
            from training.base_model import build_base

            print(f"building the tiny base model in {base} (once; about a minute) ...")
            build_base("tiny", base, seed=0)
        players.append("llm:tiny")
    config = TournamentConfig("tic_tac_toe", tuple(players), pairs=args.pairs)
    with ProgressLine("demo round robin") as progress:
        result = run_tournament(
            config,
            workspace,
            ExecOptions(workers=2),
            run_id=time.strftime("demo-%Y%m%d-%H%M%S"),
            progress=progress,
        )
    print(result.table())
    print("\n" + (result.leaderboard_table() or ""))
    stats = result.stats
    print(
        f"\n{stats.scheduled} games on {len(stats.workers)} Ray workers in {stats.seconds:.1f}s; "
        f"records: {result.paths['matches']}; summary: {result.paths['summary']}"
    )
    return 0
