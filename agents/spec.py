"""Agent spec strings: one string names an agent everywhere (CLI, configs, match records).

random                 uniform random legal moves
mcts | mcts:400        Monte Carlo tree search with N simulations per move (default 200)
solver                 exact alpha-beta (perfect-information games) or CFR+ policy (poker)
llm:BASE               the bare base model (a folder or a Hugging Face id)
llm:BASE@ADAPTER       base + LoRA adapter (a folder, or a registry version: v3, champion)
llm:...,key=value      LLM options that change how it plays, e.g. llm:tiny@v3,temperature=0
                       (temperature, norm, mode, retries, max_new_tokens, quantize, dtype)
search:llm:BASE[@ADAPTER][,key=value]   PUCT search with the LLM's policy as its prior, e.g.
                       search:llm:tiny@champion,sims=64 (options: agents.search.options)
human                  a person: `arena play` (terminal) or `arena serve` (browser)

Every scripted agent has a bounded amount of work per move: random picks among the legal
moves, mcts runs its N simulations (N at most ``$ARENA_MAX_MCTS_SIMULATIONS``), the solver
searches at most ``agents.solver.MOVE_NODES`` nodes and is refused for a game it cannot play
within them (``agents.factory.scripted_refusal``), the CFR policy is a table lookup;
``search:`` runs its ``sims`` simulations (bounded the same way as mcts).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from games import InputError
from games.limits import Limits, limits

KINDS = ("random", "mcts", "solver", "llm", "search", "human")
DEFAULT_MCTS_SIMULATIONS = 200
MAX_SPEC = 1000
_DIGITS = re.compile(r"^[0-9]{1,12}$")


@dataclass(frozen=True)
class AgentSpec:
    kind: str
    arg: str | None = None
    raw: str = ""

    @property
    def base(self) -> str | None:
        return None if self.kind != "llm" or self.arg is None else self._target.split("@", 1)[0]

    @property
    def adapter(self) -> str | None:
        if self.kind != "llm" or self.arg is None or "@" not in self._target:
            return None
        return self._target.split("@", 1)[1]

    @property
    def _target(self) -> str:
        return (self.arg or "").split(",", 1)[0]

    @property
    def options(self) -> dict[str, str]:
        """The ``,key=value`` options of an ``llm:`` or ``search:`` spec (validated by
        agents.llm and agents.search)."""
        if self.kind not in ("llm", "search") or not self.arg or "," not in self.arg:
            return {}
        return dict(item.split("=", 1) for item in self.arg.split(",")[1:])

    @property
    def inner(self) -> AgentSpec | None:
        """The ``llm:`` spec whose policy a ``search:`` spec uses as its prior (with the
        prior temperature and the LLM options it passes on), else None."""
        if self.kind != "search":
            return None
        from agents.search.options import parse_search

        return parse_spec(parse_search(self.arg or "", self.raw).llm)


@dataclass(frozen=True)
class ResolvedAdapter:
    """What a registry reference (``v3``, ``champion``) names now: an adapter folder, or None
    for the bare base (``v0``), and the version label decisions carry."""

    path: Path | None
    version: str


# (base, ref, game spec, workspace) -> ResolvedAdapter; raises InputError for unknown refs
AdapterResolver = Callable[[str, str, str, object], ResolvedAdapter]
REGISTRY_REF = re.compile(r"^(v[0-9]+|champion)$")
FOLLOWED_REFS = frozenset({"champion"})
_resolver: AdapterResolver | None = None


def set_adapter_resolver(resolver: AdapterResolver | None) -> None:
    """Install how registry references are resolved. The registry lives above this layer
    (``arena``), so the processes that need it install it (``arena.registry.resolve.install``)."""
    global _resolver
    _resolver = resolver


def is_registry_ref(adapter: str) -> bool:
    """``v3`` or ``champion`` that is not also an existing folder (a folder wins)."""
    return bool(REGISTRY_REF.match(adapter)) and not Path(adapter).expanduser().is_dir()


def resolve_registry_ref(base: str, adapter: str, game: str, workspace=None) -> ResolvedAdapter:
    """Resolve ``adapter`` (``v3``, ``champion``) of ``base`` for ``game`` through the
    installed resolver; InputError when none is installed (no registry in this process)."""
    if _resolver is None:
        raise InputError(
            f"adapter '{adapter}' is a registry version, but no registry is available here "
            "(registry versions resolve in the arena's processes: `arena ...`, Ray workers)"
        )
    return _resolver(base, adapter, game, workspace)


def parse_spec(spec: str) -> AgentSpec:
    """Parse and validate ``spec``; raises InputError with the accepted forms.

    ``llm:`` options are checked here too (names, types, ranges), so a run refuses a bad
    option before it starts rather than when a worker first builds the agent.
    """
    if not isinstance(spec, str):
        raise InputError(f"an agent spec must be a string, got {type(spec).__name__}")
    if len(spec) > MAX_SPEC or any(ord(c) < 32 or ord(c) == 127 for c in spec):
        raise InputError(
            f"agent spec {spec[:80]!r}: at most {MAX_SPEC} characters, no control characters"
        )
    raw = spec.strip()
    kind, _, arg = raw.partition(":")
    kind = kind.lower()
    usage = (
        "expected one of: random, mcts, mcts:N, solver, llm:BASE, llm:BASE@ADAPTER, "
        "search:llm:BASE[@ADAPTER][,sims=N], human"
    )
    if kind not in KINDS:
        raise InputError(f"unknown agent spec '{spec}'; {usage}")
    if kind in ("random", "solver", "human") and arg:
        raise InputError(f"agent spec '{spec}': '{kind}' takes no argument")
    if kind == "mcts" and arg:
        cap = limits().max_mcts_simulations
        # ASCII digits only: str.isdigit() accepts '²', which int() then refuses
        if not _DIGITS.match(arg) or not 1 <= int(arg) <= cap:
            raise InputError(
                f"agent spec '{spec}': simulations must be an integer between 1 and {cap} "
                f"(${Limits.ENV['max_mcts_simulations']} raises the limit)"
            )
    if kind == "llm":
        target, *items = arg.split(",")
        base, _, adapter = target.partition("@")
        if (
            not base
            or ("@" in target and not adapter)
            or any(not i.partition("=")[0] or "=" not in i for i in items)
        ):
            raise InputError(
                f"agent spec '{spec}': expected llm:BASE or llm:BASE@ADAPTER, "
                "optionally followed by ,key=value options"
            )
        if items:
            keys = [i.partition("=")[0].strip() for i in items]
            if len(set(keys)) != len(keys):
                raise InputError(f"agent spec '{spec}': an option is given twice")
            from agents.llm.options import LLMOptions  # no torch; numpy only

            LLMOptions.parse(dict(i.split("=", 1) for i in items))
    if kind == "search":
        from agents.search.options import parse_search  # no torch

        parse_spec(parse_search(arg, spec).llm)  # the LLM target, as an llm: spec
    return AgentSpec(kind=kind, arg=arg or None, raw=raw)


TEMPERATURE_KEYS = ("temperature", "temp", "t")


def with_temperature(spec: str, temperature: float) -> str:
    """``llm:`` specs get ``,temperature=T`` unless they already set one; others unchanged.

    Writing the temperature into the spec makes every match record say how its player played.
    """
    parsed = parse_spec(spec)
    if parsed.kind != "llm" or set(TEMPERATURE_KEYS) & set(parsed.options):
        return parsed.raw
    return f"{parsed.raw},temperature={temperature:g}"


def is_deterministic(spec: str) -> bool:
    """True when the agent always plays the same move in the same position.

    LLM agents that set temperature 0 in their spec qualify (argmax in score mode, greedy
    in generate mode), and search agents that draw nothing (``rollouts=0``, no noise,
    temperature 0). ``random`` and ``mcts`` draw from their generator, and ``solver`` breaks
    ties between optimal moves at random, so none of them is deterministic. Two deterministic
    players replay the same game from the same opening: such games are not independent
    evidence (``arena.runs.gate`` and ``training.evaluate`` count each distinct opening once).
    """
    parsed = parse_spec(spec)
    if parsed.kind == "search":
        from agents.search.options import parse_search

        return parse_search(parsed.arg or "", parsed.raw).options.deterministic
    if parsed.kind != "llm":
        return False
    values = [v for k, v in parsed.options.items() if k in TEMPERATURE_KEYS]
    try:
        return bool(values) and float(values[-1]) == 0.0
    except ValueError:
        return False
