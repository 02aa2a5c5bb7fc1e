"""The ``search:`` spec: ``search:llm:BASE[@ADAPTER][,key=value...]`` and its options.

Parsed without torch (spec strings are checked by every command before anything loads). The
options after the LLM's target are the search's own, plus a few that configure the LLM that
supplies the prior; each is part of the agent's identity (the spec string records carry).

=================  =======  ===========================================================
option             default  meaning
=================  =======  ===========================================================
sims               64       simulations per move (the visits of the root's children sum
                            to it); at most ``$ARENA_MAX_MCTS_SIMULATIONS``
c_puct             2.0      PUCT exploration constant (AlphaZero's c, Silver et al. 2018)
rollouts           1        random rollouts per new leaf (its value); 0: leaves are worth 0
                            and only terminal positions carry value
temperature        0        move choice from visit counts N: 0 plays the most visited,
                            T > 0 samples with probability N^(1/T) (AlphaZero self-play: 1)
dirichlet          0        root noise weight epsilon: P = (1-eps) p + eps Dir(alpha), for
                            self-play exploration (AlphaZero: 0.25); off by default
dirichlet_alpha    1.0      the Dirichlet concentration alpha
prior_temperature  1        temperature of the LLM policy used as the prior (0: one-hot)
norm, quantize,    (LLM)    passed to the LLM agent (``agents.llm.LLMOptions``); sym=1 averages
dtype, transfer,            the prior over the board's symmetric images
sym
=================  =======  ===========================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from games import InputError
from games.limits import Limits, check_float, check_int, limits

SEARCH_USAGE = "expected search:llm:BASE or search:llm:BASE@ADAPTER, then ,key=value options"
# LLM options that configure the prior; the others (mode, retries, ...) make no prior
LLM_PASSTHROUGH = ("norm", "quantize", "dtype", "transfer", "sym")
ALIASES = {
    "t": "temperature",
    "temp": "temperature",
    "alpha": "dirichlet_alpha",
    "quant": "quantize",
}
_INTEGER = re.compile(r"^[0-9]{1,12}$")
MAX_ROLLOUTS = 1000
MAX_C_PUCT = 100.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0


@dataclass(frozen=True)
class SearchOptions:
    """How the search plays (see the module docstring for each field)."""

    sims: int = 64
    c_puct: float = 2.0
    rollouts: int = 1
    temperature: float = 0.0
    dirichlet: float = 0.0
    dirichlet_alpha: float = 1.0
    prior_temperature: float = 1.0

    def __post_init__(self):
        cap = limits().max_mcts_simulations
        sims = self.sims
        if isinstance(sims, bool) or not isinstance(sims, int) or not 1 <= sims <= cap:
            raise InputError(
                f"search option sims={sims!r}: an integer between 1 and {cap} "
                f"(${Limits.ENV['max_mcts_simulations']} raises the limit)"
            )
        check_float("search option c_puct", self.c_puct, 0.0, MAX_C_PUCT, lo_open=True)
        check_int("search option rollouts", self.rollouts, 0, MAX_ROLLOUTS)
        for name in ("temperature", "prior_temperature"):
            value = check_float(f"search option {name}", getattr(self, name), 0.0, MAX_TEMPERATURE)
            if 0 < value < MIN_TEMPERATURE:
                raise InputError(
                    f"search option {name}={value:g}: 0 (argmax) or at least {MIN_TEMPERATURE:g}"
                )
        check_float("search option dirichlet", self.dirichlet, 0.0, 1.0)
        check_float("search option dirichlet_alpha", self.dirichlet_alpha, 0.0, 100.0, lo_open=True)

    @property
    def deterministic(self) -> bool:
        """No draw from the generator: no rollouts, no noise, the most visited move."""
        return self.rollouts == 0 and self.dirichlet == 0 and self.temperature == 0


@dataclass(frozen=True)
class SearchSpec:
    """A parsed ``search:`` spec: the LLM that gives the prior (an ``llm:`` spec string, with
    the passed-through options and the prior temperature) and the search's options."""

    llm: str
    options: SearchOptions


def parse_search(arg: str, spec: str) -> SearchSpec:
    """Split and check the argument of ``search:`` (everything after the colon).

    Raises InputError naming the bad part; the inner ``llm:`` target is checked by
    ``agents.spec.parse_spec`` (the caller), the LLM options by ``LLMOptions.parse``.
    """
    kind, _, rest = (arg or "").partition(":")
    if kind.strip().lower() != "llm" or not rest:
        raise InputError(f"agent spec '{spec}': {SEARCH_USAGE}")
    target, *items = rest.split(",")
    if any("=" not in i or not i.partition("=")[0].strip() for i in items):
        raise InputError(f"agent spec '{spec}': {SEARCH_USAGE}")
    values: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        key = ALIASES.get(key.strip().lower(), key.strip().lower())
        if key in values:
            raise InputError(f"agent spec '{spec}': option '{key}' is given twice")
        values[key] = value.strip()
    known = [f.name for f in fields(SearchOptions)]
    kwargs: dict[str, object] = {}
    llm: dict[str, str] = {}
    for key, value in values.items():
        if key in LLM_PASSTHROUGH:
            llm[key] = value
        elif key in known:
            kwargs[key] = _number(key, value, int if key in ("sims", "rollouts") else float)
        else:
            raise InputError(
                f"agent spec '{spec}': unknown search option '{key}'; known: "
                f"{', '.join(known + list(LLM_PASSTHROUGH))}"
            )
    options = SearchOptions(**kwargs)
    from agents.llm.options import LLMOptions  # no torch; numpy only

    LLMOptions.parse(llm)
    inner = ",".join(
        [f"llm:{target}", *(f"{k}={v}" for k, v in llm.items())]
        + [f"temperature={options.prior_temperature:g}"]
    )
    return SearchSpec(llm=inner, options=options)


def _number(key: str, value: str, kind: type) -> int | float:
    # ASCII digits only for integers: int() also takes other scripts' digits ('٣')
    if kind is int and not _INTEGER.match(value):
        raise InputError(f"search option {key}={value!r}: expected a whole number (0-9 digits)")
    try:
        return kind(value)
    except ValueError:
        raise InputError(f"search option {key}={value!r} is not a number") from None
