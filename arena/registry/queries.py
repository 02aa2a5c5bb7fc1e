"""The registry's reads: versions, the champion, the history (gate decisions, events) and the
rating snapshots, as functions of a ``db.Store`` (methods of ``store.Registry``)."""

from __future__ import annotations

from arena.registry.db import Store, where
from arena.registry.rows import (
    ChampionRow,
    EventRow,
    GateDecisionRow,
    RatingRow,
    VersionRow,
)
from games import InputError


def keys(store: Store) -> list[tuple[str, str]]:
    """Every (game, base) the registry knows."""
    rows = store.values("SELECT game, base FROM champions ORDER BY game, base")
    return [(r["game"], r["base"]) for r in rows]


def versions(store: Store, game: str | None = None, base: str | None = None) -> list[VersionRow]:
    clause, args = where(game=game, base=base)
    return store.select(
        VersionRow, f"SELECT * FROM versions{clause} ORDER BY game, base, number", args
    )


def get(store: Store, game: str, base: str, version: str) -> VersionRow:
    """The row of ``version``; InputError naming the known versions when there is none."""
    row = store.select_one(
        VersionRow,
        "SELECT * FROM versions WHERE game=? AND base=? AND version=?",
        (game, base, version),
    )
    if row is None:
        known = [v.version for v in versions(store, game, base)]
        raise InputError(
            f"no version '{version}' of base '{base}' for {game} in the registry "
            f"(known: {', '.join(known) or 'none; run `arena nightly` first'})"
        )
    return row


def find_run(store: Store, game: str, base: str, run_id: str) -> VersionRow | None:
    """The version a training run registered, if it did (resumed nights skip training)."""
    return store.select_one(
        VersionRow,
        "SELECT * FROM versions WHERE game=? AND base=? AND run_id=?",
        (game, base, run_id),
    )


def champion(store: Store, game: str, base: str) -> VersionRow | None:
    """The champion of (game, base); None before the first night initialised it."""
    row = store.select_one(
        ChampionRow, "SELECT * FROM champions WHERE game=? AND base=?", (game, base)
    )
    return None if row is None else get(store, game, base, row.version)


def champions(store: Store) -> list[ChampionRow]:
    return store.select(ChampionRow, "SELECT * FROM champions ORDER BY game, base")


def resolve(store: Store, game: str, base: str, ref: str) -> VersionRow:
    """``champion`` or ``vN`` -> its row."""
    if ref == "champion":
        row = champion(store, game, base)
        if row is None:
            raise InputError(
                f"no champion of base '{base}' for {game} in {store.path} yet "
                "(`arena nightly` registers the base as v0)"
            )
        return row
    return get(store, game, base, ref)


def previous_champion(store: Store, game: str, base: str) -> str | None:
    """The most recent former champion still in good standing (``retired``, or ``v0``)."""
    current = champion(store, game, base)
    for event in reversed(events(store, game, base)):
        if event.kind not in ("init", "promote", "rollback"):
            continue
        for candidate in (event.to_version, event.from_version):
            if not candidate or current is None or candidate == current.version:
                continue
            if get(store, game, base, candidate).status == "retired":
                return candidate
    return None


def gate_decisions(
    store: Store, game: str | None = None, base: str | None = None, night: str | None = None
) -> list[GateDecisionRow]:
    clause, args = where(game=game, base=base, night=night)
    return store.select(GateDecisionRow, f"SELECT * FROM gate_decisions{clause} ORDER BY id", args)


def events(store: Store, game: str | None = None, base: str | None = None) -> list[EventRow]:
    """Promotions, rejections, rollbacks (and the ``init`` of v0), oldest first."""
    clause, args = where(game=game, base=base)
    return store.select(EventRow, f"SELECT * FROM events{clause} ORDER BY id", args)


def ratings(
    store: Store, game: str | None = None, base: str | None = None, night: str | None = None
) -> list[RatingRow]:
    clause, args = where(game=game, base=base, night=night)
    return store.select(RatingRow, f"SELECT * FROM ratings{clause} ORDER BY id", args)


def latest_ratings(store: Store, game: str, base: str) -> list[RatingRow]:
    """The most recent night's snapshot for (game, base), by rank."""
    return store.select(
        RatingRow,
        "SELECT * FROM ratings WHERE game=? AND base=? AND night = (SELECT night FROM ratings "
        "WHERE game=? AND base=? ORDER BY id DESC LIMIT 1) ORDER BY rank, player",
        (game, base, game, base),
    )
