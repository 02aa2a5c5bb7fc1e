"""The Ray runs: self-play against a league, tournaments (round robin, gauntlet) and the
promotion gate (SPRT). Each is a config dataclass plus one ``run_*`` function over
``arena.execution``."""
