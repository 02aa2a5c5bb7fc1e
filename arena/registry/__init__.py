"""The SQLite registry: adapter versions, the champion per (game, base), gate decisions,
promotions and rollbacks, nights and their stages, rating snapshots.

``store`` holds the ``Registry`` (writes and queries), ``schema`` the migrations, ``rows`` the
typed rows, ``nights`` the night bookkeeping, ``view`` the read-only queries of the server and
the leaderboard, ``resolve`` the ``@v3`` / ``@champion`` resolver of agent specs."""
