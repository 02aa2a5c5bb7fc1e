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
from games.config_flags import Flags
from games.workspace import Workspace

EPILOG = """\
Ray: without --address (and without $RAY_ADDRESS) a private Ray instance starts on this
machine and stops at the end. On a cluster (`ray start --head` on one node, `ray start
--address HEAD:6379` on the others) pass --address HEAD:6379, or submit the command with
`ray job submit --address http://HEAD:8265 -- arena ...`. Nodes that do not see the workspace
get bases and adapters by content hash through Ray (--artifacts ship; auto detects it).
Records: WORKSPACE/matches/RUN/shard-*.jsonl; reports: WORKSPACE/runs/RUN/.
Resume: run the same command with the same --run-id."""

# Each command's flags: its run config's fields, then the placement (ExecOptions).
TOURNAMENT_FLAGS = Flags(TournamentConfig)
SELFPLAY_FLAGS = Flags(SelfplayConfig)
GATE_FLAGS = Flags(GateRunConfig)
EXEC_FLAGS = Flags(ExecOptions)
PLACEMENT = "placement (where the games run; the games themselves depend only on the options above)"


def register(sub: argparse._SubParsersAction) -> None:
    for name, flags, func, summary, description in (
        ("tournament", TOURNAMENT_FLAGS, cmd_tournament,
         "round robin or gauntlet on Ray -> match logs + per-pairing summary",
         "Play every pairing of the players (or the first against the others) in seat-swapped "
         "pairs on Ray workers, stream the games to JSONL shards, and print a results table "
         "with confidence intervals. Writes runs/RUN/summary.json (wins, draws, losses and "
         "pentanomial counts per pairing) for `ratings`."),
        ("selfplay", SELFPLAY_FLAGS, cmd_selfplay,
         "a player against a league on Ray -> match logs for the dataset builders",
         "Play a player against a league (itself, past versions, scripted agents) in "
         "seat-swapped pairs, split between the opponents by weight. LLM players sample with "
         "--temperature. The match logs feed `arena data sft|prefs`."),
        ("gate", GATE_FLAGS, cmd_gate,
         "candidate vs champion on Ray until the SPRT decides -> decision + report",
         "Play seat-swapped pairs of candidate vs champion in batches until the sequential "
         "probability ratio test accepts (the candidate beats the champion by the margin) or "
         "rejects, or the cap is reached (the champion stays). Writes runs/RUN/gate.json and "
         "gate.md and prints the report."),
    ):  # fmt: skip
        p = sub.add_parser(name, help=summary, description=description, epilog=EPILOG)
        flags.add_to(p)
        p.add_argument(
            "--run-id",
            default=None,
            help="name of the run (default: KIND-DATE-TIME); reuse it to resume an interrupted run",
        )
        EXEC_FLAGS.add_to(p, PLACEMENT)
        p.set_defaults(func=func)


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
    from arena.runs.tournament import run_tournament

    config, options = TOURNAMENT_FLAGS.build(args), EXEC_FLAGS.build(args)
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
    from arena.runs.selfplay import run_selfplay

    config, options = SELFPLAY_FLAGS.build(args), EXEC_FLAGS.build(args)
    with ProgressLine("selfplay") as progress:
        progress.announce(config.pairs * 2, options)
        result = run_selfplay(
            config, Workspace.resolve(args.workspace), options, args.run_id, progress
        )
    print(result.table())
    print("\n" + _footer(result.stats, options, result.paths))
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from arena.runs.gate import run_gate

    config, options = GATE_FLAGS.build(args), EXEC_FLAGS.build(args)
    with ProgressLine("gate") as progress:
        progress.announce(config.gate.max_pairs * 2, options)
        result = run_gate(config, Workspace.resolve(args.workspace), options, args.run_id, progress)
    print(result.markdown())
    print(_footer(result.stats, options, result.paths))
    return 0
