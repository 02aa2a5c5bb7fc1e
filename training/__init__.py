"""Training: match logs -> SFT and preference datasets -> QLoRA SFT and DPO/IPO adapters.

* ``sft_data`` / ``pref_data`` (+ ``rollouts``): dataset builders (``arena data sft|prefs``).
* ``sft`` / ``dpo`` (+ ``models``, ``train_common``): TRL training (``arena train sft|dpo``).
* ``devsets`` / ``evaluate``: frozen, hash-locked dev sets and ``arena eval``.
* ``manifest`` / ``reproduce``: run manifests and ``arena reproduce``.
* ``config``: the typed configurations every run records.
* ``base_model``: the locally built base model (``arena base build``).

Importing this package is cheap: torch, transformers and TRL load only when a run starts.
"""
