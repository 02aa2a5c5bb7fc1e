"""The arena: the match loop, match records, Ray runs (self-play, tournaments, gates), the
adapter registry, the nightly cycle, the CLI and the HTTP server.

Ray is imported only by the modules that run on it, never by the match loop.
"""
