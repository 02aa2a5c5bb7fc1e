"""``arena serve``: the web application (FastAPI) for play, the leaderboard and the JSON API.

``create_app(ServerConfig(...))`` builds the app; ``arena serve`` runs it with uvicorn on
127.0.0.1 by default. A background thread follows the registry: every ``poll_s`` seconds it
reads the champion of each game and, when it changed (a promotion or a rollback), loads the new
adapter into the running engine; games in progress keep the version they started with.

What it protects (README, "What the server protects"): games per client address and in total
(``sessions``), request body size, a damaged registry (503 until it reads again, no restart),
a missing or refused adapter (only that version is hidden), responses without absolute paths,
commits or hardware, and no request leaving the machine (``public``). There is no login and no
TLS: keep it on loopback or behind a proxy that adds them.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from arena.play.human import GameOver, NotYourTurn
from arena.registry.view import RegistryUnavailable, RegistryView, dev_scores
from arena.reporting import plots
from arena.reporting.curves import curve, curve_figures, devset_positions, night_points, night_rows
from arena.reporting.leaderboard import Leaderboard, build_leaderboard
from arena.serve.batcher import DecisionBatcher
from arena.serve.config import ServerConfig
from arena.serve.opponents import AgentPool, NotFound
from arena.serve.public import add_docs, scrub, scrub_text
from arena.serve.sessions import AgentTimeout, Busy, Full, GameStore
from games import InputError, load_game
from games.workspace import check_name

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent


def pick_base(config: ServerConfig, registry: RegistryView) -> str | None:
    if config.base:
        return config.base
    known = [b for g in config.games for b in registry.bases(g)]
    if known:
        return max(set(known), key=known.count)
    for name in ("small", "tiny"):
        if (config.workspace.base(name) / "config.json").is_file():
            return name
    return None


class ArenaApp:
    """The server's state: the registry view, agents, games in progress, cached boards."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.workspace = config.workspace
        self.games = tuple(load_game(g).spec for g in config.games)
        self.registry = RegistryView(self.workspace)
        self.base = pick_base(config, self.registry)
        self.pool = AgentPool(
            self.workspace, self.registry, self.base, config.device, config.temperature
        )
        self.batcher = DecisionBatcher()
        self.store = GameStore(
            self.pool,
            self.batcher,
            self.workspace.matches("human"),
            max_games=config.max_games,
            ttl_s=config.idle_timeout_s,
            max_per_client=config.max_games_per_client,
            evict_idle_s=config.evict_idle_s,
        )
        self._boards: dict[str, tuple[float, object]] = {}  # boards and curves
        self._boards_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def check_game(self, game: str) -> str:
        if game not in self.games:
            raise NotFound(
                f"unknown game '{game[:64]}'; this server offers {', '.join(self.games)}"
            )
        return game

    def leaderboard(self, game: str) -> Leaderboard:
        with self._boards_lock:
            hit = self._boards.get(game)
            if hit and time.monotonic() - hit[0] < self.config.leaderboard_ttl_s:
                return hit[1]
            board = build_leaderboard(self.workspace, game, self.registry)
            self._boards[game] = (time.monotonic(), board)
            return board

    def learning_curve(self, game: str) -> tuple[list[str], list[list[str]]]:
        """The champion's curve across nights (``arena.reporting.curves``): one inline SVG per
        metric and the per-night table (header row first); empty before the first evaluated
        night. Cached with the boards (``leaderboard_ttl_s``): drawing costs ~0.1 s a plot."""
        key = f"curve:{game}"
        with self._boards_lock:
            hit = self._boards.get(key)
            if hit and time.monotonic() - hit[0] < self.config.leaderboard_ttl_s:
                return hit[1]
            points = night_points(self.registry.nights_with_stages(), game)
            svgs, rows = [], []
            if points:
                positions = devset_positions(game)
                figures = curve_figures(curve(points, positions), f"{game} champion")
                svgs = [plots.to_svg(fig) for _, fig in figures]
                rows = night_rows(points, positions)
            self._boards[key] = (time.monotonic(), (svgs, rows))
            return svgs, rows

    def version_info(self, game: str, version: str) -> dict:
        self.check_game(game)
        check_name("version", version)
        infos = [i for i in self.registry.versions(game) if i.version == version]
        if not infos:
            raise NotFound(f"no version '{version}' of {game} in the registry")
        out = []
        scores = dev_scores(self.registry, game, version)
        for info in infos:
            out.append(
                {
                    "game": info.game,
                    "base": info.base,
                    "version": info.version,
                    "status": info.status,
                    "parent": info.parent,
                    "created_at": info.created_at,
                    "night": info.night,
                    "run_id": info.run_id,
                    "folder": str(info.path) if info.path else None,  # made relative by scrub
                    "manifest": {k: v for k, v in info.manifest.items() if k != "versions"},
                    "dev_scores": scores,
                }
            )
        return scrub({"game": game, "version": version, "bases": out}, self.workspace.root)

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.config.threads and self.base is not None:
            import torch

            torch.set_num_threads(self.config.threads)
        if self.config.poll_s > 0:
            self._poller = threading.Thread(target=self._poll, name="registry-poll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.config.poll_s):
            try:
                self.store.expire()
                self.pool.refresh(list(self.games))
            except RegistryUnavailable:
                pass  # logged once by the view; read again at the next poll
            except Exception:  # keep following the registry whatever one poll met
                logger.exception("registry poll failed")

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        self.batcher.close()
        self.store.close()
        self.pool.close()


def _error(status: int, message: str, root: Path | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message if root is None else scrub_text(message, root)}, status_code=status
    )


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = _error(413, f"request body larger than {self.limit} bytes")
        try:
            if declared is not None and int(declared) > self.limit:
                return await too_big(scope, receive, send)
        except ValueError:
            return await _error(400, "bad Content-Length header")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooBig
            return message

        try:
            return await self.app(scope, limited, send)
        except _TooBig:
            return await too_big(scope, receive, send)


class _TooBig(Exception):
    pass


def create_app(config: ServerConfig) -> FastAPI:
    """The FastAPI app; its state lives in ``app.state.arena`` (an ``ArenaApp``)."""
    from arena.registry import resolve
    from arena.serve import api, pages

    resolve.install()
    state = ArenaApp(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread

        # sync endpoints run in a thread pool; LLM moves wait there for the batcher
        anyio.to_thread.current_default_thread_limiter().total_tokens = 256
        state.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="arena",
        version="1",
        description="Play against the arena's agents, read the leaderboard, follow the champion.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: see add_docs
        redoc_url=None,
    )
    add_docs(app)
    root = config.workspace.root
    app.state.arena = state
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound):
        return _error(404, str(error), root)

    @app.exception_handler(NotYourTurn)
    async def out_of_turn(request: Request, error: NotYourTurn):
        return _error(409, str(error), root)

    @app.exception_handler(GameOver)
    async def game_over(request: Request, error: GameOver):
        return _error(409, str(error), root)

    @app.exception_handler(Busy)
    async def busy(request: Request, error: Busy):
        return _error(409, str(error), root)

    @app.exception_handler(Full)
    async def full(request: Request, error: Full):
        return _error(429, str(error), root)

    @app.exception_handler(AgentTimeout)
    async def slow_agent(request: Request, error: AgentTimeout):
        return _error(503, str(error), root)

    @app.exception_handler(RegistryUnavailable)
    async def registry_unavailable(request: Request, error: RegistryUnavailable):
        return _error(503, str(error), root)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, error: InputError):
        status = 422 if request.url.path.endswith("/moves") else 400
        return _error(status, str(error), root)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        parts = []
        for item in error.errors()[:3]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            if item.get("type") == "json_invalid":
                parts.append(f"malformed JSON: {item.get('ctx', {}).get('error', 'invalid')}")
                continue
            parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        return _error(error.status_code, str(error.detail))

    app.add_middleware(BodyLimit, limit=config.max_body)

    def openapi() -> dict:
        """The OpenAPI document with today's choices: the games offered and opponent names
        as enums (rebuilt per request, so a new registry version appears at once)."""
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        names = sorted({o.name for g in state.games for o in state.pool.opponents(g)})
        body = doc["components"]["schemas"]["NewMatch"]["properties"]
        body["game"]["enum"] = list(state.games)
        body["opponent"]["enum"] = names
        for item in doc["paths"].values():
            for operation in item.values():
                for param in operation.get("parameters", []):
                    if param["name"] == "game":
                        param["schema"]["enum"] = list(state.games)
        return doc

    app.openapi = openapi
    return app
