"""The JSON API (``/api/...``), described by the app's OpenAPI document at ``/openapi.json``.

Errors are ``{"error": "<one line>"}`` with a 4xx status: 400 bad input, 404 unknown game,
opponent, version or game id, 409 a move out of turn, in a finished game or while another move
of the same game is being processed, 413 an oversized request, 422 a malformed body or an
illegal move, 429 too many games in progress (in all, or from the client's address), 503 the
registry cannot be read right now (retry).
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from arena.serve.boards import board_data
from arena.serve.models import MoveIn, NewMatch
from arena.serve.public import scrub
from arena.serve.sessions import WebGame

router = APIRouter(prefix="/api")
GAME_ID = Path(pattern=r"^[0-9a-f]{32}$", description="a game id from POST /api/matches")
SEAT = {"first": 0, "second": 1}


class Opponent(BaseModel):
    name: str
    spec: str
    kind: str
    version: str | None
    description: str


class PolicyItem(BaseModel):
    text: str
    probability: float


class AgentMove(BaseModel):
    ply: int
    text: str
    version: str | None
    policy: list[PolicyItem] | None


class HistoryItem(BaseModel):
    ply: int
    player: int
    by: str
    text: str


class LegalMove(BaseModel):
    action: int
    text: str  # the label: what POST .../moves takes


class MatchState(BaseModel):
    id: str
    game: str
    opponent: str
    opponent_spec: str
    opponent_version: str | None
    human_seat: int
    to_move: int | None
    your_turn: bool
    done: bool
    outcome: str | None
    returns: list[float] | None
    lines: list[str]
    reveal: list[str]
    board: dict
    legal: list[LegalMove]
    agent_moves: list[AgentMove]
    history: list[HistoryItem]
    saved: bool


def match_state(web: WebGame) -> MatchState:
    game = web.game
    legal = []
    if not game.done and not game.agent_to_move:
        obs = game.observation()
        legal = [LegalMove(action=a, text=t) for a, t in zip(obs.actions, obs.texts, strict=True)]
    agent_moves = [
        AgentMove(
            ply=m.ply,
            text=m.text or "",
            version=m.version,
            policy=None
            if m.policy is None
            else [
                PolicyItem(text=t, probability=round(p, 4))
                for t, p in sorted(zip(m.legal_texts, m.policy, strict=True), key=lambda x: -x[1])
            ],
        )
        for m in web.agent_moves
    ]
    return MatchState(
        id=web.id,
        game=game.handle.spec,
        opponent=web.opponent,
        opponent_spec=web.lease.spec,
        opponent_version=web.lease.version,
        human_seat=game.human_seat,
        to_move=game.to_move,
        your_turn=game.to_move == game.human_seat,
        done=game.done,
        outcome=game.outcome(),
        returns=game.returns(),
        lines=game.describe(),
        reveal=game.reveal(),
        board=board_data(game),
        legal=legal,
        agent_moves=agent_moves,
        history=[
            HistoryItem(
                ply=m.ply,
                player=m.player,
                by="you" if m.player == game.human_seat else web.opponent,
                text=m.text or "",
            )
            for m in game.moves
        ],
        saved=web.saved_to is not None,
    )


@router.get("/health")
def health(request: Request) -> dict:
    """Liveness, games in progress, the champion served per game."""
    app = request.app.state.arena
    return {
        "status": "ok",
        "games_in_progress": len(app.store),
        "saved_games": app.store.saved,
        "champions": {g: app.pool.champion_version(g) for g in app.games},
        "champion_swaps": app.pool.swaps,
    }


@router.get("/games")
def games(request: Request) -> list[str]:
    """The games this server offers."""
    return list(request.app.state.arena.games)


@router.get("/opponents")
def opponents(request: Request, game: str) -> list[Opponent]:
    """The opponents for ``game``: scripted agents, the bare base, the champion, versions."""
    app = request.app.state.arena
    app.check_game(game)
    return [Opponent(**o.__dict__) for o in app.pool.opponents(game)]


@router.post("/matches", status_code=201)
def new_match(request: Request, body: NewMatch) -> MatchState:
    """Start a game against an opponent; if the opponent moves first, it already has."""
    app = request.app.state.arena
    app.check_game(body.game)
    client = request.client.host if request.client else ""  # the limits are per address
    web = app.store.new(body.game, body.opponent, SEAT[body.seat], body.seed, client=client)
    return match_state(web)


@router.get("/matches/{game_id}")
def get_match(request: Request, game_id: str = GAME_ID) -> MatchState:
    """The game as the person sees it (the agent's pending reply, if any, made first)."""
    return match_state(request.app.state.arena.store.view(game_id))


@router.post("/matches/{game_id}/moves")
def play_move(request: Request, body: MoveIn, game_id: str = GAME_ID) -> MatchState:
    """Play the person's move; the agent answers in the same request (its policy included).
    A finished game is saved as a match record (seat spec ``human``)."""
    return match_state(request.app.state.arena.store.move(game_id, body.move))


@router.get("/leaderboard/{game}")
def leaderboard(request: Request, game: str) -> dict:
    """Ratings with intervals and ranks, head-to-head counts, history, gate events."""
    app = request.app.state.arena
    app.check_game(game)
    return scrub(app.leaderboard(game).to_dict(), app.workspace.root)


@router.get("/versions/{game}/{version}")
def version(request: Request, game: str, version: str) -> dict:
    """One adapter version: registry row, manifest, dev-set scores."""
    app = request.app.state.arena
    return app.version_info(game, version)
