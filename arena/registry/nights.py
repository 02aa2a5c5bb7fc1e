"""The registry's night bookkeeping: which nights ran, and each stage's status, attempts, time
and result (what lets ``arena nightly`` resume a night without redoing finished stages)."""

from __future__ import annotations

import json

from arena.registry.rows import NightRow, StageRow, now


class NightsMixin:
    """Nights and stages of a ``Registry`` (which provides ``_tx``, ``_all`` and ``_one``)."""

    def nights(self) -> list[NightRow]:
        return self._all(NightRow, "SELECT * FROM nights ORDER BY started_at, night")

    def night(self, night: str) -> NightRow | None:
        return self._one(NightRow, "SELECT * FROM nights WHERE night=?", (night,))

    def stages(self, night: str) -> list[StageRow]:
        return self._all(
            StageRow, "SELECT * FROM stages WHERE night=? ORDER BY started_at", (night,)
        )

    def stage(self, night: str, game: str, stage: str) -> StageRow | None:
        return self._one(
            StageRow,
            "SELECT * FROM stages WHERE night=? AND game=? AND stage=?",
            (night, game, stage),
        )

    # ------------------------------------------------------------------- nights, stages

    def begin_night(self, night: str, config: dict) -> NightRow:
        """Start (or resume) ``night``; a resumed night keeps its first config."""
        with self._tx() as c:
            c.execute(
                "INSERT OR IGNORE INTO nights VALUES (?,?,'running',NULL,?,NULL)",
                (night, json.dumps(config, sort_keys=True), now()),
            )
            c.execute(
                "UPDATE nights SET status='running', finished_at=NULL WHERE night=?", (night,)
            )
        return self.night(night)

    def finish_night(self, night: str, status: str, outcome: str | None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE nights SET status=?, outcome=?, finished_at=? WHERE night=?",
                (status, outcome, now(), night),
            )

    def stage_started(self, night: str, game: str, stage: str) -> StageRow:
        with self._tx() as c:
            c.execute(
                "INSERT INTO stages (night, game, stage, status, attempts, started_at) "
                "VALUES (?,?,?,'running',1,?) ON CONFLICT (night, game, stage) DO UPDATE SET "
                "status='running', attempts=attempts+1, error=NULL",
                (night, game, stage, now()),
            )
        return self.stage(night, game, stage)

    def stage_done(self, night: str, game: str, stage: str, seconds: float, result: dict) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE stages SET status='done', finished_at=?, seconds=?, result=? "
                "WHERE night=? AND game=? AND stage=?",
                (now(), seconds, json.dumps(result, allow_nan=False), night, game, stage),
            )

    def stage_failed(self, night: str, game: str, stage: str, error: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE stages SET status='failed', finished_at=?, error=? "
                "WHERE night=? AND game=? AND stage=?",
                (now(), error, night, game, stage),
            )
