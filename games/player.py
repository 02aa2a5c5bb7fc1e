"""The player protocol: what the match loop asks of every player, scripted or LLM.

In the spirit of OpenSpiel's bots, a player maps what the acting player sees to an action and,
where it has one, a policy over the legal actions. Players hold no per-match state and take
their randomness from the caller (one generator per match and seat), so the same object can
serve many concurrent games and every match is reproducible from its seed. The protocol lives
here, in the leaf layer, so that the match loop needs nothing from ``agents``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from games.observation import Observation


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
        prior: the policy a search started from (a search agent's LLM prior over the legal
            actions, before any exploration noise), else None. With ``policy`` (the
            search's visit counts) it lets a dataset contrast the search's move with the
            policy's own choice (MCTS-DPO, Xie et al. 2024).
    """

    action: int | None
    policy: dict[int, float] | None = None
    text: str | None = None
    illegal: int = 0
    unparseable: int = 0
    version: str | None = None
    prior: dict[int, float] | None = None


@runtime_checkable
class Agent(Protocol):
    """One player. ``spec`` is the string that builds it again (see ``agents.make_agent``)."""

    spec: str

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision: ...

    def act_batch(
        self, observations: list[Observation], rngs: list[np.random.Generator]
    ) -> list[Decision]: ...
