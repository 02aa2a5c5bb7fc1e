"""Helpers for agents that implement the player protocol (``games.player``: ``Agent``,
``Decision``), re-exported here because every agent module uses them."""

from __future__ import annotations

import numpy as np

from games import Observation
from games.player import Agent, Decision

__all__ = ["Agent", "Decision", "ScriptedAgent", "sample_from_policy"]


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
