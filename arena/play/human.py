"""One game between a person and an agent, advanced one decision at a time.

The batch match loop (``games.match``) asks every seat for a decision in lockstep; a person
answers when they like (a terminal prompt, a click in the browser), so ``HumanGame`` keeps the
live state between calls instead. It writes the same records as the match loop: the person's
seat has the spec ``human``, and every decision (the person's and the agent's) becomes a
``MoveRecord``, so a finished game is an ordinary ``MatchRecord`` that the dataset builders
read like any other. ``arena play`` (terminal) and ``arena serve`` (browser) share this class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from agents.base import Decision
from games import InputError, Observation, Opening, load_game, observe, sample_chance
from games.records import MatchRecord, MoveRecord, SeatRecord
from games.views import view_for

HUMAN_SPEC = "human"


class NotYourTurn(InputError):
    """A move out of turn (the web API answers 409)."""


class GameOver(InputError):
    """A move in a finished game (the web API answers 409)."""


@dataclass(frozen=True)
class HumanMove:
    """The outcome of parsing what a person typed or clicked."""

    action: int
    text: str


class HumanGame:
    """A game of ``game`` with a person in seat ``human_seat`` and an agent in the other.

    Randomness comes from ``seed`` only: the deal and later chance nodes from one generator,
    the agent's sampling from another, so a game is reproducible from its record.
    """

    def __init__(
        self,
        game: str,
        agent_spec: str,
        human_seat: int,
        seed: int,
        match_id: str,
        run_id: str | None = None,
        agent_version: str | None = None,
    ):
        if human_seat not in (0, 1):
            raise InputError(f"seat must be 0 (first) or 1 (second), got {human_seat}")
        self.handle = load_game(game)
        self.agent_spec = agent_spec
        self.human_seat = human_seat
        self.seed = int(seed)
        self.match_id = match_id
        self.run_id = run_id
        self.state = self.handle.game.new_initial_state()
        self.chance_rng = np.random.default_rng([self.seed, 7])
        self.agent_rng = np.random.default_rng([self.seed, 1 - human_seat])
        self.moves: list[MoveRecord] = []
        self.agent_version = agent_version
        self.think = [0.0, 0.0]
        self.started = time.time()
        self._clock = time.perf_counter()
        self._advance_chance()

    # ------------------------------------------------------------------------------- state

    def _advance_chance(self) -> None:
        while self.state.is_chance_node():
            self.state.apply_action(sample_chance(self.state, self.chance_rng))

    @property
    def done(self) -> bool:
        return self.state.is_terminal()

    @property
    def to_move(self) -> int | None:
        """The seat to act, or None when the game is over."""
        return None if self.done else int(self.state.current_player())

    @property
    def agent_to_move(self) -> bool:
        return self.to_move == 1 - self.human_seat

    def observation(self) -> Observation:
        """What the player to act sees (prompt + legal moves); the game must not be over."""
        if self.done:
            raise InputError("the game is over")
        return observe(self.handle, self.state)

    def describe(self) -> list[str]:
        """The position from the person's point of view (their own cards only)."""
        return view_for(self.handle).describe(self.state, self.human_seat)

    def reveal(self) -> list[str]:
        """Once the game is over: what was hidden from the person (the opponent's card)."""
        view = view_for(self.handle)
        if not self.done or not hasattr(view, "card_name"):
            return []
        private = view._replay(self.state)[0]
        return [f"Opponent's card: {view.card_name(private[1 - self.human_seat])}."]

    def returns(self) -> list[float] | None:
        return [float(r) for r in self.state.returns()] if self.done else None

    def outcome(self) -> str | None:
        """``win``, ``loss`` or ``draw`` for the person, once the game is over."""
        returns = self.returns()
        if returns is None:
            return None
        gap = returns[self.human_seat] - returns[1 - self.human_seat]
        return "win" if gap > 0 else "loss" if gap < 0 else "draw"

    # ------------------------------------------------------------------------------- moves

    def parse_human(self, entry: str | int) -> HumanMove:
        """A legal move from a move text (``b3``, ``bet``) or a 1-based index into the list.

        Raises:
            InputError: the game is over, it is not the person's turn, or the entry names no
                legal move (the message lists the legal ones).
        """
        if self.done:
            raise GameOver("the game is over; start a new one")
        if self.to_move != self.human_seat:
            raise NotYourTurn("it is not your turn")
        obs = self.observation()
        text = str(entry).strip()
        if isinstance(entry, int) or text.isdigit():
            index = int(text)
            if not 1 <= index <= len(obs.actions):
                raise InputError(
                    f"move number {index} is out of range: choose 1-{len(obs.actions)} "
                    f"({', '.join(obs.texts)})"
                )
            return HumanMove(obs.actions[index - 1], obs.texts[index - 1])
        parsed = obs.parse(text)
        if isinstance(parsed, int):
            return HumanMove(parsed, obs.text_of(parsed))
        if parsed.kind == "illegal":
            raise InputError(f"'{text[:40]}' is not legal now; legal: {', '.join(obs.texts)}")
        raise InputError(f"'{text[:40]}' names no move; legal: {', '.join(obs.texts)}")

    def play_human(self, entry: str | int, seconds: float = 0.0) -> MoveRecord:
        """Apply the person's move (see ``parse_human`` for what is accepted)."""
        move = self.parse_human(entry)
        obs = self.observation()
        return self._apply(obs, Decision(action=move.action, text=str(entry)[:200]), seconds)

    def apply_agent(self, obs: Observation, decision: Decision, seconds: float) -> MoveRecord:
        """Apply the agent's ``decision`` for ``obs`` (obtained from ``observation()``)."""
        if not self.agent_to_move:
            raise InputError("it is not the agent's turn")
        if decision.action not in obs.actions:
            raise ValueError(f"agent {self.agent_spec} chose {decision.action}, not a legal move")
        if decision.version is not None:
            self.agent_version = decision.version
        return self._apply(obs, decision, seconds)

    def step_agent(self, agent) -> MoveRecord:
        """Ask ``agent`` for its move and apply it (one call, no batching)."""
        obs = self.observation()
        start = time.perf_counter()
        decision = agent.act(obs, self.agent_rng)
        return self.apply_agent(obs, decision, time.perf_counter() - start)

    def _apply(self, obs: Observation, decision: Decision, seconds: float) -> MoveRecord:
        policy = None
        if decision.policy is not None:
            policy = [float(decision.policy.get(a, 0.0)) for a in obs.actions]
        move = MoveRecord(
            ply=len(self.state.history()),
            player=obs.player,
            prompt=obs.prompt,
            legal_actions=list(obs.actions),
            legal_texts=list(obs.texts),
            action=int(decision.action),
            text=obs.text_of(decision.action),
            policy=policy,
            raw=decision.text,
            illegal=decision.illegal,
            unparseable=decision.unparseable,
            version=decision.version,
        )
        self.think[obs.player] += seconds
        self.moves.append(move)
        self.state.apply_action(decision.action)
        self._advance_chance()
        return move

    # ------------------------------------------------------------------------------ record

    def record(self) -> MatchRecord:
        """The finished game as a match record (raises InputError while it is still going)."""
        if not self.done:
            raise InputError("the game is not over yet")
        seats = [SeatRecord(HUMAN_SPEC), SeatRecord(self.agent_spec, self.agent_version)]
        if self.human_seat == 1:
            seats.reverse()
        return MatchRecord(
            match_id=self.match_id,
            game=self.handle.spec,
            seed=self.seed,
            opening=Opening(chance_seed=self.seed, label="human game").to_dict(),
            seats=seats,
            moves=list(self.moves),
            history=[int(a) for a in self.state.history()],
            returns=self.returns() or [0.0, 0.0],
            termination="normal",
            run_id=self.run_id,
            game_params={
                k: v
                for k, v in self.handle.params.items()
                if isinstance(v, int | float | str | bool)
            },
            timing={
                "wall_s": round(time.perf_counter() - self._clock, 6),
                "think_s": [round(t, 6) for t in self.think],
                "started_at": self.started,
                "finished_at": time.time(),
            },
        )
