"""``arena registry``, ``arena promote``, ``arena rollback``: the adapter versions and the
champion (logic in ``arena.registry.store``; this is argv and printing only)."""

from __future__ import annotations

import argparse
import getpass
import json

from arena.reporting.tables import format_table
from games import InputError
from games.workspace import Workspace


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "registry",
        help="adapter versions, the champion per game and base, and their history",
        description="Show the registry (WORKSPACE/registry.sqlite): the champion of each game "
        "and base, every version with its status, promotions, rejections and rollbacks with "
        "their reasons, and the latest rating snapshot. `arena registry rebuild` reconstructs "
        "a missing, emptied or damaged registry from the adapter folders (registration.json, "
        "manifest.json), the night reports (nights/*/report.json) and WORKSPACE/events/.",
    )
    p.add_argument(
        "action", nargs="?", choices=("show", "rebuild"), default="show",
        help="show (default) or rebuild",
    )  # fmt: skip
    p.add_argument("--game", default=None, help="only this game")
    p.add_argument("--base", default=None, help="only this base")
    p.add_argument("--format", choices=("table", "json"), default="table", help="(table)")
    p.set_defaults(func=cmd_registry)

    for name, helptext in (
        ("promote", "make VERSION the champion by hand (the old champion is retired)"),
        ("rollback", "restore the previous champion (or --to VERSION); the current is demoted"),
    ):
        q = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:])
        if name == "promote":
            q.add_argument("version", metavar="VERSION", help="a registered version, e.g. v3")
        else:
            q.add_argument("--to", default=None, help="version to restore (default: previous)")
        q.add_argument("--reason", required=True, help="why (recorded in the history)")
        q.add_argument("--game", default=None, help="game (needed when there are several)")
        q.add_argument("--base", default=None, help="base (needed when there are several)")
        q.set_defaults(func=cmd_promote if name == "promote" else cmd_rollback)


def _registry(args, readonly: bool):
    """The workspace's registry. Writing (promote, rollback) needs one that exists: opening
    for writing would create an empty registry.sqlite in a workspace that never had one."""
    from arena.registry.store import Registry

    path = Workspace.resolve(args.workspace).registry
    if not readonly and not path.is_file():
        raise InputError(
            f"no registry at {path}: nothing to {args.command.replace('rollback', 'roll back')}; "
            "`arena nightly` starts one"
        )
    return Registry.open(path, readonly=readonly)


def _key(reg, args) -> tuple[str, str]:
    from games import load_game

    keys = reg.keys()
    game = load_game(args.game).spec if args.game else None
    matching = [k for k in keys if (game in (None, k[0])) and (args.base in (None, k[1]))]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise InputError(f"no champion for game={args.game} base={args.base} in the registry")
    listed = ", ".join(f"--game {g} --base {b}" for g, b in matching)
    raise InputError(f"several games/bases in the registry; choose one of: {listed}")


def cmd_registry(args: argparse.Namespace) -> int:
    from games import load_game

    if args.action == "rebuild":
        return cmd_rebuild(args)

    with _registry(args, readonly=True) as reg:
        game = load_game(args.game).spec if args.game else None
        keys = [k for k in reg.keys() if game in (None, k[0]) and args.base in (None, k[1])]
        data = [
            {
                "game": g,
                "base": b,
                "champion": reg.champion(g, b).version,
                "versions": [v.to_dict() for v in reg.versions(g, b)],
                "events": [e.to_dict() for e in reg.events(g, b)],
                "gate_decisions": [
                    {k: v for k, v in d.to_dict().items() if k != "report"}
                    | {k: d.report.get(k) for k in ("score", "ci", "llr", "pairs", "elo")}
                    for d in reg.gate_decisions(g, b)
                ],
                "ratings": [r.to_dict() for r in reg.latest_ratings(g, b)],
            }
            for g, b in keys
        ]
        nights = [
            {k: v for k, v in n.to_dict().items() if k != "config"} for n in reg.nights()[-10:]
        ]
    if args.format == "json":
        print(json.dumps({"registry": data, "nights": nights}, indent=1))
        return 0
    if not data:
        print("the registry is empty: `arena nightly --config nightly.toml` starts it")
    for entry in data:
        print(f"{entry['game']} on base {entry['base']}: champion {entry['champion']}")
        rows = [
            [v["version"], v["status"], v["parent"] or "-", v["night"] or "-", v["created_at"],
             v["path"] or "(bare base)"]
            for v in entry["versions"]
        ]  # fmt: skip
        print(format_table(["version", "status", "parent", "night", "created", "path"], rows))
        rows = [
            [e["created_at"], e["kind"], _versions(e),
             e["actor"], e["reason"]]
            for e in entry["events"]
        ]  # fmt: skip
        print("history:")
        print(format_table(["when", "event", "versions", "by", "reason"], rows))
        if entry["ratings"]:
            from arena.reporting.tables import ratings_table

            print(f"ratings (night {entry['ratings'][0]['night']}):")
            print(ratings_table(entry["ratings"]))
        print()
    if nights:
        rows = [[n["night"], n["status"], n["outcome"] or "-", n["started_at"],
                 n["finished_at"] or "-"] for n in nights]  # fmt: skip
        print("recent nights (reports in WORKSPACE/nights/NIGHT/):")
        print(format_table(["night", "status", "outcome", "started", "finished"], rows))
    return 0


def _versions(event: dict) -> str:
    if event["kind"] == "reject":
        return f"{event['to_version']} (champion {event['from_version']} stays)"
    return f"{event['from_version'] or '-'} -> {event['to_version']}"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_promote(args: argparse.Namespace) -> int:
    with _registry(args, readonly=False) as reg:
        game, base = _key(reg, args)
        event = reg.promote(game, base, args.version, args.reason, _actor())
    print(
        f"{game} on {base}: {event.from_version} -> {event.to_version} (promoted: {event.reason})"
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with _registry(args, readonly=False) as reg:
        game, base = _key(reg, args)
        event = reg.rollback(game, base, args.reason, _actor(), to=args.to)
    print(f"{game} on {base}: {event.from_version} -> {event.to_version} (rolled back: "
          f"{event.reason})")  # fmt: skip
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from arena.registry.rebuild import rebuild

    summary = rebuild(Workspace.resolve(args.workspace).root)
    if args.format == "json":
        print(json.dumps(summary, indent=1))
        return 0
    sources = ", ".join(f"{n} {what}" for what, n in summary["sources"].items())
    print(f"rebuilt {summary['registry']} from {sources}:")
    print(f"  {summary['versions']} versions, {summary['events']} events, "
          f"{summary['gate_decisions']} gate decisions, {summary['nights']} nights")  # fmt: skip
    for key, version in summary["champions"].items():
        print(f"  champion of {key}: {version}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    return 0
