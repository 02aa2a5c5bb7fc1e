"""``make_agent``: the agent a spec string names, built for one game.

Parsing (``agents.spec``) knows every kind of agent without importing any of them; this module
sits above the agents themselves and builds them, importing each kind only when it is asked for
(LLM and search agents load torch).
"""

from __future__ import annotations

from agents.spec import DEFAULT_MCTS_SIMULATIONS, parse_spec
from games import GameHandle, InputError


def make_agent(spec: str, handle: GameHandle, **options):
    """Build the agent named by ``spec`` for ``handle``'s game.

    ``options`` go to LLM agents (workspace, device, engine); scripted agents ignore them.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "random":
        from agents.scripted import RandomAgent

        return RandomAgent(parsed.raw)
    if parsed.kind == "mcts":
        from agents.scripted import MCTSAgent

        sims = int(parsed.arg) if parsed.arg else DEFAULT_MCTS_SIMULATIONS
        return MCTSAgent(handle, sims, spec=parsed.raw)
    if parsed.kind == "solver":
        if handle.perfect_information:
            from agents.solver import SolverAgent

            return SolverAgent(handle, spec=parsed.raw)
        from agents.cfr import CFRAgent

        return CFRAgent(handle, spec=parsed.raw)
    if parsed.kind == "llm":
        try:
            from agents.llm import make_llm_agent
        except ImportError as error:
            raise InputError(f"LLM agents are unavailable: {error}") from None
        return make_llm_agent(parsed, handle, **options)
    if parsed.kind == "search":
        try:
            from agents.search import make_search_agent
        except ImportError as error:
            raise InputError(f"search agents are unavailable: {error}") from None
        return make_search_agent(parsed, handle, **options)
    if parsed.kind == "human":
        raise InputError("'human' plays through `arena play` or `arena serve`, not in batch runs")
    raise AssertionError(parsed.kind)


def scripted_refusal(spec: str, handle: GameHandle) -> str | None:
    """Why scripted agent ``spec`` cannot play ``handle``'s game within its per-move budget
    (or at all), None when it can; what a server checks before offering it. The solver's
    verdict is cached per game (see ``agents.solver.solver_refusal``)."""
    kind = parse_spec(spec).kind
    if kind == "mcts" and not handle.perfect_information:
        return f"mcts reads the whole state; it cannot play {handle.spec} fairly"
    if kind == "solver":
        if handle.perfect_information:
            from agents.solver import solver_refusal

            return solver_refusal(handle.spec)
        from agents.cfr import CFR_GAMES

        if handle.name not in CFR_GAMES:
            return f"the CFR policy exists for {', '.join(CFR_GAMES)}, not {handle.spec}"
    return None
