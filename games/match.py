"""The match loop: plain functions that play games between agents and return match records.

``play_matches`` advances many games in lockstep: at every tick it gathers each live game's
pending decision, groups them by agent, and asks each agent for one batch of decisions (an LLM
engine answers a whole batch in one forward pass). ``play_match`` is the one-game case. Nothing
here knows about Ray; arena workers simply call these functions.

``LiveMatch`` is one game in progress, advanced one decision at a time: the loop above drives
it, and so does a game with a person in it (``arena.play.human``), so every game, batch or
human, is recorded, forfeited (an illegal move) and capped (``move_cap``) by the same code.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from games import Opening, apply_opening, load_game, observe, sample_chance
from games.player import Agent, Decision
from games.records import MatchRecord, MoveRecord, SeatRecord

DEFAULT_MOVE_CAP = 1000


def derive_seed(run_seed: int, index: int, salt: int = 0) -> int:
    """A match's seed from (run seed, match index[, pairing salt]).

    Independent of worker count and scheduling order, so a run's records are reproducible.
    """
    return int(np.random.SeedSequence([run_seed, salt, index]).generate_state(1)[0])


@dataclass(frozen=True)
class MatchJob:
    """One game to play: who sits where, from which opening, with which seed."""

    match_id: str
    game: str
    seats: tuple[str, str]
    opening: Opening
    seed: int
    pair_index: int | None = None
    swapped: bool = False
    run_id: str | None = None
    move_cap: int = DEFAULT_MOVE_CAP


@dataclass
class LiveMatch:
    """One game of ``job`` in progress (``LiveMatch.start(job)``): observe, apply decisions,
    then ``record()``. Randomness: chance from the opening's seed, each seat its own generator
    from (match seed, seat), so a game does not depend on what else is played beside it."""

    job: MatchJob
    state: object
    chance_rng: np.random.Generator
    seat_rngs: list[np.random.Generator]
    started: float
    moves: list[MoveRecord] = field(default_factory=list)
    think: list[float] = field(default_factory=lambda: [0.0, 0.0])
    versions: list[str | None] = field(default_factory=lambda: [None, None])
    termination: str | None = None
    forfeit_by: int | None = None

    @staticmethod
    def start(job: MatchJob) -> LiveMatch:
        handle = load_game(job.game)
        game = LiveMatch(
            job=job,
            state=apply_opening(handle, job.opening),
            chance_rng=np.random.default_rng(job.opening.chance_seed),
            seat_rngs=[np.random.default_rng([job.seed, seat]) for seat in (0, 1)],
            started=time.perf_counter(),
        )
        game.advance_chance()
        return game

    def advance_chance(self) -> None:
        while self.state.is_chance_node():
            self.state.apply_action(sample_chance(self.state, self.chance_rng))

    @property
    def done(self) -> bool:
        return self.termination is not None or self.state.is_terminal()

    @property
    def to_move(self) -> int | None:
        """The seat to act, or None when the game is over."""
        return None if self.done else int(self.state.current_player())

    def observe(self):
        """What the seat to act sees (the game must not be over)."""
        return observe(load_game(self.job.game), self.state)

    def apply(self, obs, decision: Decision, seconds: float) -> MoveRecord:
        """Record ``decision`` for ``obs`` and play it; an illegal or missing action ends
        the game as a forfeit by that seat, and ``move_cap`` moves end it as a draw."""
        _apply(self, obs, decision, seconds)
        return self.moves[-1]

    def returns(self) -> list[float] | None:
        """Each seat's return once the game is over (a forfeit: the worst for the seat
        that forfeited, the best for the other; the move cap: 0 each), else None."""
        if not self.done:
            return None
        if self.termination == "illegal_move":
            worst = load_game(self.job.game).game.min_utility()
            returns = [-worst, -worst]
            returns[self.forfeit_by] = worst
            return [float(r) for r in returns]
        if self.termination == "move_cap":
            return [0.0, 0.0]
        return [float(r) for r in self.state.returns()]

    def record(self) -> MatchRecord:
        """The finished game as a match record."""
        return _finish(self)


def _aligned(probs: dict[int, float] | None, actions: tuple[int, ...]) -> list[float] | None:
    return None if probs is None else [float(probs.get(a, 0.0)) for a in actions]


def _apply(game: LiveMatch, obs, decision: Decision, seconds: float) -> None:
    player = obs.player
    game.think[player] += seconds
    if decision.version is not None:
        game.versions[player] = decision.version
    legal = decision.action is not None and decision.action in obs.actions
    policy = _aligned(decision.policy, obs.actions)
    game.moves.append(
        MoveRecord(
            ply=len(game.state.history()),
            player=player,
            prompt=obs.prompt,
            legal_actions=list(obs.actions),
            legal_texts=list(obs.texts),
            action=decision.action if legal else None,
            text=obs.text_of(decision.action) if legal else None,
            policy=policy,
            raw=decision.text,
            illegal=decision.illegal + (0 if legal or decision.action is None else 1),
            unparseable=decision.unparseable,
            version=decision.version,
            prior=_aligned(decision.prior, obs.actions),
        )
    )
    if not legal:
        game.termination, game.forfeit_by = "illegal_move", player
        return
    game.state.apply_action(decision.action)
    game.advance_chance()
    if not game.state.is_terminal() and len(game.moves) >= game.job.move_cap:
        game.termination = "move_cap"


def _finish(game: LiveMatch) -> MatchRecord:
    handle = load_game(game.job.game)
    returns = game.returns()
    if returns is None:
        raise ValueError(f"match {game.job.match_id} is not over yet")
    game.termination = game.termination or "normal"
    job = game.job
    return MatchRecord(
        match_id=job.match_id,
        game=job.game,
        seed=job.seed,
        opening=job.opening.to_dict(),
        seats=[
            SeatRecord(spec, version)
            for spec, version in zip(job.seats, game.versions, strict=True)
        ],
        moves=game.moves,
        history=[int(a) for a in game.state.history()],
        returns=[float(r) for r in returns],
        termination=game.termination,
        pair_index=job.pair_index,
        swapped=job.swapped,
        run_id=job.run_id,
        game_params={
            k: v for k, v in handle.params.items() if isinstance(v, int | float | str | bool)
        },
        timing={
            "wall_s": round(time.perf_counter() - game.started, 6),
            "think_s": [round(t, 6) for t in game.think],
            "finished_at": time.time(),
        },
    )


def play_matches(jobs: Sequence[MatchJob], agents: Mapping[str, Agent]) -> list[MatchRecord]:
    """Play ``jobs`` concurrently; ``agents`` maps each seat spec to the agent that plays it.

    The result is in the order of ``jobs`` and does not depend on how many are batched
    together: each game draws only from its own generators.
    """
    missing = {spec for job in jobs for spec in job.seats} - set(agents)
    if missing:
        raise ValueError(f"no agent given for spec(s): {sorted(missing)}")
    live = [LiveMatch.start(job) for job in jobs]
    while True:
        pending: dict[str, list[tuple[LiveMatch, object]]] = {}
        for game in live:
            if not game.done:
                obs = observe(load_game(game.job.game), game.state)
                pending.setdefault(game.job.seats[obs.player], []).append((game, obs))
        if not pending:
            break
        for spec, items in pending.items():
            observations = [obs for _, obs in items]
            rngs = [game.seat_rngs[obs.player] for game, obs in items]
            start = time.perf_counter()
            decisions = agents[spec].act_batch(observations, rngs)
            share = (time.perf_counter() - start) / len(items)
            for (game, obs), decision in zip(items, decisions, strict=True):
                _apply(game, obs, decision, share)
    return [_finish(game) for game in live]


def play_match(job: MatchJob, agents: Mapping[str, Agent]) -> MatchRecord:
    """Play one game (``play_matches`` with a batch of one)."""
    return play_matches([job], agents)[0]
