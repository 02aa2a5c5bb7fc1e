"""The nightly cycle: ``config`` (nightly.toml), ``pipeline`` (one night: lock, stages in
order, resume, outcome), ``stages`` (self-play, datasets, training, eval, gate, decide),
``checks`` (regression check, exploitability gate, rating tournament), ``report``."""
