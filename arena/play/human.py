"""One game between a person and an agent, advanced one decision at a time.

The batch match loop (``games.match``) asks every seat for a decision in lockstep; a person
answers when they like (a terminal prompt, a click in the browser), so ``HumanGame`` keeps the
game between calls. It is a ``games.match.LiveMatch``, the match loop's own game: the person's
seat has the spec ``human``, every decision (the person's and the agent's) becomes a
``MoveRecord`` built by the loop's code, and an agent's illegal move forfeits and the move cap
ends the game exactly as in batch play. A finished game is an ordinary ``MatchRecord``.
``arena play`` (terminal) and ``arena serve`` (browser) share this class.

One move grammar for people: what a person types or sends is a move's label, the text the
board and the legal-move list show (``b3``, ``5``, ``bet``; case and surrounding spaces do not
matter). Nothing else is read as a move: not a position in the list (in connect_four the label
``5`` is column 5 whether or not column 4 is full), not OpenSpiel's internal action names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agents.base import Decision
from games import InputError, Observation, Opening, load_game
from games.match import DEFAULT_MOVE_CAP, LiveMatch, MatchJob
from games.observation import parse_label
from games.records import MatchRecord, MoveRecord
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

    Randomness comes from ``seed`` only, as in batch play: the deal and later chance nodes
    from the opening's generator, the agent's sampling from its seat's, so a game is
    reproducible from its record.
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
        move_cap: int = DEFAULT_MOVE_CAP,
    ):
        if human_seat not in (0, 1):
            raise InputError(f"seat must be 0 (first) or 1 (second), got {human_seat}")
        self.handle = load_game(game)
        self.agent_spec = agent_spec
        self.human_seat = human_seat
        self.seed = int(seed)
        seats = [HUMAN_SPEC, agent_spec] if human_seat == 0 else [agent_spec, HUMAN_SPEC]
        job = MatchJob(
            match_id=match_id,
            game=self.handle.spec,
            seats=(seats[0], seats[1]),
            opening=Opening(chance_seed=self.seed, label="human game"),
            seed=self.seed,
            run_id=run_id,
            move_cap=move_cap,
        )
        self.live = LiveMatch.start(job)
        self.live.versions[1 - human_seat] = agent_version
        self.agent_rng = self.live.seat_rngs[1 - human_seat]

    # ------------------------------------------------------------------------------- state

    @property
    def state(self):
        return self.live.state

    @property
    def moves(self) -> list[MoveRecord]:
        return self.live.moves

    @property
    def agent_version(self) -> str | None:
        return self.live.versions[1 - self.human_seat]

    @property
    def done(self) -> bool:
        return self.live.done

    @property
    def termination(self) -> str | None:
        """Why the game ended early: ``illegal_move`` (a forfeit) or ``move_cap``."""
        return self.live.termination

    @property
    def to_move(self) -> int | None:
        """The seat to act, or None when the game is over."""
        return self.live.to_move

    @property
    def agent_to_move(self) -> bool:
        return self.to_move == 1 - self.human_seat

    def observation(self) -> Observation:
        """What the player to act sees (prompt + legal moves); the game must not be over."""
        if self.done:
            raise InputError("the game is over")
        return self.live.observe()

    def describe(self) -> list[str]:
        """The position from the person's point of view (their own cards only)."""
        return view_for(self.handle).describe(self.state, self.human_seat)

    def reveal(self) -> list[str]:
        """Once the game is over: what was hidden from the person (the opponent's card)."""
        view = view_for(self.handle)
        if not self.done or not hasattr(view, "card_name"):
            return []
        private = view._replay(self.state)[0]
        if len(private) <= 1 - self.human_seat:
            return []
        return [f"Opponent's card: {view.card_name(private[1 - self.human_seat])}."]

    def returns(self) -> list[float] | None:
        return self.live.returns()

    def outcome(self) -> str | None:
        """``win``, ``loss`` or ``draw`` for the person, once the game is over."""
        returns = self.returns()
        if returns is None:
            return None
        gap = returns[self.human_seat] - returns[1 - self.human_seat]
        return "win" if gap > 0 else "loss" if gap < 0 else "draw"

    # ------------------------------------------------------------------------------- moves

    def parse_human(self, entry: str) -> HumanMove:
        """The legal move whose label is ``entry`` (see the module docstring).

        Raises:
            InputError: the game is over, it is not the person's turn, or the entry is not
                the label of a legal move (the message lists the legal ones).
        """
        if self.done:
            raise GameOver("the game is over; start a new one")
        if self.to_move != self.human_seat:
            raise NotYourTurn("it is not your turn")
        obs = self.observation()
        parsed = parse_label(obs, str(entry))
        if isinstance(parsed, int):
            return HumanMove(parsed, obs.text_of(parsed))
        raise InputError(parsed.message)

    def play_human(self, entry: str, seconds: float = 0.0) -> MoveRecord:
        """Apply the person's move (see ``parse_human`` for what is accepted)."""
        move = self.parse_human(entry)
        obs = self.observation()
        decision = Decision(action=move.action, text=str(entry)[:200])
        return self.live.apply(obs, decision, seconds)

    def apply_agent(self, obs: Observation, decision: Decision, seconds: float) -> MoveRecord:
        """Apply the agent's ``decision`` for ``obs`` (obtained from ``observation()``); an
        illegal or missing move forfeits the game, as in batch play."""
        if not self.agent_to_move:
            raise InputError("it is not the agent's turn")
        return self.live.apply(obs, decision, seconds)

    def step_agent(self, agent) -> MoveRecord:
        """Ask ``agent`` for its move and apply it (one call, no batching)."""
        obs = self.observation()
        start = time.perf_counter()
        decision = agent.act(obs, self.agent_rng)
        return self.apply_agent(obs, decision, time.perf_counter() - start)

    # ------------------------------------------------------------------------------ record

    def record(self) -> MatchRecord:
        """The finished game as a match record (raises InputError while it is still going)."""
        if not self.done:
            raise InputError("the game is not over yet")
        return self.live.record()
