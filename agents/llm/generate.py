"""Generate mode: let the model write its answer, parse the move, re-prompt, then forfeit.

For chat models (a tokenizer with a chat template) the observation becomes a user message that
asks for a final line ``Move: <move>``; the model may think aloud first, and the *last* marker
in its reply is the answer (earlier ones are drafts). Without a chat template the raw prompt,
which already ends with ``Move:``, is continued up to the end of the line.

An answer is matched tolerantly against the legal moves (``games.parse_action``: case, quotes,
a trailing period and OpenSpiel's own action names). A failed answer is counted as *illegal*
(a real move that is not legal now) or *unparseable* (names no move), the model is re-prompted
with that feedback up to ``retries`` times, and then the agent forfeits (``action=None``; the
match loop records the forfeit as ``termination: illegal_move``). Counts travel in the Decision,
separately from wins and losses.
"""

from __future__ import annotations

import numpy as np

from agents.base import Decision
from agents.llm.views import model_prompt
from games import MOVE_MARKER, Observation, ParseFailure

DEFAULT_RAW_TOKENS = 8
DEFAULT_CHAT_TOKENS = 96
INSTRUCTION = (
    f"Reply with your move on a final line of the form '{MOVE_MARKER} <move>', using one of "
    "the legal moves exactly as written."
)


def extract_answer(reply: str, chat: bool) -> str:
    """The move text of ``reply``: what follows the *last* ``Move:`` marker on its line.

    Without a marker: the first line of a raw continuation (the prompt ended with the
    marker), or the last non-empty line of a chat reply.

    Example:
        >>> extract_answer("Move: a1 is weak.\\nMove: b2", chat=True)
        'b2'
    """
    at = reply.rfind(MOVE_MARKER)
    if at >= 0:
        return reply[at + len(MOVE_MARKER) :].split("\n", 1)[0].strip()
    lines = [line.strip() for line in reply.split("\n")]
    if not chat:
        return lines[0] if lines else ""
    nonempty = [line for line in lines if line]
    return nonempty[-1] if nonempty else ""


def _question(obs: Observation) -> str:
    body = obs.prompt.rsplit("\n", 1)[0] if obs.prompt.endswith(MOVE_MARKER) else obs.prompt
    return f"{body}\n{INSTRUCTION}"


def _feedback(answer: str, failure: ParseFailure, obs: Observation) -> str:
    why = "is not legal now" if failure.kind == "illegal" else "names no legal move"
    return f"'{answer[:40]}' {why}. Legal moves: {', '.join(obs.texts)}."


def render_prompt(
    tokenizer, obs: Observation, history: list[tuple[str, str]], view: str = "full"
) -> str:
    """The text to generate from, given earlier ``(reply, feedback)`` rounds (raw models read
    the prompt in their base's ``view``)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": _question(obs)}]
        for reply, feedback in history:
            messages.append({"role": "assistant", "content": reply})
            messages.append({"role": "user", "content": f"{feedback} {INSTRUCTION}"})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt = model_prompt(obs.prompt, view)
    if not history:
        return prompt
    body = prompt.rsplit("\n", 1)[0]
    notes = "\n".join(f"Rejected: {feedback}" for _, feedback in history)
    return f"{body}\n{notes}\n{MOVE_MARKER}"


def generate_decisions(agent, observations: list[Observation], rngs) -> list[Decision]:
    """Decide every observation by generation, re-prompting failed ones in batches."""
    engine, opts = agent.engine, agent.options
    chat = bool(getattr(engine.tokenizer, "chat_template", None))
    max_new = opts.max_new_tokens or (DEFAULT_CHAT_TOKENS if chat else DEFAULT_RAW_TOKENS)
    history: list[list[tuple[str, str]]] = [[] for _ in observations]
    replies: list[list[str]] = [[] for _ in observations]
    counts = np.zeros((len(observations), 2), dtype=int)  # illegal, unparseable
    decisions: list[Decision | None] = [None] * len(observations)
    pending = list(range(len(observations)))
    for _ in range(opts.retries + 1):
        if not pending:
            break
        prompts = [
            render_prompt(engine.tokenizer, observations[i], history[i], engine.view)
            for i in pending
        ]
        seed = int(rngs[pending[0]].integers(2**31 - 1)) if opts.temperature > 0 else 0
        outputs = engine.generate(
            prompts,
            [agent.role] * len(pending),
            max_new_tokens=max_new,
            stop_at_newline=not chat,
            temperature=opts.temperature,
            seed=seed,
        )
        still = []
        for i, (reply, version) in zip(pending, outputs, strict=True):
            obs = observations[i]
            replies[i].append(reply)
            answer = extract_answer(reply, chat)
            parsed = obs.parse(answer)
            if isinstance(parsed, ParseFailure):
                counts[i, 0 if parsed.kind == "illegal" else 1] += 1
                history[i].append((reply, _feedback(answer, parsed, obs)))
                still.append(i)
                continue
            decisions[i] = Decision(
                action=int(parsed),
                text="\n---\n".join(replies[i]),
                illegal=int(counts[i, 0]),
                unparseable=int(counts[i, 1]),
                version=version,
            )
        pending = still
    version = agent.version
    for i in pending:  # out of re-prompts: forfeit
        decisions[i] = Decision(
            action=None,
            text="\n---\n".join(replies[i]),
            illegal=int(counts[i, 0]),
            unparseable=int(counts[i, 1]),
            version=version,
        )
    return decisions
