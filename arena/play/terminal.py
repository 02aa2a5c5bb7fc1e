"""``arena play``: a person against an agent in the terminal.

The loop draws the position from the person's side, lists the legal moves by their labels,
and accepts a move by its label (``b3``, ``5``, ``bet``: what the board shows, the one grammar
of ``arena.play.human``); an illegal or unparseable entry is explained and asked again. After
each game it saves the match record (seat spec ``human``) and offers another game, with the
seats swapped if asked.
Input and output are passed in (``ask``, ``say``) so the loop holds no terminal state and a
test can drive it through a real pseudo-terminal.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from arena.play.human import HumanGame
from games import InputError
from games.configs import option
from games.jsonl import JsonlWriter
from games.limits import check_int, check_seed

QUIT_WORDS = ("q", "quit", "exit")
OUTCOME_WORDS = {"win": "won", "loss": "lost", "draw": "drew"}


@dataclass(frozen=True)
class PlayConfig:
    """One terminal session (``arena play`` derives its flags from these fields)."""

    game: str = option(help="e.g. tic_tac_toe, kuhn_poker, connect_four", metavar="GAME")
    opponent: str = option(
        help="the opponent: random, mcts[:N], solver, llm:BASE[@ADAPTER]",
        flag="--vs",
        metavar="SPEC",
    )
    seed: int = option(help="the first game's seed, each further game adds one (default: clock)")
    out: Path = option(help="the JSONL file the records are appended to")
    seat: int = option(0, "your seat (swappable between games)", names={"first": 0, "second": 1})
    show_policy: bool = option(
        False, "after each agent move, show its probabilities over its legal moves"
    )

    def __post_init__(self) -> None:
        check_int("seat", self.seat, 0, 1)
        check_seed("seed", self.seed)


def format_policy(move) -> str:
    """``b3 0.62  a1 0.21  ...``: the agent's policy, most likely first (empty without one)."""
    if move.policy is None:
        return ""
    pairs = sorted(zip(move.legal_texts, move.policy, strict=True), key=lambda p: -p[1])
    return "  ".join(f"{text} {prob:.2f}" for text, prob in pairs)


def _legal_list(obs) -> str:
    return "  ".join(obs.texts)


def play_one(
    game: HumanGame, agent, ask: Callable[[str], str], say: Callable[[str], None], policy: bool
) -> bool:
    """Play ``game`` to the end; False when the person quits (or input ends) first."""
    while not game.done:
        if game.agent_to_move:
            move = game.step_agent(agent)
            label = f"{game.agent_spec} ({move.version})" if move.version else game.agent_spec
            say(f"{label} plays {move.text}")
            if policy and move.policy is not None:
                say(f"  policy: {format_policy(move)}")
            continue
        say("")
        for line in game.describe():
            say(line)
        obs = game.observation()
        say(f"Legal moves: {_legal_list(obs)}")
        shown = time.perf_counter()
        while True:
            try:
                entry = ask("your move> ")
            except EOFError:
                return False
            if entry.strip().lower() in QUIT_WORDS:
                return False
            try:
                move = game.play_human(entry, time.perf_counter() - shown)
            except InputError as error:
                say(f"  {error}; try again (or q to quit)")
                continue
            say(f"you play {move.text}")
            break
    return True


def run_session(
    config: PlayConfig, agent, ask: Callable[[str], str], say: Callable[[str], None]
) -> int:
    """Games until the person stops; returns how many finished games were saved."""
    seat, seed, saved = config.seat, config.seed, 0
    with JsonlWriter(config.out) as writer:
        while True:
            game = HumanGame(
                config.game,
                config.opponent,
                seat,
                seed,
                match_id=f"human-{uuid.uuid4().hex[:12]}",
                run_id="human",
            )
            say(
                f"\n== {game.handle.spec}: you are player {seat} "
                f"({'first' if seat == 0 else 'second'}) against {config.opponent}"
            )
            if not play_one(game, agent, ask, say, config.show_policy):
                say("game abandoned (not saved)")
                return saved
            say("")
            for line in game.describe() + game.reveal():
                say(line)
            mine = game.returns()[seat]
            say(f"Game over: you {OUTCOME_WORDS[game.outcome()]} (returns {mine:+g} for you).")
            writer.write(game.record().to_dict())
            saved += 1
            say(f"saved to {config.out}")
            while True:
                try:
                    answer = ask("again? [y]es, [s]wap seats, [n]o> ").strip().lower()
                except EOFError:
                    return saved
                if answer in ("y", "yes", "s", "swap", "n", "no", *QUIT_WORDS):
                    break
                say("  answer y, s or n")
            if answer in ("n", "no", *QUIT_WORDS):
                return saved
            if answer in ("s", "swap"):
                seat = 1 - seat
            seed += 1
