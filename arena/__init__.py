"""The arena, the top layer: Ray execution (``execution``), the Ray runs (``runs``: self-play,
tournaments, gates), the registry (``registry``), the nightly cycle (``nightly``), people playing
(``play``, ``serve``), what people read (``reporting``) and the ``arena`` CLI (``cli``).

Ray is imported here and nowhere below (``games`` holds the match loop, which a Ray worker
calls like any other caller). Importing ``arena`` has no side effects: processes that resolve
registry versions (``llm:BASE@champion``) call ``arena.registry.resolve.install()``. See
ARCHITECTURE.md for the layers.
"""
