"""The forward passes behind ``Engine.score``, for one micro-batch of prompts.

Every candidate's log-likelihood needs the prompt's keys and values once, never once per
candidate. A micro-batch is answered in up to three passes, each reading the cache of the last:

1. *prefix* pass: prompts that use the same adapter and start with the same tokens (the game's
   header: rules, seat, board legend; ~40% of the tokens in the curated games) share that prefix;
   each shared prefix is computed once and its cache rows gathered for its prompts;
2. *stem* pass: the rest of each prompt but its last token (right-padded: causal attention
   already hides padding that comes after the real tokens, so without shared prefixes no mask is
   needed and the fast causal kernel runs);
3. *branch* pass: each candidate as ``[last prompt token, c_1 .. c_{n-1}]`` predicting
   ``c_1 .. c_n``. With SDPA or eager attention all branches of a prompt share its row under a
   tree mask (each branch sees the prompt and its own earlier tokens), so nothing is copied per
   candidate; with kernels that take no custom mask (flash-attention) the cache rows are gathered
   once per candidate instead.

``keys.valid`` tracks which cached positions hold real tokens of each row, so padding and other
groups' prefixes stay invisible; positions are explicit, so RoPE sees each row's true offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

MIN_PREFIX = 16  # shared tokens that make a prefix pass worth its extra forward


@dataclass
class Keys:
    """What the branch pass may attend to: ``cache`` rows, their ``valid`` [rows, keys] mask,
    and each row's prompt length minus one (the position of its last prompt token)."""

    cache: object | None
    valid: object
    lengths: object


def shared_prefixes(stems: list[list[int]], names: list[str | None]) -> list[tuple[int, int]]:
    """Groups of consecutive rows (same adapter, >= ``MIN_PREFIX`` common leading tokens) as
    ``(prefix length, first row)`` per row; rows that share nothing get prefix length 0.

    Each row keeps at least one token of its own after the prefix.
    """
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(stems):
        shared, j = len(stems[i]) - 1, i + 1
        while j < len(stems) and names[j] == names[i]:
            common = 0
            for a, b in zip(stems[i], stems[j], strict=False):  # up to the shorter one
                if a != b:
                    break
                common += 1
            common = min(shared, common, len(stems[j]) - 1)
            if common < MIN_PREFIX:
                break
            shared, j = common, j + 1
        size = j - i
        out += [(shared if size > 1 else 0, i)] * size
        i = j
    return out


def _mask(engine, allowed):
    """A boolean [rows, 1, queries, keys] mask in the form the attention kernel takes."""
    import torch

    if engine._attn == "eager":
        floor = torch.finfo(engine._dtype).min
        return torch.zeros(allowed.shape, dtype=engine._dtype, device=allowed.device).masked_fill(
            ~allowed, floor
        )
    return allowed


def _right_padded(rows: list[list[int]], pad: int):
    import torch

    ids = torch.full((len(rows), max(1, max(map(len, rows)))), pad, dtype=torch.long)
    for r, row in enumerate(rows):
        if row:
            ids[r, : len(row)] = torch.tensor(row)
    return ids


def stem_pass(engine, stems: list[list[int]], names: list[str | None]) -> Keys:
    """Passes 1 and 2: the cache of every prompt but its last token."""
    import torch

    device, pad = engine.device, engine.tokenizer.pad_token_id
    lengths = torch.tensor([len(s) for s in stems])
    if int(lengths.max()) == 0:
        return Keys(None, torch.zeros((len(stems), 0), dtype=torch.bool), lengths)
    groups = shared_prefixes(stems, names)
    if not any(p for p, _ in groups):
        ids = _right_padded(stems, pad)
        out = engine._forward(names, input_ids=ids.to(device), use_cache=True, **engine._keep)
        valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        engine.stats.update(forwards=1, stem_tokens=int(lengths.sum()))
        return Keys(output_cache(out), valid, lengths)
    firsts = sorted({first for p, first in groups if p})
    slot = {first: k for k, first in enumerate(firsts)}
    prefix = torch.tensor([p for p, _ in groups])
    heads = [stems[first][: groups[first][0]] for first in firsts]
    ids = _right_padded(heads, pad)
    out = engine._forward(
        [names[f] for f in firsts], input_ids=ids.to(device), use_cache=True, **engine._keep
    )
    cache = output_cache(out)
    cache.batch_select_indices(torch.tensor([slot.get(f, 0) for _, f in groups]).to(device))
    width = ids.shape[1]
    seen = torch.arange(width)[None, :] < prefix[:, None]
    tails = [s[p:] for s, (p, _) in zip(stems, groups, strict=True)]
    ids = _right_padded(tails, pad)
    size = ids.shape[1]
    causal = torch.ones((size, size), dtype=torch.bool).tril()
    if engine._tree:
        allowed = torch.cat(
            [seen[:, None, :].expand(-1, size, -1), causal.expand(len(stems), -1, -1)], -1
        )
        mask = _mask(engine, allowed[:, None].to(device))
    else:
        mask = torch.cat([seen, torch.ones((len(stems), size), dtype=torch.bool)], 1).long()
        mask = mask.to(device)
    engine._forward(
        names,
        input_ids=ids.to(device),
        attention_mask=mask,
        position_ids=(prefix[:, None] + torch.arange(size)).to(device),
        use_cache=True,
        **{engine._cache_kw: cache},
    )
    tail_lengths = torch.tensor([len(t) for t in tails])
    valid = torch.cat([seen, torch.arange(size)[None, :] < tail_lengths[:, None]], 1)
    computed = sum(len(h) for h in heads) + int(tail_lengths.sum())
    engine.stats.update(forwards=2, stem_tokens=computed, prefix_groups=len(firsts))
    return Keys(cache, valid, lengths)


def tree_pass(engine, keys: Keys, branches, counts, names):
    """Pass 3 with a tree mask: one row per prompt holding all of its branches."""
    import torch

    device, rows = engine.device, len(counts)
    per_row = np.cumsum([0, *counts])
    size = max(sum(len(branches[k][0]) for k in range(a, b)) for a, b in pairwise(per_row))
    inp = torch.full((rows, size), engine.tokenizer.pad_token_id, dtype=torch.long)
    tgt = torch.zeros((rows, size), dtype=torch.long)
    branch = torch.full((rows, size), -1, dtype=torch.long)
    step = torch.zeros((rows, size), dtype=torch.long)
    for row, (a, b) in enumerate(pairwise(per_row)):
        at = 0
        for k in range(a, b):
            tokens, target = branches[k]
            n = len(tokens)
            inp[row, at : at + n] = torch.tensor(tokens)
            tgt[row, at : at + n] = torch.tensor(target)
            branch[row, at : at + n] = k
            step[row, at : at + n] = torch.arange(n)
            at += n
    live = branch >= 0
    order = torch.arange(size)
    tree = (branch[:, :, None] == branch[:, None, :]) & (order[:, None] >= order[None, :])
    tree &= live[:, :, None]
    tree |= torch.eye(size, dtype=torch.bool) & ~live[:, :, None]  # padding: itself only
    allowed = torch.cat([keys.valid[:, None, :] & live[:, :, None], tree], dim=-1)
    kwargs = {engine._cache_kw: keys.cache, "use_cache": True} if keys.cache is not None else {}
    out = engine._forward(
        names,
        input_ids=inp.to(device),
        attention_mask=_mask(engine, allowed[:, None].to(device)),
        position_ids=(keys.lengths[:, None] + step).to(device),
        **kwargs,
    )
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    picked = logp.gather(-1, tgt.to(device).unsqueeze(-1)).squeeze(-1).double()
    ll = torch.zeros(len(branches), dtype=torch.float64, device=device)
    return ll.index_add_(0, branch[live].to(device), picked[live.to(device)])


def gathered_pass(engine, keys: Keys, branches, owner, names):
    """Pass 3 for kernels without custom masks: cache rows gathered once per candidate."""
    import torch

    device = engine.device
    inp = _right_padded([tokens for tokens, _ in branches], engine.tokenizer.pad_token_id)
    tgt = _right_padded([target for _, target in branches], 0)
    size = inp.shape[1]
    live = torch.arange(size)[None, :] < torch.tensor([len(t) for t, _ in branches])[:, None]
    mask, kwargs = live, {}
    if keys.cache is not None:
        keys.cache.batch_select_indices(owner.to(device))
        mask = torch.cat([keys.valid[owner], live], dim=1)
        kwargs = {engine._cache_kw: keys.cache, "use_cache": True}
    out = engine._forward(
        [names[int(o)] for o in owner],
        input_ids=inp.to(device),
        attention_mask=mask.long().to(device),
        position_ids=(keys.lengths[owner][:, None] + torch.arange(size)).to(device),
        **kwargs,
    )
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    picked = logp.gather(-1, tgt.to(device).unsqueeze(-1)).squeeze(-1)
    return (picked * live.to(device)).sum(-1).double()


def score_chunk(engine, prompts, cands, names):
    """``[(logliks, token counts)]`` per prompt of one micro-batch (see the module docstring)."""
    import torch

    with torch.inference_mode():
        keys = stem_pass(engine, [p[:-1] for p in prompts], names)
        pairs = zip(prompts, cands, strict=True)
        branches = [([p[-1], *c[:-1]], c) for p, group in pairs for c in group]
        counts = [len(group) for group in cands]
        if engine._tree:
            ll = tree_pass(engine, keys, branches, counts, names)
        else:
            owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor(counts))
            ll = gathered_pass(engine, keys, branches, owner, names)
    ll = ll.cpu().numpy()
    sizes = np.asarray([len(target) for _, target in branches])
    engine.stats.update(
        chunks=1,
        forwards=1,
        prompts=len(prompts),
        prompt_tokens=sum(map(len, prompts)),
        candidates=len(branches),
        candidate_tokens=int(sizes.sum()),
    )
    bounds = np.cumsum([0, *counts])
    return [(ll[a:b], sizes[a:b]) for a, b in pairwise(bounds)]


def output_cache(output):
    """The KV cache of a forward output (``cache`` in transformers 5, else ``past_key_values``)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values
