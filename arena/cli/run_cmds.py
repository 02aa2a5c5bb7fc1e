"""``arena selfplay``, ``arena tournament`` and ``arena gate``: the Ray runs.

Each runs on an embedded local Ray instance by default, or on a cluster with ``--address``
(or ``$RAY_ADDRESS``). A run is resumable: start it again with the same ``--run-id`` and the
same options, and only the games missing from its shards are played.
"""

from __future__ import annotations

import argparse
import sys
import time

from arena.execution.driver import Progress, RunStats
from arena.execution.session import ExecOptions
from arena.runs.gate import GateRunConfig
from arena.runs.selfplay import SelfplayConfig
from arena.runs.tournament import TournamentConfig
from games.defaults import DEFAULT_OPENING_PLIES, field_default
from games.workspace import Workspace

EPILOG = """\
Ray: without --address (and without $RAY_ADDRESS) a private Ray instance starts on this
machine and stops at the end. On a cluster (`ray start --head` on one node, `ray start
--address HEAD:6379` on the others) pass --address HEAD:6379, or submit the command with
`ray job submit --address http://HEAD:8265 -- arena ...`; the workspace must then be a path
every node sees. Records: WORKSPACE/matches/RUN/shard-*.jsonl; reports: WORKSPACE/runs/RUN/.
Resume: run the same command with the same --run-id."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--game", required=True, help="OpenSpiel game, e.g. tic_tac_toe, connect_four, kuhn_poker"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=field_default(TournamentConfig, "seed"),
        help="run seed; every match seed derives from it",
    )
    p.add_argument(
        "--run-id",
        default=None,
        help="name of the run (default: KIND-DATE-TIME); reuse it to resume an interrupted run",
    )
    p.add_argument(
        "--opening-plies",
        type=int,
        default=DEFAULT_OPENING_PLIES,
        help="random plies before play in board games, shared by both games of a pair "
        "(default %(default)s)",
    )
    ray = p.add_argument_group(
        "placement (where the games run; the games themselves depend only on the options above)"
    )
    ray.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join, HOST:PORT of the head (default: $RAY_ADDRESS, else an "
        "embedded Ray instance on this machine)",
    )
    ray.add_argument(
        "--workers",
        type=int,
        default=field_default(ExecOptions, "workers"),
        help="worker actors (default %(default)s)",
    )
    ray.add_argument(
        "--cpus-per-worker",
        type=float,
        default=field_default(ExecOptions, "cpus_per_worker"),
        help="CPUs reserved per worker (default %(default)s)",
    )
    ray.add_argument(
        "--gpus-per-worker",
        type=float,
        default=field_default(ExecOptions, "gpus_per_worker"),
        help="GPUs per worker, fractions share a GPU; > 0 puts LLM players on CUDA "
        "(default %(default)s)",
    )
    ray.add_argument(
        "--batch",
        type=int,
        default=field_default(ExecOptions, "batch"),
        help="most games a worker plays at once: the LLM batch (default %(default)s); keep it to "
        "reproduce LLM records bit for bit, since scores can differ in the last bits with the "
        "batch",
    )


def _options(args: argparse.Namespace) -> ExecOptions:
    return ExecOptions(
        address=args.address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        batch=args.batch,
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tournament",
        help="round robin or gauntlet on Ray -> match logs + per-pairing summary",
        description="Play every pairing of the players (or the first against the others) in "
        "seat-swapped pairs on Ray workers, stream the games to JSONL shards, and print a "
        "results table with confidence intervals. Writes runs/RUN/summary.json (wins, draws, "
        "losses and pentanomial counts per pairing) for `ratings`.",
        epilog=EPILOG,
    )
    p.add_argument(
        "--players",
        nargs="+",
        required=True,
        metavar="SPEC",
        help="agent specs: random, mcts[:N], solver, llm:BASE[@ADAPTER]",
    )
    p.add_argument(
        "--pairs",
        type=int,
        default=field_default(TournamentConfig, "pairs"),
        help="pairs per pairing (default %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("round-robin", "gauntlet"),
        default="round-robin",
        help="round-robin: every pairing; gauntlet: the first player against each other one",
    )
    _common(p)
    p.set_defaults(func=cmd_tournament)

    p = sub.add_parser(
        "selfplay",
        help="a player against a league on Ray -> match logs for the dataset builders",
        description="Play a player against a league (itself, past versions, scripted agents) "
        "in seat-swapped pairs, split between the opponents by weight. LLM players sample "
        "with --temperature. The match logs feed `arena data sft|prefs`.",
        epilog=EPILOG,
    )
    p.add_argument("--player", required=True, metavar="SPEC", help="the learning player")
    p.add_argument(
        "--league",
        nargs="+",
        default=["self"],
        metavar="SPEC[=WEIGHT]",
        help="opponents with optional weights, e.g. self=3 llm:tiny@v2=1 mcts:50=1 "
        "('self' is the player itself; default: self)",
    )
    p.add_argument(
        "--pairs",
        type=int,
        default=field_default(SelfplayConfig, "pairs"),
        help="pairs in total (default %(default)s)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=field_default(SelfplayConfig, "temperature"),
        help="LLM sampling temperature (default %(default)s)",
    )
    _common(p)
    p.set_defaults(func=cmd_selfplay)

    p = sub.add_parser(
        "gate",
        help="candidate vs champion on Ray until the SPRT decides -> decision + report",
        description="Play seat-swapped pairs of candidate vs champion in batches until the "
        "sequential probability ratio test accepts (the candidate beats the champion by the "
        "margin) or rejects, or the cap is reached (the champion stays). Writes "
        "runs/RUN/gate.json and gate.md and prints the report.",
        epilog=EPILOG,
    )
    p.add_argument("--candidate", required=True, metavar="SPEC", help="the challenger")
    p.add_argument("--champion", required=True, metavar="SPEC", help="the incumbent")
    gate = GateRunConfig
    for flag, kind, text in (
        ("margin", float, "required score edge"),
        ("alpha", float, "false-accept rate"),
        ("beta", float, "false-reject rate"),
        ("min_pairs", int, "no decision before this many pairs"),
        ("max_pairs", int, "cap: without a decision by then the champion stays"),
        ("batch_pairs", int, "pairs between looks at the test"),
    ):
        p.add_argument(
            "--" + flag.replace("_", "-"),
            type=kind,
            default=field_default(gate, flag),
            help=text + " (default %(default)s)",
        )
    _common(p)
    p.set_defaults(func=cmd_gate)


class ProgressLine:
    """Games done / total, games per second and ETA: a bar on a terminal, else a line every
    ``every_s`` seconds (logs of `ray job submit` or CI)."""

    def __init__(self, desc: str, every_s: float = 10.0):
        self.desc = desc
        self.every_s = every_s
        self.bar = None
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, p: Progress) -> None:
        if self.tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=p.total, desc=self.desc, unit="game", leave=False)
            self.bar.total = p.total
            self.bar.n = p.done
            self.bar.set_postfix_str(f"{p.rate:.1f} games/s this session")
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.last >= self.every_s or p.done == p.total:
            self.last = now
            eta = f"{p.eta_s:.0f}s" if p.eta_s != float("inf") else "?"
            print(
                f"[{self.desc}] {p.done}/{p.total} games, {p.rate:.1f} games/s, ETA {eta}",
                file=sys.stderr,
                flush=True,
            )

    def announce(self, games: int, options: ExecOptions) -> None:
        """One line before anything slow starts (Ray start-up takes seconds): the size of the
        run, so that no command sits silent."""
        where = f"Ray at {options.address}" if options.address else "Ray (local or $RAY_ADDRESS)"
        print(
            f"[{self.desc}] {games} games at most; starting {options.workers} worker(s) on "
            f"{where} ...",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _footer(stats: RunStats, options: ExecOptions, paths: dict[str, str]) -> str:
    lines = [
        f"{stats.scheduled} games ({stats.resumed} already recorded, {stats.played} played) "
        f"in {stats.seconds:.1f}s, {stats.games_per_s:.1f} games/s on {options.workers} "
        f"worker(s)"
        + (f"; {stats.rescheduled_chunks} chunk(s) rescheduled" if stats.rescheduled_chunks else "")
    ]
    lines += [f"{name}: {path}" for name, path in paths.items()]
    return "\n".join(lines)


def cmd_tournament(args: argparse.Namespace) -> int:
    from arena.runs.tournament import TournamentConfig, run_tournament

    config = TournamentConfig(
        game=args.game,
        players=tuple(args.players),
        pairs=args.pairs,
        format=args.format,
        seed=args.seed,
        opening_plies=args.opening_plies,
    )
    options = _options(args)
    with ProgressLine("tournament") as progress:
        progress.announce(config.pairs * 2 * len(config.pairings()), options)
        result = run_tournament(
            config, Workspace.resolve(args.workspace), options, args.run_id, progress
        )
    print(result.table())
    board = result.leaderboard_table()
    if board:
        print("\n" + board)
    print("\n" + _footer(result.stats, options, result.paths))
    return 0


def cmd_selfplay(args: argparse.Namespace) -> int:
    from arena.runs.selfplay import SelfplayConfig, parse_league, run_selfplay

    config = SelfplayConfig(
        game=args.game,
        player=args.player,
        league=parse_league(args.league),
        pairs=args.pairs,
        temperature=args.temperature,
        seed=args.seed,
        opening_plies=args.opening_plies,
    )
    options = _options(args)
    with ProgressLine("selfplay") as progress:
        progress.announce(config.pairs * 2, options)
        result = run_selfplay(
            config, Workspace.resolve(args.workspace), options, args.run_id, progress
        )
    print(result.table())
    print("\n" + _footer(result.stats, options, result.paths))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from arena.runs.gate import GateRunConfig, run_gate

    config = GateRunConfig(
        game=args.game,
        candidate=args.candidate,
        champion=args.champion,
        margin=args.margin,
        alpha=args.alpha,
        beta=args.beta,
        min_pairs=args.min_pairs,
        max_pairs=args.max_pairs,
        batch_pairs=args.batch_pairs,
        seed=args.seed,
        opening_plies=args.opening_plies,
    )
    options = _options(args)
    with ProgressLine("gate") as progress:
        progress.announce(config.max_pairs * 2, options)
        result = run_gate(config, Workspace.resolve(args.workspace), options, args.run_id, progress)
    print(result.markdown())
    print(_footer(result.stats, options, result.paths))
    return 0
