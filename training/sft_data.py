"""SFT rows from match logs: the moves of expert or scripted seats as prompt-completion pairs.

Each kept move becomes ``{"prompt": MoveRecord.prompt, "completion": completion_text(text)}``
(TRL's prompt-completion format, so ``SFTTrainer`` puts the loss on the completion only) plus
``game``, ``source`` (the seat's agent spec), ``match_id``, ``ply`` and ``seat``. Every move
read is either written or counted under a drop reason; nothing disappears silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from agents import parse_spec
from games import InputError, completion_text
from games.jsonl import ReadStats
from games.records import MatchRecord
from training.config import SFTDataConfig, to_dict
from training.devsets import HeldOut
from training.logs import input_files, iter_records, play_to_log
from training.manifest import Manifest
from training.rows import Drops, NoUsableData, SFTRow, SplitWriter, digest


@dataclass
class BuildResult:
    """What a dataset build wrote, and what it dropped and why."""

    manifest: Manifest
    paths: dict[str, Path]
    written: dict[str, int]
    considered: int
    drops: Drops
    read: ReadStats = field(default_factory=ReadStats)

    def summary(self) -> str:
        lines = [
            f"considered {self.considered}; kept {sum(self.written.values())} "
            f"(train {self.written['train']}, held-out {self.written['heldout']})"
        ]
        for reason, count in sorted(self.drops.items(), key=lambda kv: -kv[1]):
            lines.append(f"  dropped {count}: {reason}")
        if self.read.bad:
            lines.append(
                f"  {self.read.bad} malformed match lines quarantined in {self.read.quarantine}"
            )
        lines.extend(f"  wrote {path}" for path in self.paths.values())
        return "\n".join(lines)


def selected_seats(
    record: MatchRecord, agents: frozenset[str] | None, seats: tuple[int, ...] | None
) -> list[bool]:
    """Which seats of ``record`` a builder learns from (by agent spec and seat index)."""
    return [
        (agents is None or record.seats[seat].spec in agents) and (seats is None or seat in seats)
        for seat in (0, 1)
    ]


def balance_wanted(config) -> bool:
    """Balance seats unless asked not to, or unless only one seat is selected."""
    return config.balance_seats and (config.seats is None or len(set(config.seats)) == 2)


def normalise_agents(agents: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if not agents else frozenset(parse_spec(a).raw for a in agents)


def prepare_inputs(config, manifest: Manifest, out: Path) -> list[Path]:
    """Play the configured matches (if any), then list and hash every input log."""
    inputs = list(config.inputs)
    if config.play is not None:
        with manifest.stage("play"):
            inputs.append(str(play_to_log(config.play, out / "matches.jsonl")))
        manifest.seeds["play"] = config.play.seed
    files = input_files(inputs)
    with manifest.stage("hash_inputs"):
        manifest.add_inputs(files)
    return files


def dataset_stats(paths: dict[str, Path]) -> dict:
    """Rows and characters per split (tokens are counted at training time, per tokenizer)."""
    stats = {}
    for split, path in paths.items():
        rows = chars = 0
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                obj = json.loads(line)
                rows += 1
                chars += sum(len(v) for k, v in obj.items() if k in _TEXT_FIELDS)
        stats[split] = {"rows": rows, "chars": chars}
    return stats


_TEXT_FIELDS = ("prompt", "completion", "chosen", "rejected")


def build_sft(config: SFTDataConfig) -> BuildResult:
    """Build ``sft.jsonl`` and ``sft.heldout.jsonl`` in ``config.out`` with a manifest.

    Raises:
        InputError: no input, malformed input (unless ``skip_bad``), or no row kept.
    """
    if config.dedup not in ("none", "exact", "prompt"):
        raise InputError(f"unknown dedup mode '{config.dedup}' (none, exact, prompt)")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(
        kind="sft-data", run_id=out.name, config=to_dict(config), seeds={"split": config.seed}
    )
    files = prepare_inputs(config, manifest, out)
    agents = normalise_agents(config.agents)
    drops = Drops()
    stats = ReadStats()
    seen: set[bytes] = set()
    considered = 0
    heldout = HeldOut(config.exclude_devset, config.devset_images)
    labeller = SolverLabels() if config.label == "solver" else None
    writer = SplitWriter(out, "sft", config.heldout, config.seed, balance_wanted(config))
    try:
        with manifest.stage("build"):
            records = iter_records(files, skip_bad=config.skip_bad, quarantine_dir=out, stats=stats)
            for record in records:
                chosen = selected_seats(record, agents, config.seats)
                for move in record.moves:
                    considered += 1
                    reason = _drop_reason(record, move, chosen, config.outcome)
                    if reason:
                        drops.drop(reason)
                        continue
                    if heldout(record.game, move.prompt):
                        drops.drop(HeldOut.REASON)
                        continue
                    if config.label == "solver":
                        texts = labeller(record, move)
                        if not texts:
                            drops.drop("every legal move optimal (--label solver: no signal)")
                            continue
                        source = "solver-label"
                    else:
                        texts, source = [move.text], record.seats[move.player].spec
                    for text in texts:
                        completion = completion_text(text)
                        if config.dedup != "none":
                            mode = config.dedup == "exact"
                            key = digest(move.prompt, completion if mode else "")
                            if key in seen:
                                drops.drop("duplicate")
                                continue
                            seen.add(key)
                        row = SFTRow(
                            prompt=move.prompt,
                            completion=completion,
                            game=record.game,
                            source=source,
                            match_id=record.match_id,
                            ply=move.ply,
                            seat=move.player,
                        )
                        writer.add(row.to_dict(), group=record.match_id)
            written = writer.finish(drops)
    except BaseException:
        writer.abort()
        raise
    if stats.bad:
        drops.drop("malformed match line (quarantined)", stats.bad)
    if written["train"] == 0:
        raise NoUsableData(
            f"no SFT rows kept from {considered} moves ("
            + ", ".join(f"{r}: {c}" for r, c in drops.items())
            + "); check --agents/--seats/--outcome"
        )
    paths = writer.paths()
    manifest.add_outputs(paths.values())
    manifest.dataset = {
        "splits": dataset_stats(paths),
        "considered": considered,
        "dropped": dict(drops),
        "devset_excluded": drops.get(HeldOut.REASON, 0),
        "records_read": stats.read,
        "bad_lines": stats.bad,
    }
    manifest.write(out / "sft.manifest.json")
    return BuildResult(manifest, paths, written, considered, drops, stats)


class SolverLabels:
    """Every fastest optimal move's text at a logged position, by the exact solver (cached).

    The solver's values do not see depth: where a move wins now, slower wins are optimal too,
    and a quarter of the tic_tac_toe positions with a win on the board also labelled moves
    that do not take it (258 of 1,043, measured in LEARNING.md). Those rows teach the model to
    pass up a win, so where some optimal move ends the game with a win, only those are labelled
    (the fastest win: what a player who cannot search deeper should learn first). A position is
    dropped only when the labels cover every legal move (no signal).
    """

    def __init__(self):
        self._solvers: dict[str, object] = {}

    def __call__(self, record: MatchRecord, move) -> list[str]:
        from agents.solver import AlphaBetaSolver
        from games import load_game, observe

        handle = load_game(record.game)
        if record.game not in self._solvers:
            self._solvers[record.game] = AlphaBetaSolver(handle)
        state = handle.game.new_initial_state()
        for action in record.history[: move.ply]:
            state.apply_action(action)
        obs = observe(handle, state)
        if obs.prompt != move.prompt:
            raise InputError(f"{record.match_id} ply {move.ply}: history does not replay")
        return [obs.text_of(a) for a in fastest_optimal(self._solvers[record.game], state)]


def fastest_optimal(solver, state) -> list[int]:
    """The optimal actions, only the winning-now ones where some optimal action wins now;
    empty when they are every legal action (a label that teaches nothing)."""
    values = solver.action_values(state)
    best = max(values.values())
    optimal = [a for a in state.legal_actions() if values[a] >= best - 1e-9]
    if best > 0:
        optimal = [a for a in optimal if state.child(a).is_terminal()] or optimal
    return [] if len(optimal) == len(values) else optimal


def _drop_reason(record: MatchRecord, move, chosen: list[bool], outcome: str) -> str | None:
    if not chosen[move.player]:
        return "seat or agent not selected"
    if move.action is None or move.text is None:
        return "no legal move (forfeit)"
    score = record.score(move.player)
    if outcome == "won" and score < 1.0:
        return "mover did not win (--outcome won)"
    if outcome == "not_lost" and score == 0.0:
        return "mover lost (--outcome not_lost)"
    return None
