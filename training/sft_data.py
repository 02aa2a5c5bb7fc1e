"""SFT rows from match logs: the moves of expert or scripted seats as prompt-completion pairs.

Each kept move becomes ``{"prompt": MoveRecord.prompt, "completion": completion_text(text)}``
(TRL's prompt-completion format, so ``SFTTrainer`` puts the loss on the completion only) plus
``game``, ``source`` (the seat's agent spec), ``match_id``, ``ply`` and ``seat``. Every move
read is either written or counted under a drop reason; nothing disappears silently.
"""

from __future__ import annotations

from games import InputError, completion_text, load_game, observe
from games.records import MatchRecord
from games.symmetry import action_symmetries, history_images
from training.build import BuildResult, build_dataset, normalise_agents, selected_moves
from training.config import SFTDataConfig
from training.devsets import HeldOut
from training.rollouts import replay
from training.rows import Drops, SFTRow, SplitWriter, digest

__all__ = ["BuildResult", "SolverLabels", "build_sft", "fastest_optimal"]


def build_sft(config: SFTDataConfig) -> BuildResult:
    """Build ``sft.jsonl`` and ``sft.heldout.jsonl`` in ``config.out`` with a manifest
    (``training.build.build_dataset``; this module supplies the rows).

    Raises:
        InputError: no input, malformed input (unless ``skip_bad``), or no row kept.
    """
    if config.dedup not in ("none", "exact", "prompt"):
        raise InputError(f"unknown dedup mode '{config.dedup}' (none, exact, prompt)")
    agents = normalise_agents(config.agents)
    heldout = HeldOut(config.exclude_devset, config.devset_images)
    labeller = SolverLabels() if config.label == "solver" else None

    def rows(records, writer: SplitWriter, drops: Drops) -> int:
        seen: set[bytes] = set()
        considered = [0]
        for record, move in selected_moves(records, agents, config.seats, drops, considered):
            reason = _drop_reason(record, move, config.outcome)
            if reason:
                drops.drop(reason)
                continue
            if heldout(record.game, move.prompt):
                drops.drop(HeldOut.REASON)
                continue
            if labeller is not None:
                actions = labeller.actions(record, move)
                if not actions:
                    drops.drop("every legal move optimal (--label solver: no signal)")
                    continue
                source = "solver-label"
            elif config.label == "visits":
                if move.policy is None:
                    drops.drop("no policy logged (--label visits)")
                    continue
                actions, source = _visited(move, config.min_share), record.seats[move.player].spec
            else:
                actions, source = [move.action], record.seats[move.player].spec
            for image, (prompt, texts) in enumerate(_positions(record, move, actions, config)):
                if image and heldout(record.game, prompt):
                    drops.drop(f"image: {HeldOut.REASON}")
                    continue
                for text in texts:
                    completion = completion_text(text)
                    if config.dedup != "none":
                        mode = config.dedup == "exact"
                        key = digest(prompt, completion if mode else "")
                        if key in seen:
                            drops.drop("duplicate")
                            continue
                        seen.add(key)
                    row = SFTRow(
                        prompt=prompt,
                        completion=completion,
                        game=record.game,
                        source=source,
                        match_id=record.match_id,
                        ply=move.ply,
                        seat=move.player,
                    )
                    writer.add(row.to_dict(), group=record.match_id)
        return considered[0]

    return build_dataset(
        config,
        "sft",
        rows,
        seeds={"split": config.seed},
        nothing_kept=("SFT rows", "check --agents/--seats/--outcome"),
    )


def _positions(record: MatchRecord, move, actions: list[int], config: SFTDataConfig):
    """``(prompt, texts of actions)`` at the logged position, then, with ``config.images``,
    at each of its symmetric images (``games.symmetry``), the actions permuted with it."""
    if not config.images:
        return [(move.prompt, _texts(move, actions))]
    handle = load_game(record.game)
    images = history_images(handle, record.history[: move.ply])
    out = []
    for perm, history in zip(action_symmetries(handle), images, strict=True):
        obs = observe(handle, _replayed(handle, record, move, history))
        out.append((obs.prompt, [obs.text_of(perm[a]) for a in actions]))
    if out[0][0] != move.prompt:
        raise InputError(f"{record.match_id} ply {move.ply}: history does not replay")
    return out


def _replayed(handle, record: MatchRecord, move, history: list[int]):
    """The state after ``history`` (``move``'s position or an image of it); a log whose
    history is not legal is the user's input error, named by match and ply."""
    try:
        return replay(handle, history)
    except ValueError as error:
        where = f"{record.match_id} ply {move.ply}"
        raise InputError(f"{where}: history does not replay ({error})") from None


def _visited(move, min_share: float) -> list[int]:
    """The played move, then every other move with at least ``min_share`` of the logged policy:
    a search's visit distribution (AlphaZero's policy target, Silver et al. 2017) coarsened to
    rows, so that a near-tie of the search teaches both moves instead of one."""
    others = [
        a
        for a, p in zip(move.legal_actions, move.policy, strict=True)
        if p >= min_share and a != move.action
    ]
    return [move.action, *others]


def _texts(move, actions: list[int]) -> list[str]:
    return [move.legal_texts[move.legal_actions.index(a)] for a in actions]


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
        return _texts(move, self.actions(record, move))

    def actions(self, record: MatchRecord, move) -> list[int]:
        """The labelled actions (``__call__``: their texts)."""
        from agents.solver import AlphaBetaSolver

        handle = load_game(record.game)
        if record.game not in self._solvers:
            self._solvers[record.game] = AlphaBetaSolver(handle)
        state = _replayed(handle, record, move, record.history[: move.ply])
        obs = observe(handle, state)
        if obs.prompt != move.prompt:
            raise InputError(f"{record.match_id} ply {move.ply}: history does not replay")
        return fastest_optimal(self._solvers[record.game], state)


def fastest_optimal(solver, state) -> list[int]:
    """The optimal actions, only the winning-now ones where some optimal action wins now;
    empty when they are every legal action (a label that teaches nothing)."""
    values = solver.action_values(state)
    best = max(values.values())
    optimal = [a for a in state.legal_actions() if values[a] >= best - 1e-9]
    if best > 0:
        optimal = [a for a in optimal if state.child(a).is_terminal()] or optimal
    return [] if len(optimal) == len(values) else optimal


def _drop_reason(record: MatchRecord, move, outcome: str) -> str | None:
    if move.action is None or move.text is None:
        return "no legal move (forfeit)"
    score = record.score(move.player)
    if outcome == "won" and score < 1.0:
        return "mover did not win (--outcome won)"
    if outcome == "not_lost" and score == 0.0:
        return "mover lost (--outcome not_lost)"
    return None
