"""How a training base is held: the one decision (``train_precision``) and its defaults."""

from __future__ import annotations

from agents.llm.model_io import TrainPrecision, train_precision
from training.config import QuantOptions


def test_default_training_precision_is_nf4_on_cuda_and_fp32_on_cpu():
    auto = QuantOptions()
    assert train_precision(auto, "cpu") == TrainPrecision(None, "float32")
    assert train_precision(auto, "cuda") == TrainPrecision("nf4", "bfloat16")
    assert train_precision(auto, "cuda:1") == TrainPrecision("nf4", "bfloat16")


def test_explicit_training_precision_is_kept():
    assert train_precision(QuantOptions(enabled=True), "cpu") == TrainPrecision("nf4", "float32")
    assert train_precision(QuantOptions(enabled=False), "cuda") == TrainPrecision(None, "bfloat16")
    bf16 = QuantOptions(compute_dtype="bfloat16")
    assert train_precision(bf16, "cpu").to_dict() == {"quantize": None, "dtype": "bfloat16"}
    fp4 = QuantOptions(enabled=True, quant_type="fp4", compute_dtype="float16")
    assert train_precision(fp4, "cuda") == TrainPrecision("fp4", "float16")
