"""Parsers: one function per provider, from one upstream model record to the common entry.

A parser reads only the record it is given and never guesses: a field the provider does not send stays
`None` (unknown), never 0. Prices come out in the one unit the catalog uses everywhere, USD per 1M tokens.
Display names are not decided here; `naming.resolve_display_name` does that from the `display_name` and
`name` values a parser hands over, so every provider goes through the same seed rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

# Modality values the catalog knows; `schema.CatalogSchema` refuses anything else.
MODALITIES = ("text", "multimodal", "image", "embedding", "audio", "video", "moderation", "rerank")

PER_TOKEN_TO_PER_MTOK = Decimal(1_000_000)


@dataclass
class UpstreamModel:
    """What a parser extracts from one upstream record, before names are resolved."""

    model_id: Any
    display_name: Any = None
    name: Any = None
    context_length: int | None = None
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    modality: str = "text"
    is_free: bool = False
    upstream: dict = field(default_factory=dict)


Parser = Callable[[dict], UpstreamModel]


def _price(value: Any, scale: Decimal = Decimal(1)) -> float | None:
    """A non-negative price as float rounded to 1e-6 USD per 1M tokens; None when absent or a sentinel.

    OpenRouter marks variable pricing (`openrouter/auto`) with "-1": that is "unknown", not a price.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)) * scale
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return round(float(amount), 6)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _id_modality(model_id: str) -> str:
    """Modality from id words, for providers whose list says nothing else (OpenAI, Groq, Nebius, ...)."""
    words = str(model_id).lower()
    if "embed" in words or words.rsplit("/", 1)[-1].startswith(("bge-", "e5-", "gte-")):
        return "embedding"
    if "moderation" in words or "guard" in words:
        return "moderation"
    if any(w in words for w in ("whisper", "tts", "transcribe", "audio", "realtime")):
        return "audio"
    if any(w in words for w in ("dall-e", "gpt-image", "flux", "imagen", "sdxl", "stable-diffusion")):
        return "image"
    if "vision" in words or "-vl-" in words or words.endswith("-vl"):
        return "multimodal"
    return "text"


def parse_openrouter(record: dict) -> UpstreamModel:
    arch = record.get("architecture") or {}
    pricing = record.get("pricing") or {}
    inputs = set(arch.get("input_modalities") or [])
    outputs = set(arch.get("output_modalities") or [])
    if not inputs and isinstance(arch.get("modality"), str):
        left, _, right = arch["modality"].partition("->")
        inputs, outputs = set(left.split("+")), set(right.split("+"))
    if "image" in outputs:
        modality = "image"
    elif inputs - {"text"}:
        modality = "multimodal"
    else:
        modality = "text"
    model_id = record.get("id")
    prompt = _price(pricing.get("prompt"), PER_TOKEN_TO_PER_MTOK)
    completion = _price(pricing.get("completion"), PER_TOKEN_TO_PER_MTOK)
    return UpstreamModel(
        model_id=model_id,
        name=record.get("name"),
        context_length=_int(record.get("context_length")),
        input_price_per_mtok=prompt,
        output_price_per_mtok=completion,
        modality=modality,
        is_free=isinstance(model_id, str) and model_id.endswith(":free"),
        upstream=record,
    )


def parse_deepinfra(record: dict) -> UpstreamModel:
    meta = record.get("metadata") or {}
    pricing = meta.get("pricing") or {}
    tags = set(meta.get("tags") or [])
    model_id = record.get("id")
    if not meta:
        # DeepInfra's OpenAI-compatible list gives metadata only to chat/completion models; the rest are
        # embedding, image or tool models, told apart by their ids.
        modality = _id_modality(model_id)
        if modality == "text":
            modality = "image"
    else:
        modality = "multimodal" if "vision" in tags else _id_modality(model_id)
    return UpstreamModel(
        model_id=model_id,
        context_length=_int(meta.get("context_length")),
        input_price_per_mtok=_price(pricing.get("input_tokens")),  # already USD per 1M tokens
        output_price_per_mtok=_price(pricing.get("output_tokens")),
        modality=modality,
        upstream=record,
    )


def parse_openai_compatible(record: dict) -> UpstreamModel:
    """Cerebras, Nebius, OpenAI: only an id (and owner) per model, no name, context or price."""
    model_id = record.get("id")
    return UpstreamModel(model_id=model_id, modality=_id_modality(model_id), upstream=record)


def parse_groq(record: dict) -> UpstreamModel:
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        # Groq calls it context_window; reading context_length gives nothing.
        context_length=_int(record.get("context_window")),
        modality=_id_modality(model_id),
        upstream=record,
    )


def parse_google(record: dict) -> UpstreamModel:
    raw_id = record.get("name")
    model_id = raw_id.removeprefix("models/") if isinstance(raw_id, str) else raw_id
    methods = set(record.get("supportedGenerationMethods") or [])
    if methods & {"embedContent", "embedText"}:
        modality = "embedding"
    elif "predict" in methods or "image-generation" in str(model_id) or "imagen" in str(model_id):
        modality = "image"
    elif "generateContent" in methods and str(model_id).startswith(("gemini", "learnlm")):
        modality = "multimodal"
    else:
        modality = "text"
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("displayName"),
        context_length=_int(record.get("inputTokenLimit")),
        modality=modality,
        upstream=record,
    )


def parse_anthropic(record: dict) -> UpstreamModel:
    return UpstreamModel(
        model_id=record.get("id"),
        display_name=record.get("display_name"),
        modality="multimodal",  # every Claude model in the list takes images
        upstream=record,
    )


def parse_mistral(record: dict) -> UpstreamModel:
    caps = record.get("capabilities") or {}
    model_id = record.get("id")
    if caps.get("vision"):
        modality = "multimodal"
    elif caps.get("classification") and not caps.get("completion_chat"):
        modality = "moderation"
    else:
        modality = _id_modality(model_id)
    return UpstreamModel(
        model_id=model_id,
        # Mistral's `name` is usually the canonical id of an alias group, not a display name;
        # naming treats a name that looks like an id as an id.
        name=record.get("name"),
        context_length=_int(record.get("max_context_length")),
        modality=modality,
        upstream=record,
    )


def parse_cloudflare(record: dict) -> UpstreamModel:
    properties = {
        p.get("property_id"): p.get("value")
        for p in record.get("properties") or []
        if isinstance(p, dict)
    }
    task = str((record.get("task") or {}).get("name") or "").lower()
    if "embedding" in task:
        modality = "embedding"
    elif "text-to-image" in task or "image generation" in task:
        modality = "image"
    elif "speech" in task or "audio" in task:
        modality = "audio"
    elif "image-to-text" in task or "vision" in task:
        modality = "multimodal"
    else:
        modality = "text"
    context = _int(properties.get("max_total_tokens")) or _int(properties.get("context_window"))
    return UpstreamModel(
        # `name` is the model id (@cf/meta/...); `description` is prose and never a name.
        model_id=record.get("name"),
        context_length=context,
        modality=modality,
        upstream=record,
    )
