"""Frozen, hash-locked dev sets: the fixed yardstick every adapter is measured with.

* tic_tac_toe: positions (from seeded random play) where some legal move is not optimal,
  labelled with *every* optimal move by the exact solver.
* connect_four: positions labelled by a strong MCTS (OpenSpiel's MCTS-Solver, which proves wins
  and losses where it can, Winands et al. 2008), kept only when two independent searches agree
  on the label and some legal move is clearly worse.
* kuhn_poker, leduc_poker: a specification (every information state, plus reference values);
  the metric is the exact exploitability of the agent's policy (``training.evaluate``).

``lock.json`` holds the sha256 of every file; ``verify_lock`` (and a test) fails when a file
changes without its hash changing. ``rebuild`` regenerates deterministically and rewrites the
lock: ``arena devsets rebuild``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pyspiel
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability as exploitability_lib

from agents.solver import AlphaBetaSolver
from games import InputError, load_game, observe
from games.files import atomic_write
from games.symmetry import history_images
from training.manifest import sha256_file

log = logging.getLogger(__name__)

DEVSET_DIR = Path(__file__).resolve().parent / "devsets"
LOCK_NAME = "lock.json"
POSITION_GAMES = {"tic_tac_toe": 200, "connect_four": 60}
POLICY_GAMES = ("kuhn_poker", "leduc_poker")
DEVSET_GAMES = (*POSITION_GAMES, *POLICY_GAMES)
SEED = 20240601
C4_SIMULATIONS = 40_000


def devset_path(game: str, root: Path = DEVSET_DIR) -> Path:
    if game in POSITION_GAMES:
        return root / f"{game}.jsonl"
    if game in POLICY_GAMES:
        return root / f"{game}.json"
    raise InputError(f"no dev set for '{game}'; dev sets exist for {', '.join(DEVSET_GAMES)}")


def _row(handle, history: list[int], optimal: list[int], values: dict, label: str) -> dict:
    state = handle.game.new_initial_state()
    for action in history:
        state.apply_action(action)
    obs = observe(handle, state)
    return {
        "game": handle.spec,
        "history": history,
        "player": obs.player,
        "prompt": obs.prompt,
        "legal": list(obs.texts),
        "optimal": [obs.text_of(a) for a in optimal],
        "values": {obs.text_of(a): round(float(v), 4) for a, v in values.items()},
        "label": label,
    }


def _random_position(handle, rng: np.random.Generator, low: int, high: int) -> list[int] | None:
    state = handle.game.new_initial_state()
    history: list[int] = []
    for _ in range(int(rng.integers(low, high + 1))):
        action = int(rng.choice(state.legal_actions()))
        state.apply_action(action)
        history.append(action)
        if state.is_terminal():
            return None
    return history


def generate_tic_tac_toe(count: int, seed: int = SEED) -> list[dict]:
    """Distinct positions with a non-optimal legal move, each player to move half the time."""
    handle = load_game("tic_tac_toe")
    solver = AlphaBetaSolver(handle)
    rng = np.random.default_rng([seed, 1])
    rows, seen = [], set()
    while len(rows) < count:
        history = _random_position(handle, rng, 0, 7)
        if history is None or len(history) % 2 != len(rows) % 2:
            continue
        state = handle.game.new_initial_state()
        for action in history:
            state.apply_action(action)
        key = str(state)
        if key in seen:
            continue
        values = solver.action_values(state)
        best = max(values.values())
        optimal = [a for a in sorted(values) if values[a] >= best - 1e-9]
        if len(optimal) == len(values):
            continue
        seen.add(key)
        rows.append(_row(handle, history, optimal, values, "solver"))
    return rows


def _mcts_children(handle, state, seed: int, simulations: int):
    evaluator = pyspiel.RandomRolloutEvaluator(1, seed)
    bot = pyspiel.MCTSBot(handle.game, evaluator, 2.0, simulations, 10**8, True, seed + 1, False)
    root = bot.mcts_search(state)
    player = state.current_player()
    out = {}
    for child in root.children:
        if child.outcome:
            value, proven = child.outcome[player], True
        else:
            value, proven = child.total_reward / max(1, child.explore_count), False
        out[child.action] = (value, proven, child.explore_count)
    return out


def _mcts_label(children: dict, margin: float = 0.1) -> set[int]:
    """Proven wins if any; else every action whose value is within ``margin`` of the best."""
    wins = {a for a, (v, proven, _) in children.items() if proven and v > 0}
    if wins:
        return wins
    best = max(v for v, _, _ in children.values())
    return {a for a, (v, _, _) in children.items() if v >= best - margin}


def generate_connect_four(
    count: int, seed: int = SEED, simulations: int = C4_SIMULATIONS
) -> list[dict]:
    """Positions after 4-14 random plies whose MCTS label is stable and leaves a worse move."""
    handle = load_game("connect_four")
    rng = np.random.default_rng([seed, 2])
    rows, seen = [], set()
    attempt = 0
    while len(rows) < count:
        attempt += 1
        history = _random_position(handle, rng, 4, 14)
        if history is None:
            continue
        state = handle.game.new_initial_state()
        for action in history:
            state.apply_action(action)
        if str(state) in seen:
            continue
        seen.add(str(state))
        runs = [_mcts_children(handle, state, seed + attempt * 2 + k, simulations) for k in (0, 1)]
        labels = [_mcts_label(children) for children in runs]
        worst = min(v for v, _, _ in runs[0].values())
        best = max(v for v, _, _ in runs[0].values())
        if labels[0] != labels[1] or len(labels[0]) == len(runs[0]) or best - worst < 0.3:
            continue
        values = {a: (runs[0][a][0] + runs[1][a][0]) / 2 for a in runs[0]}
        rows.append(_row(handle, history, sorted(labels[0]), values, f"mcts-solver:{simulations}"))
        log.info("connect_four dev set: %d/%d (attempt %d)", len(rows), count, attempt)
    return rows


def generate_policy_spec(game: str) -> dict:
    """Every information state of ``game`` plus reference exploitabilities."""
    from agents.cfr import load_cfr_policy, tabular_policy

    handle = load_game(game)
    tabular = policy_lib.TabularPolicy(handle.game)
    keys = sorted(tabular.state_lookup)
    uniform = exploitability_lib.exploitability(
        handle.game, policy_lib.UniformRandomPolicy(handle.game)
    )
    cfr = exploitability_lib.exploitability(
        handle.game, tabular_policy(handle, load_cfr_policy(handle))
    )
    return {
        "game": handle.spec,
        "metric": "exploitability",
        "info_states": len(keys),
        "info_states_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
        "reference": {"uniform_random": round(float(uniform), 6), "cfr_plus": round(float(cfr), 4)},
    }  # fmt: skip


def generate(game: str, count: int | None = None) -> list[dict] | dict:
    if game == "tic_tac_toe":
        return generate_tic_tac_toe(count or POSITION_GAMES[game])
    if game == "connect_four":
        return generate_connect_four(count or POSITION_GAMES[game])
    if game in POLICY_GAMES:
        return generate_policy_spec(game)
    raise InputError(f"no dev set for '{game}'; dev sets exist for {', '.join(DEVSET_GAMES)}")


def write_devset(game: str, content: list[dict] | dict, root: Path = DEVSET_DIR) -> Path:
    path = devset_path(game, root)
    root.mkdir(parents=True, exist_ok=True)
    if isinstance(content, list):
        text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in content)
    else:
        text = json.dumps(content, indent=1, sort_keys=True) + "\n"
    return atomic_write(path, text)


def write_lock(root: Path = DEVSET_DIR) -> Path:
    files = {p.name: sha256_file(p) for p in sorted(root.iterdir()) if p.name != LOCK_NAME}
    lock = {
        "files": files,
        "seed": SEED,
        "sizes": POSITION_GAMES,
        "mcts_simulations": C4_SIMULATIONS,
    }
    return atomic_write(root / LOCK_NAME, json.dumps(lock, indent=1, sort_keys=True) + "\n")


def rebuild(games: list[str] | None = None, root: Path = DEVSET_DIR) -> list[Path]:
    """Regenerate dev sets (all by default) and rewrite the lock."""
    paths = [write_devset(game, generate(game), root) for game in games or DEVSET_GAMES]
    write_lock(root)
    return paths


def verify_lock(root: Path = DEVSET_DIR) -> list[str]:
    """Problems with the lock: missing, extra or changed files. Empty when all is well."""
    lock_path = root / LOCK_NAME
    if not lock_path.exists():
        return [f"no lock file {lock_path}"]
    locked = json.loads(lock_path.read_text())["files"]
    present = {p.name for p in root.iterdir() if p.name != LOCK_NAME and p.is_file()}
    problems = [f"{name}: in the lock but missing" for name in sorted(set(locked) - present)]
    problems += [f"{name}: not in the lock" for name in sorted(present - set(locked))]
    for name in sorted(present & set(locked)):
        if sha256_file(root / name) != locked[name]:
            problems.append(f"{name}: content changed without its hash in {LOCK_NAME}")
    return problems


_HELD_OUT: dict[tuple[str, bool], frozenset[str]] = {}


def heldout_prompts(game: str, images: bool = True) -> frozenset[str]:
    """Prompts that no training set may contain: the dev-set positions of ``game`` and, with
    ``images``, their symmetric images (the stricter protocol: a model that learned a position's
    mirror image has, for a symmetric game, learned the position). Empty for games without a
    position dev set (poker's dev set is every information state: it measures exploitability,
    which training cannot leak into), and for variants whose parameters differ from the dev
    set's game."""
    handle = load_game(game)
    if handle.name not in POSITION_GAMES:
        return frozenset()
    key = (handle.spec, images)
    if key not in _HELD_OUT:
        rows, _ = load_devset(handle.name)
        prompts: set[str] = set()
        if rows and rows[0]["game"] == handle.spec:
            for row in rows:
                histories = history_images(handle, row["history"]) if images else [row["history"]]
                for history in histories:
                    state = handle.game.new_initial_state()
                    for action in history:
                        state.apply_action(action)
                    prompts.add(observe(handle, state).prompt)
        _HELD_OUT[key] = frozenset(prompts)
    return _HELD_OUT[key]


class HeldOut:
    """Membership test for dev-set prompts across the games met in one dataset build."""

    REASON = "dev-set position or its symmetric image (held out of training)"

    def __init__(self, enabled: bool = True, images: bool = True):
        self.enabled = enabled
        self.images = images
        self._by_game: dict[str, frozenset[str]] = {}

    def __call__(self, game: str, prompt: str) -> bool:
        if not self.enabled:
            return False
        if game not in self._by_game:
            self._by_game[game] = heldout_prompts(game, self.images)
        return prompt in self._by_game[game]


def load_devset(game: str, root: Path = DEVSET_DIR) -> tuple[list[dict] | dict, str]:
    """The dev set of ``game`` and its sha256, refusing a file that does not match the lock."""
    path = devset_path(load_game(game).name, root)
    if not path.exists():
        raise InputError(f"dev set {path} is missing; run `arena devsets rebuild`")
    lock = json.loads((root / LOCK_NAME).read_text())["files"]
    digest = sha256_file(path)
    if lock.get(path.name) != digest:
        raise InputError(f"dev set {path} does not match {LOCK_NAME}; it changed unrecorded")
    if path.suffix == ".json":
        return json.loads(path.read_text()), digest
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()], digest
