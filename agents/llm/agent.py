"""The LLM agent: ``llm:BASE[@ADAPTER][,key=value...]`` playing through a shared engine.

Score mode (the default) never plays an illegal move: it only ever chooses among the legal
actions, by the likelihood the model gives each one's canonical completion text
(``games.completion_text``: ``" b3\\n"``, the trailing newline making each move a complete
answer) after the prompt. The policy is a softmax over those log-likelihoods at a temperature;
temperature 0 is the argmax (ties to the first legal action).

Why summed log-likelihood by default (``norm=sum``): the sum is log P(move text | prompt), the
probability that the model, asked for a move, writes exactly that move. It is the quantity SFT
maximises and DPO/IPO compare (their implicit reward is the summed log-ratio of the completion,
Rafailov et al. 2023, Eq. 7), so the trained adapter's preferences show up unchanged in play.
Length-normalised scores (``norm=mean``, the average per-token log-likelihood) remove the bias
against long texts when moves differ a lot in length (``call`` vs ``raise``), at the price of
no longer being a distribution the model defines; useful for hub models never trained on the
arena's move format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.base import Decision, sample_from_policy
from agents.llm.engine import Engine, ScoreRequest, ScoreResult
from agents.llm.options import LLMOptions
from agents.llm.views import model_prompt
from agents.spec import (
    FOLLOWED_REFS,
    ResolvedAdapter,
    is_registry_ref,
    resolve_registry_ref,
)
from games import InputError, Observation, completion_text
from games.symmetry import observation_images


def policy_from_scores(
    logliks: np.ndarray, tokens: np.ndarray, temperature: float, norm: str = "sum"
) -> np.ndarray:
    """Probabilities over candidates: softmax(score / temperature), one-hot argmax at 0."""
    scores = np.asarray(logliks, dtype=np.float64)
    if norm == "mean":
        scores = scores / np.maximum(np.asarray(tokens, dtype=np.float64), 1.0)
    if temperature == 0:
        probs = np.zeros_like(scores)
        probs[int(np.argmax(scores))] = 1.0
        return probs
    z = scores / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


class LLMAgent:
    """An agent backed by an ``Engine``; holds no per-match state (see ``agents.base``).

    Attributes:
        spec: the spec string that builds it again.
        role: the engine role its adapter serves under (None: the bare base).
        options: how it plays.
    """

    def __init__(
        self,
        spec: str,
        engine: Engine,
        role: str | None,
        options: LLMOptions,
        follow=None,
    ):
        self.spec, self.engine, self.role, self.options = spec, engine, role, options
        self._closed = False
        self._follow = follow  # () -> ResolvedAdapter, re-read before every decision
        self._role_name: str | None = None  # the role this agent attached (registry refs)
        self._base_version: str | None = None  # label of the bare base when it serves (v0)

    def point_at(self, target: ResolvedAdapter, role_name: str) -> None:
        """Serve ``target`` under ``role_name`` (shared by agents that follow the same
        reference); the bare base (``target.path`` None) needs no role. A refused adapter
        raises InputError and the current one keeps serving."""
        self._role_name = role_name
        if target.path is None:
            if self.role is not None:
                self.engine.detach_role(self.role)
            self.role, self._base_version = None, target.version
            return
        wanted = Path(target.path).expanduser().resolve()
        if self.role is None:
            self.engine.attach_role(role_name, wanted, target.version)  # loads or swaps
            self.role, self._base_version = role_name, None
            return
        ref = self.engine.role(self.role)
        if ref is None or ref.path != wanted:
            self.engine.set_role(self.role, wanted, target.version)

    def refresh(self) -> None:
        """Follow ``@champion``: switch to the current champion before the next decision."""
        if self._follow is not None and not self._closed:
            self.point_at(self._follow(), self._role_name or f"follow:{self.spec}")

    @property
    def version(self) -> str | None:
        """The adapter version serving now (it can change under a role swap)."""
        ref = self.engine.role(self.role) if self.role else None
        return ref.version if ref else self._base_version

    def requests(self, observations: list[Observation], refresh: bool = True) -> list[ScoreRequest]:
        """The score requests of ``observations``: one each, or with ``sym`` one per symmetric
        image (``score`` folds them back); ``refresh=False`` keeps the version it follows as it
        is (a caller that scores many times for one decision refreshes once)."""
        if refresh:
            self.refresh()
        return self._fan_out(observations)[0]

    def score(self, observations: list[Observation], refresh: bool = True) -> list[ScoreResult]:
        """One engine call; one result per observation, over its legal actions in order."""
        if refresh:
            self.refresh()
        requests, plan = self._fan_out(observations)
        return fold_images(observations, plan, self.engine.score(requests))

    def _fan_out(self, observations: list[Observation]) -> tuple[list[ScoreRequest], list]:
        """Requests and, per observation, the ``(perm, image actions)`` of each request."""
        view = getattr(self.engine, "view", "full")
        requests, plan = [], []
        for obs in observations:
            images = observation_images(obs) if self.options.sym else [(None, obs)]
            plan.append([(perm, image.actions) for perm, image in images])
            requests += [
                ScoreRequest(
                    model_prompt(image.prompt, view),
                    tuple(completion_text(t) for t in image.texts),
                    self.role,
                )
                for _, image in images
            ]
        return requests, plan

    def decide(self, obs: Observation, result: ScoreResult, rng: np.random.Generator) -> Decision:
        probs = policy_from_scores(
            result.logliks, result.tokens, self.options.temperature, self.options.norm
        )
        policy = {int(a): float(p) for a, p in zip(obs.actions, probs, strict=True)}
        if self.options.temperature == 0:
            action = int(obs.actions[int(np.argmax(probs))])
        else:
            action = sample_from_policy(policy, rng)
        version = result.version if result.version is not None else self._base_version
        return Decision(action=action, policy=policy, version=version)

    def act(self, obs: Observation, rng: np.random.Generator) -> Decision:
        return self.act_batch([obs], [rng])[0]

    def act_batch(
        self, observations: list[Observation], rngs: list[np.random.Generator]
    ) -> list[Decision]:
        """Decide every observation in one engine call (one batched forward pass)."""
        if self.options.mode == "generate":
            from agents.llm.generate import generate_decisions

            self.refresh()
            return generate_decisions(self, observations, rngs)
        results = self.score(observations)
        return [
            self.decide(obs, res, rng)
            for obs, res, rng in zip(observations, results, rngs, strict=True)
        ]

    def close(self) -> None:
        """Release this agent's use of its adapter role (the engine itself stays cached)."""
        if self.role and not self._closed:
            self.engine.detach_role(self.role)
        self._closed = True


def decide_batch(
    items: list[tuple[LLMAgent, Observation, np.random.Generator]],
) -> list[Decision]:
    """Decisions for pending moves of *different* LLM agents, batched per engine.

    Score-mode agents that share an engine (same base, different adapters) are answered in
    one ``Engine.score`` call, i.e. the same forward passes; generate-mode agents per agent.
    """
    out: list[Decision | None] = [None] * len(items)
    groups: dict[int, list[int]] = {}
    for i, (agent, _, _) in enumerate(items):
        key = id(agent.engine) if agent.options.mode == "score" else -1 - i
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        agent = items[idx[0]][0]
        if agent.options.mode != "score":
            out[idx[0]] = agent.act(items[idx[0]][1], items[idx[0]][2])
            continue
        requests, plan = [], []
        for i in idx:
            items[i][0].refresh()
            reqs, one = items[i][0]._fan_out([items[i][1]])
            requests += reqs
            plan += one
        observations = [items[i][1] for i in idx]
        results = fold_images(observations, plan, agent.engine.score(requests))
        for i, result in zip(idx, results, strict=True):
            a, obs, rng = items[i]
            out[i] = a.decide(obs, result, rng)
    return out


def fold_images(
    observations: list[Observation], plan: list, results: list[ScoreResult]
) -> list[ScoreResult]:
    """One result per observation: its images' log-likelihoods, each read at the image of
    the move (``perm[a]``), averaged (the log of the geometric mean of the images'
    probabilities); a single image passes through."""
    out, start = [], 0
    for obs, images in zip(observations, plan, strict=True):
        chunk = results[start : start + len(images)]
        start += len(images)
        if len(images) == 1:
            out.append(chunk[0])
            continue
        logliks = np.mean(
            [
                [res.logliks[actions.index(perm[a])] for a in obs.actions]
                for (perm, actions), res in zip(images, chunk, strict=True)
            ],
            axis=0,
        )
        first = chunk[0]
        out.append(ScoreResult(logliks, first.tokens, first.version, first.adapter))
    if start != len(results):
        raise AssertionError("score results and requests disagree in number")
    return out


def make_llm_agent(parsed, handle=None, workspace=None, device=None, engine=None, **options):
    """Build an ``LLMAgent`` from a parsed ``llm:`` spec (called by ``agents.make_agent``).

    Options come from keywords, overridden by the spec's own ``,key=value`` options (the spec
    is what match records carry, so it must say how the agent played).
    """
    opts = LLMOptions.parse({**options, **parsed.options})
    path = None
    if parsed.adapter and not is_registry_ref(parsed.adapter):
        path = Path(parsed.adapter).expanduser()
        if not path.is_dir():
            raise InputError(
                f"adapter '{parsed.adapter}' is not a folder (looked for {path.resolve()}) "
                "nor a registry version (v3, champion)"
            )
        if handle is not None:  # before the base loads: a wrong game costs nothing
            from agents.llm.adapters import check_adapter_game

            check_adapter_game(path.resolve(), handle.name, opts.transfer)
    if engine is None:
        from agents.llm.engine import get_engine

        engine = get_engine(parsed.base, workspace, device, opts.quantize, opts.dtype)
    if parsed.adapter and is_registry_ref(parsed.adapter):
        # registry versions are kept per game: the version resolved is this game's
        if handle is None:
            raise InputError(f"'{parsed.raw}': a registry version needs the game it plays")
        game, base, ref = handle.spec, parsed.base, parsed.adapter
        follow = None
        if ref in FOLLOWED_REFS:

            def follow() -> ResolvedAdapter:
                return resolve_registry_ref(base, ref, game, workspace)

        agent = LLMAgent(parsed.raw, engine, None, opts, follow=follow)
        agent.point_at(resolve_registry_ref(base, ref, game, workspace), f"{ref}:{game}:{base}")
        return agent
    role = None
    if path is not None:
        role = f"folder:{path.resolve()}"
        engine.attach_role(role, path)
    return LLMAgent(parsed.raw, engine, role, opts)
