"""Classes of wrong names a review of 6,743 real ids found (Inference.net, Hyperbolic, Azure ML, Fireworks,
Ollama, Bedrock, fal.ai...): each class read by a rule, checked over several real ids of it and the ids the rule
must leave alone."""

from __future__ import annotations

import pytest

from modelsync_pipeline.naming import derive_name_from_id, make_names_unique, resolve_display_name


@pytest.mark.parametrize(("model_id", "expected"), [
    ("meta-llama/llama-3.1-8b-instruct/fp-8", "Llama 3.1 8B Instruct FP8"),
    ("meta-llama/llama-3.2-1b-instruct/fp-16", "Llama 3.2 1B Instruct FP16"),
    ("deepseek/deepseek-r1/fp-8", "DeepSeek R1 FP8"),
    ("deepseek/deepseek-v3-0324/fp-8", "DeepSeek V3 0324 FP8"),
    ("google/gemma-3-27b-instruct/bf-16", "Gemma 3 27B Instruct BF16"),
    ("mistralai/mistral-nemo-12b-instruct/fp-8", "Mistral Nemo 12B Instruct FP8"),
    ("qwen/qwen2.5-7b-instruct/bf-16", "Qwen2.5 7B Instruct BF16"),
    ("acme/llama-3-8b/int-8", "Llama 3 8B INT8"),
    # left alone: a precision written whole, and last segments that name a variant or a release
    ("qwen/qwen3-30b-a3b/fp8", "Qwen3 30B A3B FP8"),
    ("acme/llama-3-8b/q4_k_m", "Llama 3 8B Q4_K_M"),
    ("fal-ai/flux/dev", "FLUX Dev"),
    ("fal-ai/flux-pro/v1.1", "FLUX Pro v1.1"),
])
def test_a_precision_path_segment_is_appended_to_the_model_before_it(model_id, expected):
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "quantization"), [
    ("meta-llama/llama-3.1-8b-instruct/fp-8", "fp8"),
    ("google/gemma-3-27b-instruct/bf-16", "bf16"),
])
def test_a_precision_written_with_a_hyphen_sets_quantization(model_id, quantization):
    assert resolve_display_name(model_id).quantization == quantization


def test_precision_routes_of_one_model_differ_by_their_precision_alone():
    """Hyperbolic lists one model at two precisions: the names say "FP8" and "BF16", never "FP 8" in front."""
    ids = ["meta-llama/llama-3.1-70b-instruct/fp-8", "meta-llama/llama-3.1-70b-instruct/bf-16"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i)) for i in ids])]
    assert names == ["Llama 3.1 70B Instruct FP8", "Llama 3.1 70B Instruct BF16"]
