"""Training: match logs -> SFT and preference datasets -> QLoRA SFT and DPO/IPO adapters.

* ``sft_data`` / ``pref_data`` (+ ``build``, ``rollouts``, ``data_args``): dataset builders
  (``arena data sft|prefs``, ``scripts/build_*_jsonl.py``); each supplies its rows to
  ``build.build_dataset`` (inputs, streaming, split, manifest); games are played by a runner
  passed in (``games.runner``; local by default, ``arena.execution.runner.RayRunner`` from
  ``arena``).
* ``sft`` / ``dpo`` (+ ``train_common``): TRL training (``arena train sft|dpo``); the base and
  adapter I/O is ``agents.llm.model_io`` / ``agents.llm.adapters``.
* ``devsets`` / ``evaluate``: frozen, hash-locked dev sets and ``arena eval``.
* ``manifest`` / ``reproduce``: run manifests and ``arena reproduce``.
* ``config``: the typed configurations every run records.
* ``base_model``: the locally built base model (``arena base build``).

Layer: above ``games`` and ``agents``, below ``arena``; it never imports ``arena`` or Ray.
Importing this package is cheap: torch, transformers and TRL load only when a run starts.
"""
