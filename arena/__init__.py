"""The arena, the top layer: Ray execution (cluster, workers, driver, exactly-once shards)
behind the runner interface (``arena.runner.RayRunner``), the Ray runs (self-play,
tournaments, gates) and the ``arena`` CLI.

Ray is imported here and nowhere below (``games`` holds the match loop, which a Ray worker
calls like any other caller). See ARCHITECTURE.md for the layers.
"""

from agents.spec import set_adapter_resolver
from arena.registry import resolve_for_agents

# agents/ sits below arena/ and may not import it: the registry injects itself instead.
set_adapter_resolver(resolve_for_agents)
