"""The arena: the match loop, match records, Ray runs (self-play, tournaments, gates), the
adapter registry, the nightly cycle, the CLI and the HTTP server.

Ray is imported only by the modules that run on it, never by the match loop.
"""

from agents.spec import set_adapter_resolver
from arena.registry import resolve_for_agents

# agents/ sits below arena/ and may not import it: the registry injects itself instead.
set_adapter_resolver(resolve_for_agents)
