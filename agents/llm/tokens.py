"""Token ids for prompts and candidate continuations, for any Hugging Face tokenizer.

Scoring needs the candidate's tokens *as they follow the prompt*. Most tokenizers (byte-level
BPE such as the arena's own, GPT-2, Qwen2, Llama 3) have the prefix property for our texts,
whose completions start with a space: ``encode(prompt + c) == encode(prompt) + encode(c)``.
Then a candidate is tokenized once and cached (there are few distinct move texts). Tokenizers
without it (SentencePiece variants that add a prefix space) are detected by a probe at start-up
and get the exact but slower path: tokenize ``prompt + c`` and cut off the prompt's tokens.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

_PROBES = (
    ("Legal moves: a1, b2\nMove:", " a1\n"),
    ("Legal moves: check, bet\nMove:", " check\n"),
    ("Board (row 1 is the bottom):\nMove:", " 7\n"),
    ("Pot: 2.\nMove:", " raise#3\n"),
)
_CACHE_LIMIT = 100_000


class TokenCodec:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.split = all(self._prefix_holds(p, c) for p, c in _PROBES)
        self._cache: dict[str, list[int]] = {}
        if not self.split:
            logger.info("tokenizer lacks the prefix property: candidates tokenized in context")

    def _encode(self, texts: list[str], special: bool) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=special)["input_ids"]

    def _prefix_holds(self, prompt: str, completion: str) -> bool:
        joint, alone = self._encode([prompt + completion, prompt], True)
        return joint == alone + self._encode([completion], False)[0]

    def prompts(self, prompts: list[str]) -> list[list[int]]:
        out = self._encode(prompts, True)
        if any(not ids for ids in out):
            raise ValueError("a prompt tokenized to no tokens")
        return out

    def candidates(self, prompt: str, prompt_ids: list[int], texts) -> list[list[int]]:
        """Token ids of each continuation in ``texts`` after ``prompt``."""
        if self.split:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                if len(self._cache) > _CACHE_LIMIT:
                    self._cache.clear()
                self._cache.update(zip(missing, self._encode(missing, False), strict=True))
            out = [self._cache[t] for t in texts]
        else:
            out = []
            joints = self._encode([prompt + t for t in texts], True)
            for text, joint in zip(texts, joints, strict=True):
                if joint[: len(prompt_ids)] == prompt_ids:
                    out.append(joint[len(prompt_ids) :])
                else:  # the boundary token merged prompt and completion: score it alone
                    out.append(self._encode([text], False)[0])
        if any(not ids for ids in out):
            raise ValueError(f"a candidate tokenized to no tokens: {list(texts)}")
        return out

    def stop_ids(self, newline: bool) -> list[int]:
        """End-of-sequence ids for generation, plus the newline token when it is one token."""
        ids = self.tokenizer.eos_token_id
        stops = list(ids) if isinstance(ids, list) else [ids] if ids is not None else []
        if newline:
            nl = self._encode(["\n"], False)[0]
            if len(nl) == 1:
                stops.append(nl[0])
        return stops
