"""Agents: one protocol (``Agent``) for scripted opponents and LLM players; spec strings.

Scripted agents import neither Ray nor torch; ``agents.llm`` (LLM players) imports torch
lazily, only when an ``llm:`` spec is built.
"""

from agents.base import Agent, Decision, ScriptedAgent, sample_from_policy
from agents.factory import make_agent
from agents.spec import AgentSpec, is_deterministic, parse_spec, with_temperature

__all__ = [
    "Agent",
    "AgentSpec",
    "Decision",
    "ScriptedAgent",
    "is_deterministic",
    "make_agent",
    "parse_spec",
    "sample_from_policy",
    "with_temperature",
]
