"""``arena serve``: the web application (play, leaderboard, version pages, JSON API).

``create_app(ServerConfig(workspace=...))`` in ``arena.serve.app`` builds it; see that module.
"""
