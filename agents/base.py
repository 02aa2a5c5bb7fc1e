"""The agent protocol shared by scripted and LLM agents.

In the spirit of OpenSpiel's bots, an agent maps what the acting player sees to an action and,
where it has one, a policy over the legal actions. Agents hold no per-match state and take
their randomness from the caller (one generator per match and seat), so the same agent object
can serve many concurrent games and every match is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from games import Observation


@dataclass(frozen=True)
class Decision:
    """An agent's move.

    Attributes:
        action: the chosen legal action id, or None when the agent forfeits (an LLM in
            generate mode that produced no legal move within its re-prompt budget).
        policy: probability per legal action id, when the agent has a policy.
        text: the raw text the agent produced (generate mode), for the record.
        illegal: how many illegal moves were attempted before this decision.
        unparseable: how many outputs named no move before this decision.
        version: the adapter version that made the decision (LLM agents), else None.
    """

    action: int | None
    policy: dict[int, float] | None = None
    text: str | None = None
    illegal: int = 0
    unparseable: int = 0
    version: str | None = None


@runtime_checkable
class Agent(Protocol):
    """One player. ``spec`` is the string that builds it again (see ``agents.make_agent``)."""

    spec: str

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision: ...

    def act_batch(
        self, observations: list[Observation], rngs: list[np.random.Generator]
    ) -> list[Decision]: ...


class ScriptedAgent:
    """Base for agents that decide one state at a time; ``act_batch`` is a plain map."""

    spec: str = "scripted"
    version: str | None = None

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        raise NotImplementedError

    def act_batch(
        self, observations: list[Observation], rngs: list[np.random.Generator]
    ) -> list[Decision]:
        return [self.act(obs, rng) for obs, rng in zip(observations, rngs, strict=True)]

    def close(self) -> None:
        """Release resources (models, caches). Scripted agents hold none."""


def sample_from_policy(policy: dict[int, float], rng: np.random.Generator) -> int:
    actions = list(policy)
    probs = np.asarray([policy[a] for a in actions], dtype=np.float64)
    return int(actions[rng.choice(len(actions), p=probs / probs.sum())])
