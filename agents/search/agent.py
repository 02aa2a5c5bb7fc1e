"""The search agent: PUCT over an LLM agent's policy (``search:llm:BASE@ADAPTER,sims=64``).

Expert Iteration (Anthony et al. 2017) and AlphaZero (Silver et al. 2017, 2018): the policy
plus a tree search plays better than the policy alone, so the search's choices are training
targets for the next policy. The decision's ``policy`` is the root's visit-count distribution
(the SFT target a night distils) and its ``prior`` the LLM's own policy at the root, so a
dataset builder can pair the search's best move against the policy's choice where they
differ (MCTS-DPO, Xie et al. 2024).

The prior is the LLM agent's own score-mode policy (``LLMAgent.requests`` scored by its
engine, then ``policy_from_scores``): the LLM is built by ``agents.llm.make_llm_agent`` from
the inner ``llm:`` spec, so bases, adapter folders and registry versions (``@champion``)
resolve exactly as for ``llm:``. A followed reference is re-read once per ``act_batch``; a
role swapped in the middle of a search lands at its next simulation step, and the decision
carries the version that served at the root.
"""

from __future__ import annotations

import pyspiel

from agents.base import Decision
from agents.llm.agent import LLMAgent, make_llm_agent, policy_from_scores
from agents.search.options import SearchOptions, parse_search
from agents.search.tree import search_many
from games import GameHandle, InputError, Observation, observe


def check_search_game(handle: GameHandle) -> None:
    """Refuse games the search cannot play honestly: it reads the full state (hidden cards
    would leak) and its tree has no chance nodes."""
    gtype = handle.game.get_type()
    if not handle.perfect_information:
        raise InputError(
            f"search: needs a perfect-information game; {handle.spec} has hidden information "
            "(its tree would see the opponent's cards)"
        )
    if gtype.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC:
        raise InputError(f"search: needs a game without chance nodes; {handle.spec} has them")


class SearchAgent:
    """PUCT search with an LLM prior; holds no per-match state (trees live for one call).

    Attributes:
        spec: the spec string that builds it again (options included: records carry it).
        llm: the LLM agent whose policy is the prior.
        options: how it searches and chooses.
    """

    def __init__(self, spec: str, handle: GameHandle, llm: LLMAgent, options: SearchOptions):
        check_search_game(handle)
        if llm.options.mode != "score":
            raise InputError(f"'{spec}': the prior needs the LLM's score mode, not generate")
        self.spec, self.handle, self.llm, self.options = spec, handle, llm, options

    @property
    def engine(self):
        """The LLM's engine (workers count loaded engines through this)."""
        return self.llm.engine

    @property
    def version(self) -> str | None:
        return self.llm.version

    def prior(self, states: list[pyspiel.State]):
        """The LLM policy of every state in one engine call (batched forward passes)."""
        observations = [observe(self.handle, state) for state in states]
        results = self.llm.score(observations, refresh=False)
        opts = self.llm.options
        return [
            policy_from_scores(r.logliks, r.tokens, opts.temperature, opts.norm) for r in results
        ]

    def act(self, obs: Observation, rng) -> Decision:
        return self.act_batch([obs], [rng])[0]

    def act_batch(self, observations: list[Observation], rngs: list) -> list[Decision]:
        """Search all ``observations`` in lockstep: one engine call per simulation step."""
        self.llm.refresh()
        version = self.llm.version
        results = search_many([o.state for o in observations], rngs, self.prior, self.options)
        decisions = []
        for obs, res in zip(observations, results, strict=True):
            if res.actions != tuple(obs.actions):
                raise AssertionError("search and observation disagree on the legal actions")
            sims = float(res.visits.sum())
            decisions.append(
                Decision(
                    action=res.action,
                    policy={
                        a: float(n) / sims for a, n in zip(res.actions, res.visits, strict=True)
                    },
                    version=version,
                    prior={a: float(p) for a, p in zip(res.actions, res.prior, strict=True)},
                )
            )
        return decisions

    def close(self) -> None:
        self.llm.close()


def make_search_agent(parsed, handle: GameHandle, **options) -> SearchAgent:
    """Build a ``SearchAgent`` from a parsed ``search:`` spec (called by ``agents.make_agent``).

    The game is checked before the LLM loads; ``options`` (workspace, device, engine) go to
    the LLM agent, whose spec options (prior temperature, norm, ...) override them.
    """
    from agents.spec import parse_spec

    check_search_game(handle)
    search = parse_search(parsed.arg, parsed.raw)
    llm = make_llm_agent(parse_spec(search.llm), handle, **options)
    return SearchAgent(parsed.raw, handle, llm, search.options)
