"""Build the arena's own small base model: a local tokenizer plus a Llama-style causal LM.

No model hub is reachable from the arena's machines, so the base is made here. It is pretrained
on game text only: the prompt a player sees (``games.observe``) followed by a legal move in the
canonical completion form (``games.completion_text``: ``" b3\\n"``), then end-of-sequence.
States come from *mixed* play (each seat of a board game is uniform random or a weak MCTS, so
positions are varied and realistic), but the completion trained at every state is a *uniformly
random* legal move. The base therefore learns the text format and the rules (which moves are
legal), and its policy is close to uniform over legal moves: it knows no strategy. Strategy is
what the LoRA adapters learn.

Presets with ``tasks`` beyond ``move`` pretrain on the rules the way a text-pretrained LLM
knows a game from game records and commentary (``rules_texts``): after the move comes the
position it leads to (or the result: who has won), and positions are also followed by the
moves that win now and the opponent's moves that must be blocked. None of this is strategy
(the moves are random or weak-MCTS ones, the tactics are one-ply facts of the rules), but it
gives the network board features (lines, threats) that SFT only has to connect to ``Move:``.
Such presets read the compact view (``games.compact``: the board right before ``Move:``, about
a fifth of the tokens), recorded as ``"view"`` in ``arena_base.json`` so the agent and the
trainers use the same text. Dev-set positions and their symmetric images are left out of the
corpus, as out of every training set.

The tokenizer is a byte-level BPE trained on the same corpus with the ``tokenizers`` library
(byte-level, so any text, including other OpenSpiel games' views, still encodes). It keeps the
prefix property the scoring engine relies on: ``encode(prompt) + encode(completion) ==
encode(prompt + completion)`` because the completion starts with a space.

Everything is deterministic from ``seed`` (corpus, tokenizer, initialisation, batch order) for a
given machine and thread count. The output folder loads with ``AutoTokenizer.from_pretrained``
and ``AutoModelForCausalLM.from_pretrained``; ``arena_base.json`` records how it was made.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from agents.llm.model_io import file_sha256
from games import CURATED_GAMES, InputError, completion_text, load_game, observe, sample_chance
from games.files import atomic_dir, atomic_write
from games.limits import check_int, check_seed

logger = logging.getLogger(__name__)

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|eos|>"
MANIFEST = "arena_base.json"


@dataclass(frozen=True)
class BasePreset:
    """Model shape, corpus size and training budget of one base.

    Attributes:
        name: preset name, recorded in ``arena_base.json``.
        hidden_size, layers, heads, kv_heads, intermediate_size: the Llama shape.
        vocab_size: upper bound for the BPE vocabulary (the corpus may saturate below it).
        examples_per_game: (prompt, completion) pairs per curated game in the corpus.
        steps, batch_size, lr, warmup: AdamW with linear warmup then cosine decay.
        mcts_fraction: probability that a board-game seat is MCTS rather than random.
        mcts_simulations: simulations of that MCTS (weak on purpose: it only varies positions).
        threads: torch CPU threads while training (None: torch's default). The presets use
            1: the result is then the same on any machine, and a test session that shares its
            cores with other work does not stall (two OpenMP threads on two busy cores ran
            this build 8x slower than one thread: 276 s vs 33 s, measured).
        view: the prompt view the base reads (``full`` or ``compact``, ``games.compact``).
        tasks: ``move`` (a random legal move after each prompt); ``next`` (then the position
            it leads to, or the result); ``tactics`` (the moves that win now and the moves
            that must be blocked; board games).
        per_game: ``(game, positions)`` overrides of ``examples_per_game`` (a connect_four
            example costs about three tic_tac_toe ones; kuhn_poker has 12 information states).
        quiet_tactics: share of positions with nothing to win or block that still get a
            tactics example (random play meets mostly quiet positions; a base trained on all
            of them learned to answer "none": 39 of 60 dev positions right, measured).
        pretokenizer: how text is split before BPE (``build_tokenizer``): ``words`` keeps a
            cell label such as `` a1`` in one token; ``gpt2`` (the bases built before it)
            split it in two.
    """

    name: str
    hidden_size: int
    layers: int
    heads: int
    kv_heads: int
    intermediate_size: int
    vocab_size: int = 512
    max_positions: int = 1024
    examples_per_game: int = 800
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.01
    mcts_fraction: float = 0.3
    mcts_simulations: int = 8
    threads: int | None = None
    games: tuple[str, ...] = field(default=CURATED_GAMES)
    view: str = "full"
    tasks: tuple[str, ...] = ("move",)
    per_game: tuple[tuple[str, int], ...] = ()
    quiet_tactics: float = 0.25
    pretokenizer: str = "words"


PRESETS: dict[str, BasePreset] = {
    # ~0.13M parameters: 20-35 s on 2 CPU cores. For tests.
    "tiny": BasePreset(
        "tiny", hidden_size=64, layers=2, heads=4, kv_heads=2, intermediate_size=192, threads=1
    ),
    # Compact view, pretrained on the rules (moves, next positions, results, one-ply tactics).
    # For the demo, the nightly cycle and the learning benchmarks (LEARNING.md). 2,400 steps
    # (~340 s on one thread): at 800 the base answered "Wins now: none / Must block: none" on
    # every held-out board (scripts/probe_base_rules.py) and one SFT night did not beat it on
    # some builds (0.535 -> 0.495); at 2,400 one night lifts dev accuracy 0.395 -> 0.645 and
    # 0.47 -> 0.67 (seeds 0 and 1; LEARNING.md, "A base that knows the rules").
    "small": BasePreset(
        "small",
        hidden_size=128,
        layers=4,
        heads=4,
        kv_heads=2,
        intermediate_size=384,
        examples_per_game=3000,
        per_game=(
            ("tic_tac_toe", 5000),
            ("connect_four", 300),
            ("kuhn_poker", 100),
            ("leduc_poker", 300),
        ),
        steps=2400,
        batch_size=32,
        lr=3e-3,
        warmup=50,
        threads=1,
        view="compact",
        tasks=("move", "next", "tactics"),
    ),
}


def resolve_preset(preset: str | BasePreset, **overrides) -> BasePreset:
    """A preset by name (``tiny``, ``small``) or as given, with field ``overrides`` applied."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise InputError(f"unknown base preset '{preset}'; choose from {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    unknown = set(overrides) - set(BasePreset.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown base preset field(s): {', '.join(sorted(unknown))}")
    preset = replace(preset, **overrides)
    check_int("steps", preset.steps, 1, 10_000_000)
    return preset


@dataclass(frozen=True)
class Example:
    game: str
    prompt: str
    completion: str


def build_corpus(preset: BasePreset, seed: int) -> list[Example]:
    """Prompts from mixed play, each followed by a uniformly random legal move.

    Whole games are played until ``examples_per_game`` states have been collected per game;
    the move played on the board is the seat's own choice (random or MCTS), the completion
    recorded for the state is an independent uniform draw (see the module docstring).
    """
    from agents.scripted import MCTSAgent
    from games.compact import model_prompt
    from training.devsets import heldout_prompts
    from training.rules import move_text, tactics_text

    rng = np.random.default_rng([seed, 0xBA5E])
    examples: list[Example] = []
    rules = preset.tasks != ("move",) or preset.view != "full"  # else: the original corpus
    for name in preset.games:
        handle = load_game(name)
        mcts = MCTSAgent(handle, preset.mcts_simulations) if handle.perfect_information else None
        held = heldout_prompts(handle.spec) if rules else frozenset()
        wanted = dict(preset.per_game).get(name, preset.examples_per_game)
        collected = 0
        while collected < wanted:
            state = handle.game.new_initial_state()
            seats = [mcts is not None and rng.random() < preset.mcts_fraction for _ in range(2)]
            while not state.is_terminal() and collected < wanted:
                if state.is_chance_node():
                    state.apply_action(sample_chance(state, rng))
                    continue
                obs = observe(handle, state)
                target = int(rng.integers(len(obs.texts)))
                if not rules:
                    examples.append(Example(name, obs.prompt, completion_text(obs.texts[target])))
                elif obs.prompt not in held:
                    prompt = model_prompt(obs.prompt, preset.view)
                    text = move_text(
                        handle, state, obs, obs.actions[target], preset.view, preset.tasks
                    )
                    examples.append(Example(name, prompt, text))
                    extra = tactics_text(handle, state, obs, preset.view)
                    quiet = extra is not None and extra[1].count("none") == 2
                    if quiet and rng.random() >= preset.quiet_tactics:
                        extra = None
                    if "tactics" in preset.tasks and extra is not None:
                        examples.append(Example(name, *extra))
                collected += 1
                if seats[obs.player]:
                    action = mcts.act(obs, rng).action
                else:
                    action = obs.actions[int(rng.integers(len(obs.actions)))]
                state.apply_action(action)
    return examples


# GPT-2's pre-tokenizer (``ByteLevel(use_regex=True)``) splits letters from digits, so " a1"
# became "Ġa" + "1" whatever the corpus. Ours is GPT-2's regex with letters, digits and "_" in
# one word: " a1" (a cell and its move) and "tic_tac_toe" can each become one BPE token.
WORDS_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?[\p{L}\p{N}_]+| ?[^\s\p{L}\p{N}_]+|\s+(?!\S)|\s+"
PRETOKENIZERS = ("gpt2", "words")


def build_tokenizer(texts: list[str], vocab_size: int, pretokenizer: str = "words"):
    """A byte-level BPE tokenizer trained on ``texts``, wrapped for transformers.

    ``pretokenizer``: ``words`` (default) splits text into words of letters, digits and ``_``
    (each with its leading space) before BPE, so a cell label such as `` a1`` is one token once
    the corpus makes it frequent; ``gpt2`` is GPT-2's split (letters apart from digits), which
    the bases built before it used. Both keep the prefix property for completions that start
    with a space after a prompt that ends in ``Move:``.

    Returns a ``PreTrainedTokenizerFast`` with ``<|pad|>`` (id 0) and ``<|eos|>`` (id 1).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if pretokenizer not in PRETOKENIZERS:
        raise InputError(f"unknown pretokenizer '{pretokenizer}'; use {' or '.join(PRETOKENIZERS)}")
    tok = Tokenizer(models.BPE())
    if pretokenizer == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(WORDS_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        model_max_length=1024,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def _model_config(preset: BasePreset, tokenizer):
    from transformers import LlamaConfig

    # Llama rather than Qwen2: transformers 5 maps model_type "qwen2" to Qwen2Tokenizer, which
    # replaces our byte-level pre-tokenizer with Qwen's regex on AutoTokenizer loading.
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.kv_heads,
        max_position_embeddings=preset.max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )


def _lr_at(step: int, preset: BasePreset) -> float:
    """Linear warmup, then cosine decay to 10% of the peak learning rate."""
    if step < preset.warmup:
        return preset.lr * (step + 1) / preset.warmup
    progress = (step - preset.warmup) / max(1, preset.steps - preset.warmup)
    return preset.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _train(model, sequences: list[list[int]], preset: BasePreset, seed: int, progress: bool):
    """Plain AdamW causal-LM training on padded random batches; returns the loss curve."""
    import torch
    from tqdm import tqdm

    pad = model.config.pad_token_id
    rng = np.random.default_rng([seed, 0x7EA1])
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay, betas=(0.9, 0.98)
    )
    model.train()
    losses: list[float] = []
    bar = tqdm(range(preset.steps), desc=f"base {preset.name}", unit="step", disable=not progress)
    # Batches come from one length bucket (sequences sorted by length, cut in 16 runs): board
    # games of different sizes padded together spent most of each step on padding.
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    buckets = [b for b in np.array_split(np.array(order), min(16, len(order))) if len(b)]
    weights = np.array([len(b) for b in buckets], dtype=np.float64)
    for step in bar:
        bucket = buckets[int(rng.choice(len(buckets), p=weights / weights.sum()))]
        rows = [sequences[i] for i in rng.choice(bucket, size=preset.batch_size)]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        for group in optimiser.param_groups:
            group["lr"] = _lr_at(step, preset)
        labels = ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
    model.eval()
    return losses


def build_base(
    preset: str | BasePreset,
    out: str | Path,
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    **overrides,
) -> Path:
    """Build, pretrain and save a base model folder; returns its path.

    Args:
        preset: ``"tiny"`` (tests, ~20 s on 2 CPU cores), ``"small"`` (demo, a few minutes), or
            a ``BasePreset``.
        out: the folder to create. It is written under a temporary name and renamed at the end,
            so a half-built base never looks complete; ``arena_base.json`` records the
            sha256 of every file, checked whenever the base is loaded.
        seed: seeds the corpus, tokenizer input order, initialisation and batch order.
        progress: show a tqdm progress bar while training.
        overwrite: replace an existing base at ``out`` (otherwise that is an InputError).
        **overrides: ``BasePreset`` fields to change (e.g. ``steps=10`` for a quick check).

    Example:
        >>> build_base("tiny", "arena-data/base/tiny", seed=0)  # doctest: +SKIP
    """
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    check_seed("seed", seed)
    config = resolve_preset(preset, **overrides)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} already exists and is not empty (pass overwrite / --force)")
    started = time.perf_counter()
    torch.set_flush_denormal(True)  # tiny weights/gradients go subnormal: 10x slower on CPU
    examples = build_corpus(config, seed)
    texts = [e.prompt + e.completion for e in examples]
    tokenizer = build_tokenizer(texts, config.vocab_size, config.pretokenizer)
    sequences = [ids + [tokenizer.eos_token_id] for ids in tokenizer(texts)["input_ids"]]
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_model_config(config, tokenizer))
    params = sum(p.numel() for p in model.parameters())
    logger.info("base %s: %d parameters, %d examples", config.name, params, len(examples))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(config.threads or threads)
        losses = _train(model, sequences, config, seed, progress)
    finally:
        torch.set_num_threads(threads)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=16,
        do_sample=False,
    )
    tokens = sum(map(len, sequences))
    manifest = {
        "preset": config.name,
        "view": config.view,
        "seed": seed,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "parameters": params,
        "corpus": {
            "examples": len(examples),
            "tokens": tokens,
            "mean_tokens": round(tokens / len(sequences), 2),
            "per_game": {g: sum(e.game == g for e in examples) for g in config.games},
            "vocab_size": len(tokenizer),
        },
        "loss": {
            "first": round(losses[0], 4),
            "final": round(float(np.mean(losses[-20:])), 4),
        },
        "seconds": round(time.perf_counter() - started, 2),
        "torch_threads": config.threads or threads,
        "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
    }
    with atomic_dir(out, overwrite=True) as tmp:  # a half-written base never has the name
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # every file's sha256: checked before the base plays or trains (model_io.check_base)
        manifest["files"] = {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def read_manifest(folder: str | Path) -> dict | None:
    """The ``arena_base.json`` of a locally built base, or None for any other model folder."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
