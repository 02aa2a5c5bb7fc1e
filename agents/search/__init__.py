"""Search agents: PUCT tree search with an LLM agent's policy as the prior.

``search:llm:BASE[@ADAPTER][,sims=64,c_puct=2,rollouts=1,temperature=0,dirichlet=0,...]``
(options: ``agents.search.options``). The tree (``agents.search.tree``) is plain Python over
OpenSpiel states and a batched prior; the agent (``agents.search.agent``) plugs the LLM in.
Importing this package loads neither torch nor a model.
"""

from agents.search.agent import SearchAgent, check_search_game, make_search_agent
from agents.search.options import SearchOptions, SearchSpec, parse_search
from agents.search.tree import Node, SearchResult, search_many

__all__ = [
    "Node",
    "SearchAgent",
    "SearchOptions",
    "SearchResult",
    "SearchSpec",
    "check_search_game",
    "make_search_agent",
    "parse_search",
    "search_many",
]
