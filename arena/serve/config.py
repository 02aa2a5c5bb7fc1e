"""``ServerConfig``: how ``arena serve`` runs (its own module, so that building the ``arena``
command line does not import FastAPI)."""

from __future__ import annotations

from dataclasses import dataclass

from games import CURATED_GAMES
from games.configs import option
from games.limits import check_float, check_int, check_optional_int, check_text
from games.workspace import Workspace


@dataclass(frozen=True)
class ServerConfig:
    """How the server runs (``arena serve`` derives its flags from these fields)."""

    workspace: Workspace = option(help="the arena workspace (adapters, registry, match logs)")
    base: str | None = option(
        None,
        "LLM base for LLM opponents, a workspace base name or a folder (default: the "
        "registry's, else small or tiny from the workspace, else no LLM)",
    )
    games: tuple[str, ...] = option(CURATED_GAMES, "the games offered", metavar="GAME")
    device: str | None = option(None, "LLM device: cpu or cuda (default: auto)")
    temperature: float = option(1.0, "LLM sampling temperature (0: argmax)")
    poll_s: float = option(
        2.0, "seconds between registry checks (0: never; tests call refresh)", flag="--poll"
    )
    max_games: int = option(512, "games in progress at most")
    max_games_per_client: int = option(16, "games in progress per client address at most")
    idle_timeout_s: float = option(
        1800.0, "seconds without a move after which a game is dropped (reads do not count)",
        flag="--idle-timeout",
    )  # fmt: skip
    evict_idle_s: float = option(
        120.0, "a new game at a cap may evict the oldest game idle at least this many seconds"
    )
    max_body: int = option(16 * 1024, "the largest request body accepted, in bytes")
    leaderboard_ttl_s: float = option(10.0, "seconds a computed leaderboard is reused")
    threads: int | None = option(None, "torch CPU threads for the LLM engine (default: all)")
    host: str = option("127.0.0.1", "address to bind (another than loopback: reachable, no login)")
    port: int = option(8000, "port to listen on")

    def __post_init__(self) -> None:
        # named by their flags: `arena serve` is the one door to this config
        check_float("--temperature", self.temperature, 0, 100)
        check_float("--poll", self.poll_s, 0, 86_400)
        check_int("--max-games", self.max_games, 1, 1_000_000)
        check_int("--max-games-per-client", self.max_games_per_client, 1, 1_000_000)
        check_float("--idle-timeout", self.idle_timeout_s, 0.001, 10 * 86_400)
        check_float("--evict-idle-s", self.evict_idle_s, 0, 10 * 86_400)
        check_int("--max-body", self.max_body, 1, 1 << 30)
        check_float("--leaderboard-ttl-s", self.leaderboard_ttl_s, 0, 86_400)
        check_optional_int("--threads", self.threads, 1, 1024)
        check_text("--host", self.host, max_len=255)
        check_int("--port", self.port, 1, 65_535)
