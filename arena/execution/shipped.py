"""A worker's side of ship mode: LLM seats built from the node's artifact cache.

The job's spec stays what the records carry (``llm:small@v3,temperature=0``); only the agent
behind it is built from local copies: the base from the cache (or the hub id, loaded by the
node itself), a folder adapter rewritten to its cached copy (same folder name, so the same
version label), and a registry reference answered from the table the driver resolved
(``SeatArtifacts``), which this module installs as the process's adapter resolver in front of
the registry's. A ``search:`` seat gets the same for the LLM of its prior. ``agents/`` never
learns about any of it: it gets an engine and a spec.
"""

from __future__ import annotations

from pathlib import Path

from agents.spec import ResolvedAdapter, set_adapter_resolver
from arena.execution.artifacts import SeatArtifacts, ShipContext
from games import InputError, load_game

# (base as written in the spec, registry ref, game spec) -> what the driver resolved
_TABLE: dict[tuple[str, str, str], ResolvedAdapter] = {}


def _resolve(base: str, ref: str, game: str, workspace=None) -> ResolvedAdapter:
    hit = _TABLE.get((base, ref, game))
    if hit is not None:
        return hit
    if workspace is None:
        raise InputError(
            f"llm:{base}@{ref} ({game}) was not resolved by the driver and this worker has no "
            "workspace (ship mode)"
        )
    from arena.registry.resolve import resolve_for_agents

    return resolve_for_agents(base, ref, game, workspace)


def install() -> None:
    """Shipped registry references first, the workspace's registry second (shared mode)."""
    set_adapter_resolver(_resolve)


def build_agent(context: ShipContext, game: str, spec: str, device: str | None):
    """The agent for ``spec`` on ``game`` from this node's cache (see the module docstring)."""
    from agents import make_agent, parse_spec
    from agents.llm import LLMOptions, get_engine
    from arena.execution.cache import node_cache

    handle = load_game(game)
    seat: SeatArtifacts = context.seats[(game, spec)]
    cache = node_cache()
    parsed = parse_spec(spec)
    llm = parsed.inner if parsed.kind == "search" else parsed  # a search's prior is an LLM
    base = str(cache.fetch(seat.base, context.server)) if seat.base is not None else seat.hub
    options = LLMOptions.parse(llm.options)
    engine = get_engine(base, None, device, options.quantize, options.dtype)
    adapter: Path | None = None
    if seat.adapter is not None:
        adapter = cache.fetch(seat.adapter, context.server)
    if seat.ref is not None:
        _TABLE[(llm.base, seat.ref, handle.spec)] = ResolvedAdapter(adapter, seat.version)
    elif adapter is not None:  # the same spec, with the adapter's folder as found here
        spec = spec.replace(f"@{llm.adapter}", f"@{adapter}", 1)
    return make_agent(spec, handle, engine=engine, device=device)
