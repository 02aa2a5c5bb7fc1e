"""What a night checks against the workspace before any work (exit 2, one line): the base
exists or can be built, every game is one the base was built on, and every agent spec that
names a model folder names one that exists.

The config's own checks (types, ranges, games that load) ran when it was parsed
(``arena.nightly.config``); these need the workspace, so ``run_night`` and
``arena nightly --print-config`` call them, before the lock, the registry or Ray.
"""

from __future__ import annotations

from pathlib import Path

from agents import parse_spec
from games import InputError, load_game
from games.workspace import Workspace, is_valid_name


def _path_like(text: str) -> bool:
    """A folder rather than a workspace name or a hub id (``org/name``)."""
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


def base_folder(base: str, workspace: Workspace) -> Path | None:
    """The folder of the night's base: a model folder, or ``WORKSPACE/base/<name>``; None when
    a workspace base of that name is not built yet.

    Raises:
        InputError: ``base`` is neither an existing model folder nor a workspace base name.
    """
    folder = Path(base).expanduser()
    if (folder / "config.json").is_file():
        return folder.resolve()
    if not is_valid_name(base):
        raise InputError(
            f"[night] base '{base}': no base model there (a folder with config.json, or a "
            "workspace base name such as small)"
        )
    named = workspace.base(base)
    return named if (named / "config.json").is_file() else None


def base_games(folder: Path | None, preset: str) -> tuple[str, ...] | None:
    """The games the base was built on (its ``arena_base.json``, or the preset that will build
    it); None for any other model (a hub LLM plays every game)."""
    from training.base_model import PRESETS, read_manifest

    if folder is None:
        return PRESETS[preset].games
    made = read_manifest(folder)
    return tuple(made["config"]["games"]) if made and "config" in made else None


def check_spec(spec: str, where: str, workspace: Workspace, night_base: str) -> None:
    """An ``llm:`` spec's base and adapter, where they name files: the folder must exist."""
    parsed = parse_spec(spec)
    if parsed.kind != "llm":
        return
    base, adapter = parsed.base, parsed.adapter
    if _path_like(base) and not (Path(base).expanduser() / "config.json").is_file():
        raise InputError(
            f"{where}: '{spec}': no base model at {base} (an llm: base is a model folder, a "
            "workspace base name or a hub id org/name)"
        )
    if is_valid_name(base) and base != night_base and not workspace.base(base).is_dir():
        raise InputError(f"{where}: '{spec}': no workspace base '{base}' in {workspace.root}")
    if adapter and not is_valid_name(adapter) and not Path(adapter).expanduser().is_dir():
        raise InputError(f"{where}: '{spec}': no adapter folder at {adapter}")


def check_ready(config, workspace: Workspace) -> None:
    """See the module docstring; ``config`` is an ``arena.nightly.config.NightlyConfig``."""
    night = config.night
    folder = base_folder(night.base, workspace)
    if folder is None and not night.build_preset:
        raise InputError(f"[night] base '{night.base}' not found and build_preset is \"\"")
    games = base_games(folder, night.build_preset)
    for game in night.games:
        name = load_game(game).name
        if games is not None and name not in games:
            raise InputError(
                f"[night] games: '{game}' is not a game the base '{night.base}' was built on "
                f"({', '.join(games)}); play those, or build a base on it"
            )
    for spec, _ in config.league:
        if spec not in ("self", "previous"):
            check_spec(spec, "[selfplay] league", workspace, night.base)
    prefs = config.overrides.get("prefs_data", {})
    for key in ("rollout_agent", "rollout_opponent"):
        if isinstance(prefs.get(key), str):
            check_spec(prefs[key], f"[prefs_data] {key}", workspace, night.base)
    for spec in config.overrides.get("eval", {}).get("opponents") or ():
        check_spec(spec, "[eval] opponents", workspace, night.base)
