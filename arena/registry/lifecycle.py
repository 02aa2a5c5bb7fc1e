"""A version's life in the registry: the bare base as ``v0``, registration of a verified
adapter, the gate's verdict (promote or reject), promotion and rollback by hand. Functions of a
``db.Store`` (methods of ``store.Registry``).

Versions: per (game, base), ``v0`` is the bare base (the first champion, so the first
candidate is gated against it), then ``v1``, ``v2``, ... in registration order, never reused:
not by this file (numbers only grow), and not by a new file either, since an empty or missing
registry beside registered adapter folders is refused (``layout.check_not_orphaned``; ``arena
registry rebuild`` reconstructs it). An adapter is registered only once its folder is complete
and verified (``verify`` callback: weights load, base matches); it gets ``registration.json``
and is moved into ``adapters/<game>/<base>/<version>/`` by one rename, so a half-written adapter
never carries a version.

Every change of the champion (promotion, rejection, rollback) is one transaction that writes
the history row (an event, append-only) and the new state together.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from arena.registry import queries
from arena.registry.db import Store
from arena.registry.layout import (
    adapter_dir,
    max_number_on_disk,
    save_event,
    to_stored,
    write_registration,
)
from arena.registry.rows import BASE_VERSION, EventRow, GateDecisionRow, VersionRow, now
from games import InputError


def init_base(
    store: Store, game: str, base: str, actor: str, night: str | None = None
) -> VersionRow:
    """Register the bare base as ``v0`` and make it the champion (no-op when known)."""
    with store.transaction() as c:
        if not c.execute(
            "SELECT 1 FROM champions WHERE game=? AND base=?", (game, base)
        ).fetchone():
            at = now()
            c.execute(
                "INSERT INTO versions VALUES (?,?,?,0,NULL,'champion',NULL,NULL,NULL,?,?)",
                (game, base, BASE_VERSION, night, at),
            )
            event = c.execute(
                "INSERT INTO events (game, base, kind, from_version, to_version, reason, "
                "actor, night, gate_id, created_at) VALUES (?,?,'init',NULL,?,?,?,?,NULL,?)",
                (game, base, BASE_VERSION, "the bare base is the first champion", actor,
                 night, at),
            ).lastrowid  # fmt: skip
            c.execute(
                "INSERT INTO champions VALUES (?,?,?,?,?)", (game, base, BASE_VERSION, at, event)
            )
    return queries.get(store, game, base, BASE_VERSION)


def register(
    store: Store,
    game: str,
    base: str,
    folder: str | Path,
    parent: str | None,
    run_id: str,
    night: str | None = None,
    verify: Callable[[Path], None] | None = None,
) -> VersionRow:
    """Verify the complete adapter ``folder``, give it the next version and move it to
    ``adapters/<game>/<base>/<version>/`` as a ``candidate``.

    Idempotent per ``run_id``: registering the same training run again returns the
    version it already got (a resumed night never makes two versions of one run).
    ``verify(folder)`` raises InputError for an adapter that must not be registered.
    """
    done = queries.find_run(store, game, base, run_id)
    if done is not None:
        return done
    folder = Path(folder)
    if verify is not None:
        verify(folder)
    manifest = folder / "manifest.json"
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None
    with store.transaction() as c:
        in_db = c.execute(
            "SELECT COALESCE(MAX(number), 0) FROM versions WHERE game=? AND base=?",
            (game, base),
        ).fetchone()[0]
        # a folder left by a process killed between rename and commit keeps its number
        number = max(in_db, max_number_on_disk(store.root, game, base)) + 1
        version = f"v{number}"
        final = adapter_dir(store.root, game, base, version)
        row = {
            "game": game, "base": base, "version": version, "number": number,
            "parent": parent, "run_id": run_id, "manifest_sha256": digest, "night": night,
            "created_at": now(),
        }  # fmt: skip
        write_registration(folder, row)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, final)
        try:
            c.execute(
                "INSERT INTO versions VALUES (?,?,?,?,?,'candidate',?,?,?,?,?)",
                (game, base, version, number, parent, to_stored(store.root, final), run_id,
                 digest, night, row["created_at"]),
            )  # fmt: skip
        except BaseException:
            os.replace(final, folder)
            raise
    return queries.get(store, game, base, version)


def record_gate(
    store: Store,
    game: str,
    base: str,
    candidate: str,
    champion: str,
    decision: str,
    reason: str,
    report: dict,
    actor: str,
    night: str | None = None,
) -> tuple[GateDecisionRow, EventRow]:
    """Record a gate decision and act on it in one transaction: ``promote`` crowns the
    candidate (the champion it beat is retired), anything else rejects it.

    Idempotent per (night, candidate): a resumed night gets the recorded decision back.
    """
    queries.get(store, game, base, candidate)
    with store.transaction() as c:
        old = c.execute(
            "SELECT id FROM gate_decisions WHERE game=? AND base=? AND candidate=? AND night IS ?",
            (game, base, candidate, night),
        ).fetchone()
        if old is None:
            gate_id = c.execute(
                "INSERT INTO gate_decisions (game, base, candidate, champion, decision, "
                "reason, report, night, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (game, base, candidate, champion, decision, reason,
                 json.dumps(report, allow_nan=False), night, now()),
            ).lastrowid  # fmt: skip
            current = _current(c, game, base)
            if decision == "promote":
                if current != champion:
                    raise InputError(
                        f"{candidate} was gated against {champion}, but the champion is now "
                        f"{current}; not promoted"
                    )
                event = _event(
                    c, game, base, "promote", current, candidate, reason, actor, night, gate_id
                )
                _crown(c, game, base, current, candidate, "retired", event)
            else:
                _event(c, game, base, "reject", current, candidate, reason, actor, night, gate_id)
                c.execute(
                    "UPDATE versions SET status='rejected' WHERE game=? AND base=? AND version=?",
                    (game, base, candidate),
                )
        else:
            gate_id = old[0]
    gate = store.select_one(GateDecisionRow, "SELECT * FROM gate_decisions WHERE id=?", (gate_id,))
    event = store.select_one(EventRow, "SELECT * FROM events WHERE gate_id=?", (gate_id,))
    return gate, event


def promote(
    store: Store,
    game: str,
    base: str,
    version: str,
    reason: str,
    actor: str,
    night: str | None = None,
) -> EventRow:
    """Make ``version`` the champion by hand (``arena promote``); the old one is retired."""
    return _swap(store, game, base, "promote", version, "retired", reason, actor, night)


def rollback(
    store: Store,
    game: str,
    base: str,
    reason: str,
    actor: str,
    to: str | None = None,
    night: str | None = None,
) -> EventRow:
    """Demote the champion (status ``rejected``) and restore ``to`` (default: the previous
    champion), in one transaction."""
    if not reason.strip():
        raise InputError("a rollback needs a reason")
    target = to or queries.previous_champion(store, game, base)
    if target is None:
        raise InputError(f"no previous champion of base '{base}' for {game} to roll back to")
    return _swap(store, game, base, "rollback", target, "rejected", reason, actor, night,
                 verb="restored")  # fmt: skip


def _swap(
    store: Store, game, base, kind, target, demoted, reason, actor, night, verb="promoted"
) -> EventRow:
    """Make ``target`` the champion and give the current one status ``demoted``, recorded
    as one ``kind`` event, in a single transaction (what promote and rollback share)."""
    row = queries.get(store, game, base, target)
    if row.path is not None and not Path(row.path).is_dir():
        raise InputError(f"{target}'s adapter folder {row.path} is missing; not {verb}")
    with store.transaction() as c:
        current = _current(c, game, base)
        if current == target:
            raise InputError(f"{target} is already the champion of {base} for {game}")
        event = _event(c, game, base, kind, current, target, reason, actor, night, None)
        _crown(c, game, base, current, target, demoted, event)
    row = store.select_one(EventRow, "SELECT * FROM events WHERE id=?", (event,))
    save_event(store.root, row)
    return row


def _event(c, game, base, kind, old, new, reason, actor, night, gate_id) -> int:
    return c.execute(
        "INSERT INTO events (game, base, kind, from_version, to_version, reason, actor, "
        "night, gate_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (game, base, kind, old, new, reason, actor, night, gate_id, now()),
    ).lastrowid


def _crown(c, game, base, old: str, new: str, old_status: str, event: int) -> None:
    c.execute(
        "UPDATE versions SET status=? WHERE game=? AND base=? AND version=?",
        (old_status, game, base, old),
    )
    c.execute(
        "UPDATE versions SET status='champion' WHERE game=? AND base=? AND version=?",
        (game, base, new),
    )
    c.execute(
        "UPDATE champions SET version=?, since=?, event_id=? WHERE game=? AND base=?",
        (new, now(), event, game, base),
    )


def _current(c, game: str, base: str) -> str:
    row = c.execute(
        "SELECT version FROM champions WHERE game=? AND base=?", (game, base)
    ).fetchone()
    if row is None:
        raise InputError(f"no champion of base '{base}' for {game} yet")
    return row[0]
