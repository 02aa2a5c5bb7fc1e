"""The SQLite registry: adapter versions, the champion per (game, base), gate decisions,
promotions and rollbacks, nights and their stages, rating snapshots.

``store`` holds ``Registry`` (the file with its operations), ``db`` the file itself (opening,
transactions, typed reads), ``queries`` the reads, ``lifecycle`` versions and the champion,
``nights`` the night bookkeeping, ``schema`` the migrations, ``rows`` the typed rows, ``layout``
the adapter folders, ``view`` the read-only queries of the server and the leaderboard,
``resolve`` the ``@v3`` / ``@champion`` resolver of agent specs, ``rebuild`` ``arena registry
rebuild``."""
