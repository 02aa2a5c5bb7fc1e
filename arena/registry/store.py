"""The adapter registry: versions, the champion per (game, base), and their history, in SQLite.

``Registry`` is the registry file (``db.Store``: opening, migrations, transactions) with its
operations, each written once as a function of the store in the module of its responsibility:

- ``queries``: versions, the champion, gate decisions, events, rating snapshots (reads);
- ``lifecycle``: ``v0``, registering a verified adapter, the gate's verdict, promote, rollback;
- ``nights``: nights and their stages (what lets a night resume), a night's rating snapshot.

Adapter folders and stored paths are ``layout``'s; the rows are ``rows``' dataclasses; the
schema and its migrations ``schema``'s; the ``@v3`` / ``@champion`` resolver and its cached
readers ``resolve``'s.

Readers (the web server)::

    reg = Registry.open(workspace.registry, readonly=True)   # mode=ro, never writes
    reg.champion("tic_tac_toe", "small")  -> VersionRow
    reg.versions("tic_tac_toe")           -> [VersionRow, ...]
"""

from __future__ import annotations

from pathlib import Path

from arena.registry import lifecycle, queries
from arena.registry import nights as nightbook
from arena.registry.db import Store
from arena.registry.layout import base_key, folder_name
from arena.registry.rows import (
    BASE_VERSION,
    STATUSES,
    ChampionRow,
    EventRow,
    GateDecisionRow,
    NightRow,
    RatingRow,
    StageRow,
    VersionRow,
    now,
)

__all__ = [
    "BASE_VERSION", "STATUSES", "ChampionRow", "EventRow", "GateDecisionRow", "NightRow",
    "RatingRow", "Registry", "StageRow", "VersionRow", "base_key", "folder_name", "now",
]  # fmt: skip


class Registry(Store):
    """The registry file and everything done with it. ``Registry.open(path)`` creates or
    migrates it (writers); ``Registry.open(path, readonly=True)`` refuses to change anything
    (readers). Each method below is the function of the same name in its module."""

    @staticmethod
    def open(path: str | Path, readonly: bool = False) -> Registry:
        return Registry(path, readonly)

    # reads (queries.py)
    keys = queries.keys
    versions = queries.versions
    get = queries.get
    find_run = queries.find_run
    champion = queries.champion
    champions = queries.champions
    resolve = queries.resolve
    previous_champion = queries.previous_champion
    gate_decisions = queries.gate_decisions
    events = queries.events
    ratings = queries.ratings
    latest_ratings = queries.latest_ratings

    # versions and the champion (lifecycle.py)
    init_base = lifecycle.init_base
    register = lifecycle.register
    record_gate = lifecycle.record_gate
    promote = lifecycle.promote
    rollback = lifecycle.rollback

    # nights, stages and rating snapshots (nights.py)
    nights = nightbook.nights
    night = nightbook.night
    stages = nightbook.stages
    stage = nightbook.stage
    begin_night = nightbook.begin_night
    finish_night = nightbook.finish_night
    stage_started = nightbook.stage_started
    stage_done = nightbook.stage_done
    stage_failed = nightbook.stage_failed
    snapshot_ratings = nightbook.snapshot_ratings
