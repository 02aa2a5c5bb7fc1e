"""Ray execution: the cluster connection, worker actors, the exactly-once driver and its JSONL
shards, behind the runner interface (``runner.RayRunner``); ``session`` is what every Ray run
shares (execution options, run folders, manifests)."""
