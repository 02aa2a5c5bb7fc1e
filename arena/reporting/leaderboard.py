"""The leaderboard of a game: Bradley-Terry ratings from every match log in the workspace.

Sources:
- ratings and the head-to-head matrix: every match record of the game under
  ``<workspace>/matches/`` (tournaments, gates, self-play, ``arena match`` runs written there),
  aggregated per pair of players into (wins, draws, losses) and fitted by ``ratings.bradley_terry``
  (Elo scale, bootstrap 95% intervals, ranks that respect the intervals, as FastChat's
  leaderboard). Human games (seat spec ``human``) are left out: "human" is many people, not one
  player. A player is its spec with the adapter named by its registry version, so
  ``llm:tiny@champion`` games count for the version that actually played (``llm:tiny@v3``).
- rating history: the registry's nightly snapshots (``arena nightly``), else the Bradley-Terry
  tables of past tournament runs (``runs/*/summary.json``), oldest first.
- gate timeline: the registry's promotions, rejections and rollbacks.

Files that cannot be read are listed in ``sources["unreadable"]``, never silently skipped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from arena.registry.view import GateEvent, RatingPoint, RegistryView
from arena.reporting.tables import rating_interval
from games import InputError
from games.records import SeatRecord, read_matches
from games.workspace import Workspace
from ratings import BOOTSTRAP_ROUNDS

logger = logging.getLogger(__name__)
FORMATS = ("table", "json", "csv")


def player_label(seat: SeatRecord) -> str:
    """``llm:BASE@VERSION`` for an LLM seat that recorded its adapter version, else the spec."""
    spec, version = seat.spec, seat.version
    if not version or not spec.startswith("llm:"):
        return spec
    target, _, options = spec[4:].partition(",")
    base = target.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return f"llm:{base}@{version}" + (f",{options}" if options else "")


@dataclass
class Leaderboard:
    """Everything the leaderboard page and ``arena leaderboard`` show for one game."""

    game: str
    ratings: list[dict] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    history: list[RatingPoint] = field(default_factory=list)
    history_source: str = "none"
    events: list[GateEvent] = field(default_factory=list)
    sources: dict = field(default_factory=dict)
    note: str = ""

    @property
    def players(self) -> list[str]:
        return [r["player"] for r in self.ratings]

    def matrix(self) -> tuple[list[str], list[list[float | None]], list[list[int]]]:
        """Players (by rating), score of row vs column (None: never met), games."""
        players = self.players
        index = {p: i for i, p in enumerate(players)}
        n = len(players)
        score: list[list[float | None]] = [[None] * n for _ in range(n)]
        games = [[0] * n for _ in range(n)]
        for pair in self.pairs:
            a, b = index.get(pair["a"]), index.get(pair["b"])
            if a is None or b is None:
                continue
            total = pair["wins"] + pair["draws"] + pair["losses"]
            games[a][b] = games[b][a] = total
            score[a][b] = (pair["wins"] + pair["draws"] / 2) / total
            score[b][a] = 1 - score[a][b]
        return players, score, games

    def to_dict(self) -> dict:
        return {
            "game": self.game,
            "ratings": self.ratings,
            "pairs": self.pairs,
            "history": [asdict(p) for p in self.history],
            "history_source": self.history_source,
            "events": [{**asdict(e), "numbers": e.numbers} for e in self.events],
            "sources": self.sources,
            "note": self.note,
        }

    def format(self, fmt: str) -> str:
        """The ratings as ``table``, ``json`` (everything) or ``csv``."""
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2)
        columns = ["rank", "player", "rating", "ci_low", "ci_high", "games", "score"]
        rows = [[r[c] for c in columns] for r in self.ratings]
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(
                [[f"{v:.2f}" if isinstance(v, float) else v for v in row] for row in rows]
            )
            return buffer.getvalue()
        if fmt != "table":
            raise InputError(f"unknown format '{fmt}'; use {', '.join(FORMATS)}")
        from arena.reporting.tables import ratings_table

        if not rows:
            return f"no rated games of {self.game} yet ({self.note or 'no match logs'})"
        table = ratings_table(self.ratings)
        return f"{self.game}: Bradley-Terry ratings (Elo scale, bootstrap 95% CI)\n{table}"


class ResultCache:
    """Per-file (wins, draws, losses) by player pair, re-read only when a file changes."""

    def __init__(self):
        self._files: dict[Path, tuple[tuple, dict]] = {}
        self._lock = threading.Lock()

    def counts(self, path: Path) -> dict:
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            hit = self._files.get(path)
            if hit and hit[0] == key:
                return hit[1]
        counts: dict = {}
        for record in read_matches(path):
            if any(seat.spec == "human" for seat in record.seats):
                continue
            a, b = (player_label(s) for s in record.seats)
            if a == b:
                continue
            bucket = counts.setdefault(record.game, {}).setdefault((a, b), [0, 0, 0])
            bucket[{1.0: 0, 0.5: 1, 0.0: 2}[record.score(0)]] += 1
        with self._lock:
            self._files[path] = (key, counts)
        return counts


_CACHE = ResultCache()


def collect(workspace: Workspace, game: str, cache: ResultCache = _CACHE) -> tuple[dict, dict]:
    """(wins, draws, losses) per unordered player pair for ``game``, and the sources read."""
    root = workspace.root / "matches"
    files = sorted(root.glob("*/*.jsonl")) if root.is_dir() else []
    totals: dict[tuple[str, str], list[int]] = {}
    unreadable, used = [], 0
    for path in files:
        try:
            counts = cache.counts(path).get(game, {})
        except (InputError, OSError, UnicodeDecodeError) as error:
            unreadable.append(f"{path.relative_to(workspace.root)}: {str(error)[:120]}")
            continue
        used += bool(counts)
        for (a, b), (w, d, lost) in counts.items():
            if a > b:
                a, b, w, lost = b, a, lost, w
            bucket = totals.setdefault((a, b), [0, 0, 0])
            bucket[0] += w
            bucket[1] += d
            bucket[2] += lost
    games = sum(sum(v) for v in totals.values())
    return totals, {"files": used, "games": games, "unreadable": unreadable}


def tournament_history(workspace: Workspace, game: str) -> list[RatingPoint]:
    """Rating points from the Bradley-Terry tables of past tournament runs, oldest first."""
    runs = workspace.root / "runs"
    summaries = sorted(runs.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    points = []
    for path in summaries:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        board = data.get("leaderboard") if isinstance(data, dict) else None
        if data.get("config", {}).get("game") != game or not isinstance(board, dict):
            continue
        for row in board.get("ratings", []):
            low, high = rating_interval(row)
            points.append(
                RatingPoint(
                    night=path.parent.name,
                    player=str(row["player"]),
                    rating=float(row["rating"]),
                    ci_low=low,
                    ci_high=high,
                    games=int(row.get("games", 0)),
                )
            )
    return points


def build_leaderboard(
    workspace: Workspace,
    game: str,
    registry: RegistryView | None = None,
    bootstrap: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> Leaderboard:
    """The leaderboard of ``game`` from the workspace's match logs and registry."""
    from ratings import bradley_terry

    registry = registry or RegistryView(workspace)
    totals, sources = collect(workspace, game)
    board = Leaderboard(game=game, sources=sources)
    board.pairs = [
        {"a": a, "b": b, "wins": w, "draws": d, "losses": lost}
        for (a, b), (w, d, lost) in totals.items()
    ]
    if totals:
        rows = [(a, b, *wdl) for (a, b), wdl in totals.items()]
        try:
            fit = bradley_terry(rows, bootstrap=bootstrap, seed=seed)
            board.ratings = [r.to_dict() for r in fit.ratings]
        except ValueError as error:
            board.note = f"no fit: {error}"
    else:
        board.note = f"no match logs of {game} under {workspace.root / 'matches'}"
    board.history = registry.snapshots(game)
    board.history_source = "registry" if board.history else "none"
    if not board.history:
        board.history = tournament_history(workspace, game)
        board.history_source = "tournaments" if board.history else "none"
    board.events = registry.events(game)
    return board
