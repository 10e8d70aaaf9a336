"""Parsers on the recorded payloads: the context, prices and modality a reader sees, and the documented filters.

Expected values were read by hand from the payload files and converted by hand from each provider's unit
(per token x 1e6; Novita's 0.0001 USD per 1M), never by calling a parser helper, so a wrong unit or a wrong
field fails here. Pure: no database, no network.
"""

from __future__ import annotations

import copy
import json
import functools
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers import parsers
from modelsync_pipeline.providers.http import RECORDED_DIR, STATIC_DIR, recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

SLUGS = [spec.slug for spec in PROVIDERS]
# Where the parser's model_id differs from the raw value.
MODEL_IDS = {"models/gemini-1.5-pro": "gemini-1.5-pro", "models/text-embedding-004": "text-embedding-004",
             "publishers/google/models/gemini-2.5-flash": "gemini-2.5-flash"}

# slug, raw id in the payload, context, input USD/1M, output USD/1M, modality. Comments give the raw values.
EXPECTED = [
    ("openrouter", "anthropic/claude-opus-4", 200000, 15.0, 75.0, "multimodal"),  # "0.000015"/"0.000075" per token
    ("openrouter", "openrouter/auto", 2000000, None, None, "text"),  # "-1": variable price, unknown
    ("deepinfra", "Qwen/Qwen3.5-27B", 262144, 0.26, 2.6, "multimodal"),  # tags ["vision"]; 2.5999999999999996
    ("deepinfra", "intfloat/multilingual-e5-large-instruct", None, None, None, "embedding"),  # no metadata
    ("deepinfra", "black-forest-labs/FLUX-1-schnell", None, None, None, "image"),
    ("cerebras", "llama3.1-8b", None, None, None, "text"),
    ("groq", "llama-3.1-8b-instant", 131072, None, None, "text"),  # context_window
    ("groq", "whisper-large-v3", 448, None, None, "audio"),
    ("nebius", "BAAI/bge-en-icl", None, None, None, "embedding"),
    ("google", "models/gemini-1.5-pro", 2000000, None, None, "multimodal"),  # inputTokenLimit
    ("google", "models/text-embedding-004", 2048, None, None, "embedding"),  # embedContent
    ("anthropic", "claude-opus-4-20250514", None, None, None, "multimodal"),
    ("openai", "dall-e-3", None, None, None, "image"),
    ("openai", "text-embedding-3-small", None, None, None, "embedding"),
    ("mistral", "pixtral-12b-2409", 131072, None, None, "multimodal"),  # max_context_length; capabilities.vision
    ("mistral", "mistral-moderation-2411", 32768, None, None, "moderation"),
    ("cloudflare-workers-ai", "@cf/openai/gpt-oss-120b", 128000, 0.35, 0.75, "text"),  # "per M input tokens"
    ("cloudflare-workers-ai", "@cf/baai/bge-m3", 60000, 0.0118, None, "embedding"),  # task "Text Embeddings"
    ("cloudflare-workers-ai", "@cf/openai/whisper", None, None, None, "audio"),  # "per audio minute": no token price
    ("together", "MiniMaxAI/MiniMax-M2.5", 204800, 0.3, 1.2, "text"),  # type "chat", USD per 1M
    ("fireworks", "accounts/fireworks/models/kimi-k2p6", 262000, None, None, "multimodal"),  # supports_image_input
    ("xai", "grok-imagine-video", None, None, None, "video"),
    ("huggingface", "moonshotai/Kimi-K3", 1048576, 3.0, 15.0, "multimodal"),  # largest live context, cheapest price
    ("featherless", "vicgalle/Roleplay-Llama-3-8B", 8192, None, None, "text"),
    ("novita", "meta-llama/llama-3-8b-instruct", 8192, 0.063, 0.063, "text"),  # context_size; 630 x 0.0001
    ("novita", "meta-llama/llama-3-70b-instruct", 8192, 0.55, 0.76, "text"),  # 5500 / 7600
    ("zai", "glm-4.5v", None, None, None, "multimodal"),
    ("chutes", "deepseek-ai/DeepSeek-R1", 163840, 0.27216, 0.27216, "text"),  # max_model_len; price.usd per 1M
    ("fal", "fal-ai/kling-video/v3/pro/image-to-video", None, None, None, "video"),  # category "image-to-video"
    ("fal", "fal-ai/nano-banana-2/edit", None, None, None, "image"),  # "image-to-image"
    ("fal", "fal-ai/elevenlabs/tts/eleven-v3", None, None, None, "audio"),  # "text-to-audio"
    ("fal", "fal-ai/whisper", None, None, None, "audio"),  # "speech-to-text": transcription, like groq's whisper
    ("vercel-ai-gateway", "alibaba/qwen-3-14b", 40960, 0.12, 0.24, "text"),  # "0.00000012"/"0.00000024" per token
    ("helicone", "claude-3-haiku-20240307", 200000, None, None, "multimodal"),  # contextLength; text+image in
    ("helicone", "deepseek-reasoner", 128000, None, None, "text"),
    ("alibaba", "qwen-vl-max", None, None, None, "multimodal"),
    ("clarifai", "arcee_ai/AFM/models/trinity-mini", None, None, None, "text"),
    ("aihubmix", "gpt-5", 400000, 1.25, 10.0, "multimodal"),  # per 1M as is; input_modalities "text,image"
    ("google-vertex", "publishers/google/models/gemini-2.5-flash", None, None, None, "multimodal"),
    ("cohere", "c4ai-aya-vision-32b", 16000, None, None, "multimodal"),
    ("near", "Qwen/Qwen3-Reranker-0.6B", None, None, None, "rerank"),
    ("sybil", "deepseek-ai/DeepSeek-V3-0324", 163840, 1.9, 2.0, "text"),  # "0.00000190"/"0.00000200" per token
    ("sybil", "Qwen/Qwen3-Embedding-8B", None, None, None, "embedding"),  # output_modalities ["embedding"]
    ("onerouter", "claude-opus-4-5@20251101", 200000, 5.0, 25.0, "multimodal"),  # min_*_price per 1M as is; Claude takes images
    ("anannas", "openai/gpt-5-mini", None, None, None, "multimodal"),  # an id-only list: GPT-5 takes images
    ("morpheus", "mistral-31-24b-web", None, None, None, "text"),
    ("canopywave", "moonshotai/kimi-k2.5", 262144, 0.5, 2.8, "text"),  # context_size; *_price_per_m
    ("simplismart", "deepseek-ai/DeepSeek-R1", 131072, 3.9, 3.9, "text"),  # "0.0000039" per token
    ("cloudflare-ai-gateway", "google-ai-studio/gemini-3-flash-preview", None, 0.5, 3.0, "multimodal"),  # 5e-07 / 3e-06
    ("cloudflare-ai-gateway", "mistral/mistral-small-creative", None, 0.1, 0.3, "text"),  # 1e-07 / 3e-07: under 5e-7
    ("cloudflare-ai-gateway", "azure-openai/text-embedding-ada-002", None, 0.1, 0.0, "embedding"),  # 1e-07 / 0
    ("deepseek", "deepseek-chat", None, None, None, "text"),
    ("sambanova", "Meta-Llama-3.3-70B-Instruct", 131072, 0.6, 1.2, "text"),  # 6e-07 / 1.2e-06 per token
    ("moonshotai", "moonshot-v1-128k", None, None, None, "text"),
]

# Where each provider puts its context; ("property_id", x) is the list item with that property, "*" every item.
CONTEXT_FIELDS = {
    "openrouter": [("context_length",), ("top_provider", "context_length")],
    "deepinfra": [("metadata", "context_length")],
    "groq": [("context_window",)], "google": [("inputTokenLimit",)], "mistral": [("max_context_length",)],
    "cloudflare-workers-ai": [("properties", ("property_id", "context_window"), "value")],
    "huggingface": [("providers", "*", "context_length")],
    "novita": [("context_size",)], "canopywave": [("context_size",)], "chutes": [("max_model_len",)],
    "vercel-ai-gateway": [("context_window",)], "helicone": [("contextLength",)],
    **{slug: [("context_length",)] for slug in ("together", "fireworks", "featherless", "aihubmix", "cohere",
                                                 "sybil", "onerouter", "simplismart", "sambanova")},
}


@functools.cache
def _records(slug: str) -> tuple:
    return tuple(recorded_items(PROVIDERS_BY_SLUG[slug]))  # never mutated: record() hands out deep copies


def record(slug: str, raw_id: str) -> dict:
    """A deep copy of the first recorded record of `slug` whose id field is `raw_id`."""
    key = PROVIDERS_BY_SLUG[slug].id_key
    matches = [r for r in _records(slug) if r.get(key) == raw_id]
    assert matches, f"{raw_id!r} is not in {PROVIDERS_BY_SLUG[slug].recorded}"
    return copy.deepcopy(matches[0])


def catalog_ids(slug: str, records: list) -> list:
    return build_catalog(PROVIDERS_BY_SLUG[slug], records)["model_id"].tolist()


@pytest.mark.parametrize("slug, raw_id, context, price_in, price_out, modality", EXPECTED,
                         ids=[f"{row[0]}:{row[1]}" for row in EXPECTED])
def test_a_real_record_gives_the_context_prices_and_modality_a_reader_expects(
        slug, raw_id, context, price_in, price_out, modality):
    model = PROVIDERS_BY_SLUG[slug].parse(record(slug, raw_id))
    assert (model.model_id, model.context_length) == (MODEL_IDS.get(raw_id, raw_id), context)
    assert (model.input_price_per_mtok, model.output_price_per_mtok, model.modality) == (price_in, price_out, modality)


def test_every_registered_provider_has_expectations():
    assert {row[0] for row in EXPECTED} == set(SLUGS)


def test_groq_drops_inactive_models():
    live = record("groq", "llama-3.1-8b-instant")
    retired = {**live, "id": "llama-3.1-70b-retired", "active": False}
    assert catalog_ids("groq", [live, retired]) == ["llama-3.1-8b-instant"]


def test_fal_drops_training_endpoints():
    records = list(_records("fal"))
    training = [r["endpoint_id"] for r in records if r["metadata"].get("category") == "training"]
    assert training == ["fal-ai/flux-lora-fast-training"]
    ids = catalog_ids("fal", records)
    assert "fal-ai/flux-lora-fast-training" not in ids and len(ids) == len(records) - 1


def test_featherless_drops_models_not_on_the_current_plan():
    sample = record("featherless", "vicgalle/Roleplay-Llama-3-8B")  # the docs' record has no plan field
    on_plan = {**sample, "id": "org/on-plan", "available_on_current_plan": True}
    off_plan = {**sample, "id": "org/off-plan", "available_on_current_plan": False}
    assert catalog_ids("featherless", [sample, on_plan, off_plan]) == ["vicgalle/Roleplay-Llama-3-8B", "org/on-plan"]


def test_onerouter_drops_display_only_and_non_llm_entries():
    sample = record("onerouter", "claude-opus-4-5@20251101")
    shown_only = {**sample, "id": "shown-only@1", "is_display_only": True}
    image = {**sample, "id": "image-model@1", "category_type": "IMAGE"}
    assert catalog_ids("onerouter", [sample, shown_only, image]) == ["claude-opus-4-5@20251101"]


@pytest.mark.parametrize("order", [1, -1], ids=["as-recorded", "reversed"])
def test_morpheus_keeps_the_newest_registration_of_an_id(order):
    catalog = build_catalog(PROVIDERS_BY_SLUG["morpheus"], list(_records("morpheus"))[::order])
    twice = catalog[catalog["model_id"] == "Llama 7.1-dev"]
    assert len(twice) == 1  # registered at created 1732022301 and 1742424888
    assert twice.iloc[0]["metadata"]["created"] == 1742424888
    assert twice.iloc[0]["metadata"]["blockchainID"].startswith("0x2e0d14b8")


@pytest.mark.parametrize("slug", SLUGS)
def test_context_is_never_zero_on_any_recorded_record(slug):
    contexts = [PROVIDERS_BY_SLUG[slug].parse(r).context_length for r in _records(slug)]
    assert [c for c in contexts if c is not None and c <= 0] == []


def _nodes(node, step):
    """The containers at `step` below `node` (a key, "*" for every list item, or a (field, value) match)."""
    if step == "*":
        return node if isinstance(node, list) else []
    if isinstance(step, tuple):
        return [item for item in node if isinstance(item, dict) and item.get(step[0]) == step[1]]
    return [node[step]]


@pytest.mark.parametrize("slug", sorted(CONTEXT_FIELDS))
def test_a_context_of_zero_is_unknown_not_zero(slug):
    raw_id = next(row[1] for row in EXPECTED if row[0] == slug and row[2] is not None)
    sample = record(slug, raw_id)
    for path in CONTEXT_FIELDS[slug]:
        parents = [sample]
        for step in path[:-1]:
            parents = [child for parent in parents for child in _nodes(parent, step)]
        assert parents, f"{slug}: no {path} in {raw_id}"
        for parent in parents:
            parent[path[-1]] = "0" if isinstance(parent[path[-1]], str) else 0
    assert PROVIDERS_BY_SLUG[slug].parse(sample).context_length is None


# --- property: hostile fields never break a parser ------------------------------------------------------

DELETE = object()
HOSTILE = [DELETE, None, "", -1, "-1", "abc", 0, True, {"nested": {"deep": [1, "x"]}}, [1, "two", None, {}],
           [], {}, 10**30, 1e300, "1e400"]


def _paths(node, prefix=()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def _mutate(node, path, value):
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation replaced an ancestor
    last = path[-1]
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(last, int) and last < len(node)):
        if value is not DELETE:
            node[last] = copy.deepcopy(value)
        elif last in node or isinstance(node, list):
            del node[last]


@st.composite
def hostile_records(draw, slug):
    sample = copy.deepcopy(draw(st.sampled_from(_records(slug))))
    paths = list(_paths(sample)) or [("id",)]
    for path, value in draw(st.lists(st.tuples(st.sampled_from(paths), st.sampled_from(HOSTILE)), max_size=6)):
        _mutate(sample, path, value)
    return sample


@pytest.mark.parametrize("slug", SLUGS)
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_fields_never_break_a_parser(slug, data):
    model = PROVIDERS_BY_SLUG[slug].parse(data.draw(hostile_records(slug)))
    for price in (model.input_price_per_mtok, model.output_price_per_mtok):
        assert price is None or (math.isfinite(price) and price >= 0)
    # The catalog's context column is Int64: a larger value makes build_catalog raise for the whole provider.
    assert model.context_length is None or 0 < model.context_length < 2**63
    assert model.modality in parsers.MODALITIES


# --- every registered provider yields a usable catalog from its payload ----------------------------------

@pytest.mark.parametrize("spec", PROVIDERS, ids=SLUGS)
def test_the_spec_names_the_field_its_parser_reads_the_id_from(spec):
    """The report of a bad id names the field it came from (`id_key`): the parser must read that field."""
    for raw in _records(spec.slug):
        model_id = spec.parse(raw).model_id
        assert isinstance(raw.get(spec.id_key), str) and model_id and raw[spec.id_key].endswith(model_id), \
            (spec.slug, spec.id_key, model_id)
        assert spec.parse({**raw, spec.id_key: "probe-id"}).model_id == "probe-id", (spec.slug, spec.id_key)


@pytest.mark.parametrize("spec", PROVIDERS, ids=SLUGS)
def test_payload_is_present_and_builds_a_catalog_with_unique_ids(spec):
    path = (STATIC_DIR if spec.static else RECORDED_DIR) / spec.recorded
    assert path.is_file() and path.stat().st_size > 0, path
    catalog = build_catalog(spec, recorded_items(spec))
    assert len(catalog) >= 1 and catalog["model_id"].notna().all()
    assert not catalog["model_id"].duplicated().any(), catalog["model_id"][catalog["model_id"].duplicated()].tolist()


@pytest.mark.parametrize(("slug", "record", "expected"), [
    # a declared generic type says nothing of purpose: the id's embedding, rerank or moderation wins
    ("vercel-ai-gateway", {"id": "cohere/rerank-v3.5", "name": "Rerank 3.5", "type": "language"}, "rerank"),
    ("vercel-ai-gateway", {"id": "cohere/embed-v4.0", "name": "Embed v4.0", "type": "language"}, "embedding"),
    ("openrouter", {"id": "meta-llama/llama-guard-4-12b", "name": "Meta: Llama Guard 4 12B",
                    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]}}, "moderation"),
    # "clip" names CLIP (embeddings) in some ids and a music clip in Lyria's: it does not overrule a declared modality
    # (OpenRouter 2026-08: google/lyria-3-clip-preview takes text and image and answers text and audio, as -pro does)
    ("openrouter", {"id": "google/lyria-3-clip-preview", "name": "Google: Lyria 3 Clip Preview",
                    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text", "audio"]}},
     "multimodal"),
    ("openrouter", {"id": "google/lyria-3-pro-preview", "name": "Google: Lyria 3 Pro Preview",
                    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text", "audio"]}},
     "multimodal"),
    ("deepinfra", {"id": "sentence-transformers/clip-ViT-B-32", "object": "model"}, "embedding"),  # id alone: CLIP
    ("cloudflare-ai-gateway", {"id": "openai/clip-vit-large-patch14"}, "embedding"),
    # ids that say audio or reading images in words the table lacked
    ("alibaba", {"id": "qwen3-asr-flash"}, "audio"),
    ("cloudflare-ai-gateway", {"id": "aws-bedrock/mistral.voxtral-mini-3b-2507"}, "audio"),
    ("mistral", {"id": "mistral-ocr-2505"}, "multimodal"),
    # Claude 2 takes no images; Gemini's Live models list bidiGenerateContent alone
    ("anthropic", {"id": "claude-2.1", "display_name": "Claude 2.1"}, "text"),
    ("anthropic", {"id": "claude-3-haiku-20240307", "display_name": "Claude Haiku 3"}, "multimodal"),
    ("google", {"name": "models/gemini-2.0-flash-live-001", "supportedGenerationMethods": ["bidiGenerateContent"]}, "multimodal"),
])
def test_modality_says_what_a_model_is_for(slug, record, expected):
    assert PROVIDERS_BY_SLUG[slug].parse(record).modality == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("gpt-4o", "multimodal"), ("gpt-4o-mini-2024-07-18", "multimodal"), ("chatgpt-4o-latest", "multimodal"),
    ("gpt-4.1-nano", "multimodal"), ("gpt-4-turbo-2024-04-09", "multimodal"), ("o1", "multimodal"),
    ("o1-pro", "multimodal"), ("o4-mini", "multimodal"),
    # their text-only siblings, and models of other kinds, as before
    ("o1-mini", "text"), ("o3-mini", "text"), ("gpt-4o-search-preview", "text"), ("gpt-4-turbo-preview", "text"),
    ("gpt-3.5-turbo", "text"), ("gpt-4o-audio-preview", "audio"), ("text-embedding-3-small", "embedding"),
])
def test_an_id_only_list_gives_a_vision_family_the_modality_other_providers_declare(model_id, expected):
    """OpenAI lists ids only: GPT-4o is multimodal there as at OpenRouter, which declares its image input."""
    assert PROVIDERS_BY_SLUG["openai"].parse({"id": model_id, "object": "model"}).modality == expected


@pytest.mark.parametrize(("record", "expected"), [
    # Vercel's own word on input: `tags` (models.dev packages/core/src/sync/providers/vercel.ts reads "vision" as
    # image input and "image-generation" as image output; vercel.com/ai-gateway/models/grok-4 shows "Vision (Image)")
    ({"id": "anthropic/claude-sonnet-4", "type": "language", "tags": ["reasoning", "tool-use", "vision"]},
     "multimodal"),
    ({"id": "xai/grok-4", "type": "language", "tags": ["reasoning", "tool-use", "vision"]}, "multimodal"),
    ({"id": "google/gemini-2.5-flash-image", "type": "language", "tags": ["image-generation", "vision"]},
     "multimodal"),
    ({"id": "deepseek/deepseek-v3.2", "type": "language", "tags": ["reasoning", "tool-use"]}, "text"),
    ({"id": "cohere/rerank-v3.5", "type": "reranking", "tags": []}, "rerank"),
    # no tags at all (the recorded payload): "language" says nothing of input, so the family decides, as for OpenAI's
    # id-only list; Claude is multimodal at Anthropic, OpenRouter and Helicone
    (record("vercel-ai-gateway", "anthropic/claude-sonnet-4"), "multimodal"),
    (record("vercel-ai-gateway", "openai/gpt-4o"), "multimodal"),
    (record("vercel-ai-gateway", "google/gemini-2.5-pro"), "multimodal"),
    (record("vercel-ai-gateway", "alibaba/qwen-3-14b"), "text"),
])
def test_vercel_reads_image_input_from_its_tags_not_from_the_type_language(record, expected):
    assert PROVIDERS_BY_SLUG["vercel-ai-gateway"].parse(record).modality == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    # OpenRouter declares x-ai/grok-4.20 and grok-4.5 text+image+file in; Helicone grok-4-fast-* text+image; Vercel
    # tags xai/grok-4 "Vision (Image)". xAI's own list is ids only.
    ("grok-4-0709", "multimodal"), ("grok-4-fast-reasoning", "multimodal"), ("grok-4-1-fast-non-reasoning", "multimodal"),
    ("grok-4.20-0309-reasoning", "multimodal"), ("grok-4.20-multi-agent-0309", "multimodal"),
    # Grok 3 and the coding model take text only; the imagine models make images and video
    ("grok-3", "text"), ("grok-3-mini", "text"), ("grok-code-fast-1", "text"),
    ("grok-imagine-image", "image"), ("grok-imagine-video", "video"),
])
def test_xai_grok_4_takes_images_as_other_providers_declare(model_id, expected):
    assert PROVIDERS_BY_SLUG["xai"].parse(record("xai", model_id)).modality == expected


@pytest.mark.parametrize(("slug", "model_id", "expected"), [
    # Gemma 3 reads images from 4B up (1B is text only; Gemma 3n is declared text at OpenRouter), Gemma 4 and
    # Qwen 3.5 in every size OpenRouter lists: their id-only lists stored them text
    ("nebius", "google/gemma-3-27b-it", "multimodal"), ("chutes", "unsloth/gemma-3-12b-it", "multimodal"),
    ("cloudflare-ai-gateway", "aws-bedrock/google.gemma-3-4b-it", "multimodal"),
    ("deepinfra", "Qwen/Qwen3.5-27B", "multimodal"), ("alibaba", "qwen3.5-plus", "multimodal"),
    ("deepinfra", "google/embeddinggemma-300m", "embedding"),
    # an id-only list (OpenAI's shape) of the text-only siblings
    ("openai", "google/gemma-3-1b-it", "text"), ("openai", "google/gemma-3n-E4B-it", "text"),
    ("openai", "Qwen/Qwen3-32B", "text"),
])
def test_more_vision_families_read_from_an_id_alone(slug, model_id, expected):
    given = {"id": model_id, "object": "model"} if slug == "openai" else record(slug, model_id)
    assert PROVIDERS_BY_SLUG[slug].parse(given).modality == expected


def test_the_vision_families_never_contradict_a_declared_modality():
    """The vision-family list is curated: each family is multimodal wherever a provider declares what its models
    read. Every model of OpenRouter's recorded lists (three snapshots, each declaring input modalities) that the
    list claims must be declared multimodal there: an entry too broad (a text-only sibling) fails here."""
    openrouter = PROVIDERS_BY_SLUG["openrouter"]
    claimed = 0
    for name in ("openrouter.json", "openrouter_2026-04.json", "openrouter_2026-08.json"):
        payload = json.loads((RECORDED_DIR / name).read_text())
        for item in payload["data"] if isinstance(payload, dict) else payload:
            base = item["id"].split("/")[-1].split(":")[0].casefold()
            if parsers._VISION_FAMILY.search(base):
                claimed += 1
                assert openrouter.parse(item).modality == "multimodal", (name, item["id"])
    assert claimed > 50, claimed


def test_a_record_nested_deeper_than_any_walk_can_follow_is_kept_with_a_marker():
    """JSON allows ~990 levels; every walk of a record (surrogates, storable values, hashing) ran out of Python's
    stack at ~500 and failed the provider with a RecursionError naming nothing."""
    from modelsync_pipeline.catalog import TOO_DEEP

    deep: dict = {}
    node = deep
    for _ in range(900):
        node["a"] = {}
        node = node["a"]
    frame = build_catalog(PROVIDERS_BY_SLUG["openai"], [{"id": "gpt-4o", "x": deep}, {"id": "gpt-4o-mini", "y": [[[[]]]]}])
    assert list(frame["model_id"]) == ["gpt-4o", "gpt-4o-mini"]
    assert TOO_DEEP in json.dumps(frame.loc[0, "metadata"])


@pytest.mark.parametrize(("slug", "field"), [
    ("aihubmix", "pricing"), ("openrouter", "pricing"), ("together", "pricing"), ("vercel-ai-gateway", "pricing"),
    ("chutes", "price"), ("deepinfra", "metadata"), ("huggingface", "providers"), ("cloudflare-workers-ai", "properties"),
    ("openrouter", "architecture"),
])
@pytest.mark.parametrize("wrong", ["x", 1, True, [1, 2]], ids=["string", "number", "boolean", "list"])
def test_a_nested_object_sent_as_another_type_is_reported_not_read_as_empty(slug, field, wrong):
    """Read as {}, a "pricing" sent as a string wiped both prices with every check passing."""
    from modelsync_pipeline.catalog import PROBLEMS
    from modelsync_pipeline.schema import validate_catalog

    spec = PROVIDERS_BY_SLUG[slug]
    record = copy.deepcopy(next(r for r in recorded_items(spec) if field in r))
    if isinstance(record[field], list) and isinstance(wrong, list):
        wrong = {"a": 1}  # a list where a list belongs is no fault: send an object instead
    record[field] = wrong
    frame = build_catalog(spec, [record])
    assert field in frame.loc[0, PROBLEMS], frame.loc[0, PROBLEMS]
    assert any(v.check == "values_readable" for v in validate_catalog(frame))


def _with_cloudflare_price(value):
    record = copy.deepcopy(next(r for r in recorded_items(PROVIDERS_BY_SLUG["cloudflare-workers-ai"])
                                if any(p.get("property_id") == "price" for p in r.get("properties", []))))
    for prop in record["properties"]:
        if prop["property_id"] == "price":
            prop["value"] = value
    return record


@pytest.mark.parametrize(("slug", "record", "field"), [
    ("cloudflare-workers-ai", _with_cloudflare_price("$0.11 per M input tokens"), "price"),
    ("cloudflare-workers-ai", _with_cloudflare_price({"unit": "per M input tokens", "price": 0.11}), "price"),
    ("cloudflare-workers-ai", _with_cloudflare_price(["per M input tokens: 0.11"]), "price entry"),
    ("aihubmix", {"model_id": "gpt-5", "types": 7, "pricing": {"input": 1.25, "output": 10}}, "types"),
    ("aihubmix", {"model_id": "gpt-5", "types": "llm", "input_modalities": {"text": True}}, "input_modalities"),
], ids=["price-string", "price-object", "price-entry-string", "types-number", "modalities-object"])
def test_a_list_sent_as_another_type_is_reported_not_read_as_empty(slug, record, field):
    """Cloudflare's prices and AIHubMix's type lists, read as [] when they came as another type, lost prices
    and modality with every check passing."""
    from modelsync_pipeline.catalog import PROBLEMS
    from modelsync_pipeline.schema import validate_catalog

    frame = build_catalog(PROVIDERS_BY_SLUG[slug], [record])
    assert field in frame.loc[0, PROBLEMS], frame.loc[0, PROBLEMS]
    assert any(v.check == "values_readable" for v in validate_catalog(frame))


def _cloudflare_frame(*entries):
    """A Workers AI catalog of one recorded model whose prices are `entries`: (unit, price, currency)."""
    record = _with_cloudflare_price([{"unit": unit, "price": price, "currency": currency}
                                     for unit, price, currency in entries])
    return build_catalog(PROVIDERS_BY_SLUG["cloudflare-workers-ai"], [record])


@pytest.mark.parametrize(("entries", "expected"), [
    ([("per M cached input tokens", 0.16, "USD"), ("per M input tokens", 0.95, "USD"), ("per M output tokens", 4, "USD")],
     (0.95, 4.0)),
    ([("per M completion tokens", 4, "USD"), ("per M prompt tokens", 0.95, "USD")], (0.95, 4.0)),
    ([("per M cached input tokens", 0.16, "USD")], (None, None)),
    ([("per M output tokens", 4, "usd"), ("per audio minute", 0.01, "EUR")], (None, 4.0)),
], ids=["cached-input-first", "prompt-completion", "cached-input-alone", "usd-and-a-non-token-unit"])
def test_cloudflare_prices_are_read_from_their_exact_side(entries, expected):
    """A word matched inside the unit took a cached-input price listed first for the input price, and
    "per M completion tokens" (no "output" in it) for the input price too."""
    from modelsync_pipeline.catalog import PROBLEMS

    frame = _cloudflare_frame(*entries)
    prices = tuple(None if math.isnan(v) else v for v in frame.loc[0, ["input_price_per_mtok", "output_price_per_mtok"]])
    assert prices == expected
    assert frame.loc[0, PROBLEMS] == ""


@pytest.mark.parametrize(("entry", "named"), [
    (("per 1M input tokens", 0.5, "USD"), "'per 1M input tokens'"),
    (("per M tokens", 0.5, "USD"), "'per M tokens'"),
    (("per M input tokens", 0.5, None), "currency None"),
    (("per M input tokens", 0.5, "EUR"), "currency 'EUR'"),
    ((None, 0.5, "USD"), "no unit"),
], ids=["per-1M", "no-side", "null-currency", "euro", "no-unit"])
def test_a_cloudflare_token_price_no_rule_reads_is_reported_not_dropped(entry, named):
    """Dropped in silence, such an entry left the model without a price with every check passing."""
    from modelsync_pipeline.catalog import PROBLEMS
    from modelsync_pipeline.schema import validate_catalog

    frame = _cloudflare_frame(entry, ("per M output tokens", 4, "USD"))
    assert named in frame.loc[0, PROBLEMS], frame.loc[0, PROBLEMS]
    assert any(v.check == "values_readable" for v in validate_catalog(frame))


def test_two_cloudflare_prices_for_one_side_are_reported():
    from modelsync_pipeline.catalog import PROBLEMS

    frame = _cloudflare_frame(("per M input tokens", 0.95, "USD"), ("per M prompt tokens", 0.5, "USD"))
    assert "two input prices" in frame.loc[0, PROBLEMS]


@pytest.mark.parametrize(("slug", "record", "expected"), [
    ("fireworks", {"id": "accounts/fireworks/models/llama-v3p1-8b-instruct", "supports_image_input": "false",
                   "supports_chat": True}, "text"),
    ("mistral", {"id": "mistral-small-2501", "capabilities": {"vision": "false", "completion_chat": True}}, "text"),
])
def test_a_flag_written_as_a_word_is_read_as_the_word(slug, record, expected):
    assert PROVIDERS_BY_SLUG[slug].parse(record).modality == expected


def test_a_flag_that_is_neither_yes_nor_no_is_reported():
    from modelsync_pipeline.catalog import PROBLEMS

    frame = build_catalog(PROVIDERS_BY_SLUG["fireworks"], [
        {"id": "accounts/fireworks/models/llama-v3p1-8b-instruct", "supports_image_input": "maybe"}])
    assert "supports_image_input" in frame.loc[0, PROBLEMS]


@pytest.mark.parametrize("invisible", ["\u00ad", "\u2060", "\u061c", "\U000e0041", "\u3164", "\ue000", "\u034f",
                                       "\ufe0f", "\U000e0100", "\u180b"],
                         ids=["soft-hyphen", "word-joiner", "arabic-mark", "tag", "hangul-filler", "private-use", "cgj",
                              "variation-selector", "variation-selector-17", "mongolian-fvs"])
def test_an_id_holding_a_character_no_reader_sees_is_refused_and_never_left_in_a_name(invisible):
    from modelsync_pipeline.schema import validate_catalog

    spec = PROVIDERS_BY_SLUG["openai"]
    frame = build_catalog(spec, [{"id": "gpt-4o"}, {"id": f"gpt-4o{invisible}"}])
    assert [v.check for v in validate_catalog(frame)] == ["id_without_padding_or_invisible_characters"]
    assert all(invisible not in name for name in frame["model_name"])
    named = build_catalog(spec, [{"id": "gpt-4o", "display_name": f"GPT-4o{invisible} Preview"}])
    assert named.loc[0, "model_name"] == "GPT-4o Preview" and validate_catalog(named) == []


@pytest.mark.parametrize(("first", "second", "refused"), [
    ("mod\u00e8le-7b", "mode\u0300le-7b", True),      # one id composed, one decomposed: the same to every reader
    ("gpt-4o", "\uff47\uff50\uff54-4o", True),        # full-width letters
    ("Pro/zai-org/glm-5.1", "Pro/zai-org/GLM-5.1", False),  # case differs: SiliconFlow lists both, two models
])
def test_ids_that_read_alike_once_normalised_are_refused(first, second, refused):
    from modelsync_pipeline.schema import validate_catalog

    frame = build_catalog(PROVIDERS_BY_SLUG["openai"], [{"id": first}, {"id": second}])
    checks = {v.check for v in validate_catalog(frame)}
    assert ("ids_that_read_alike" in checks) is refused, checks


@pytest.mark.parametrize("price", ["1_5", "\uff11\uff12", "\u0661\u0662", "Infinity", "NaN", "inf", float("inf")],
                         ids=["underscore", "full-width", "arabic-indic", "infinity", "nan", "inf", "float-inf"])
def test_a_price_python_would_read_but_no_provider_writes_is_reported(price):
    """Decimal() reads "1_5" as 15 and full-width digits as digits: a malformed price became a plausible one."""
    with parsers.reading_problems() as problems:
        assert parsers._price(price) is None
    assert problems and "price" in problems[0]


@pytest.mark.parametrize("context", [-5, 10**30, 1e308, "1e308", "1_024"])
def test_a_context_out_of_range_is_reported_not_dropped_in_silence(context):
    with parsers.reading_problems() as problems:
        assert parsers._context(context) is None
    assert problems, context


def test_minus_one_and_zero_still_mean_not_said():
    with parsers.reading_problems() as problems:
        assert parsers._context(-1) is None and parsers._context(0) is None and parsers._price(-1) is None
    assert problems == []


@pytest.mark.parametrize(("created", "kept"), [
    ((1735689600, 1735689599), 0),              # epoch seconds: the later one
    (("1735689599", 1735689600), 1),            # digits as text read as the number, not as text above numbers
    (("2025-01-02", "2024-12-31T23:00:00Z"), 0),  # ISO dates as times
    ((1735689600, "2020-01-01"), 0),            # a number and a date compare as times
    ((None, "2020-01-01"), 1),                  # a registration without a time is the oldest
    # epoch milliseconds, microseconds or nanoseconds beside seconds: 2020 in ms is not newer than 2025 in s
    ((1600000000000, 1749184855), 1),
    ((1749184855, "1600000000000000"), 0),
    ((1600000000000000000, 1749184855000), 1),
])
def test_morpheus_keeps_the_newest_registration_of_an_id_as_a_time(created, kept):
    records = [{"id": "llama-3.3-70b", "modelType": "LLM", "created": c, "tag": i} for i, c in enumerate(created)]
    frame = build_catalog(PROVIDERS_BY_SLUG["morpheus"], records)
    assert list(frame["model_id"]) == ["llama-3.3-70b"] and frame.loc[0, "metadata"]["tag"] == kept


@pytest.mark.parametrize("odd", [True, [1], "31/12/2024"], ids=["boolean", "list", "day-first"])
def test_a_registration_time_that_cannot_be_read_picks_neither_and_the_id_is_reported(odd):
    from modelsync_pipeline.schema import validate_catalog

    records = [{"id": "llama-3.3-70b", "modelType": "LLM", "created": c} for c in (1735689600, odd)]
    frame = build_catalog(PROVIDERS_BY_SLUG["morpheus"], records)
    assert len(frame) == 2
    assert any(v.check == "unique_provider_model_id" for v in validate_catalog(frame))


@pytest.mark.parametrize(("label", "modality"), [
    # Hugging Face's pipeline tags for vision- and video-language models answer text: not image or video generators
    ("image-text-to-text", "multimodal"), ("video-text-to-text", "multimodal"), ("audio-text-to-text", "multimodal"),
    ("image-to-text", "multimodal"), ("any-to-any", "multimodal"),
    ("text-to-image", "image"), ("image-to-image", "image"), ("Text-to-Image", "image"), ("Text To Image", "image"),
    ("text-to-video", "video"), ("image-to-video", "video"),
    ("text-to-speech", "audio"), ("speech-to-text", "audio"), ("audio-to-audio", "audio"), ("text-to-audio", "audio"),
    ("text-to-text", "text"), ("image_text_to_text", "multimodal"),
    # not modality words on both sides: read word by word, as before
    ("text-to-sql", "text"), ("Automatic Speech Recognition", "audio"), ("feature-extraction", "embedding"),
])
def test_an_inputs_to_outputs_task_label_is_read_as_inputs_and_outputs(label, modality):
    assert parsers.modality_from_type(label) == modality


def test_hugging_face_vision_language_models_are_not_catalogued_as_image_generators():
    """`image-text-to-text` matched the catch-all word "image": Gemma 3, Qwen2.5-VL and Llama 4 were filed as
    image generators (when the record declares no input/output modalities)."""
    spec = PROVIDERS_BY_SLUG["huggingface"]
    live = [{"status": "live", "context_length": 131072, "provider": "acme"}]
    records = [{"id": model_id, "pipeline_tag": tag, "providers": live} for model_id, tag in [
        ("google/gemma-3-27b-it", "image-text-to-text"), ("Qwen/Qwen2.5-VL-72B-Instruct", "image-text-to-text"),
        ("llava-hf/LLaVA-NeXT-Video-7B-hf", "video-text-to-text"), ("black-forest-labs/FLUX.1-dev", "text-to-image")]]
    frame = build_catalog(spec, records)
    assert dict(zip(frame.model_id, frame.modality)) == {
        "google/gemma-3-27b-it": "multimodal", "Qwen/Qwen2.5-VL-72B-Instruct": "multimodal",
        "llava-hf/LLaVA-NeXT-Video-7B-hf": "multimodal", "black-forest-labs/FLUX.1-dev": "image"}


@given(st.one_of(st.decimals(min_value="1e-30", max_value="1e-12", allow_nan=False, allow_infinity=False),
                 st.decimals(min_value="1e-12", max_value=parsers.PLAUSIBLE_PRICE_MIN, places=12)
                 .filter(lambda amount: 0 < amount < parsers.PLAUSIBLE_PRICE_MIN)))
@example(Decimal("0.00000023"))  # rounded to 0: the model read as free
@example(Decimal("0.000003"))    # DeepInfra's $3 per 1M sent per token: sold at a millionth of its price
def test_a_positive_price_below_any_real_one_is_reported_not_stored(amount):
    """A price per token in a field per 1M tokens reads as a millionth of itself: under PLAUSIBLE_PRICE_MIN
    (a fifth of the cheapest model any recorded provider lists) it is reported, never stored."""
    with parsers.reading_problems() as problems:
        assert parsers._price(str(amount)) is None
    assert problems and "per 1M tokens" in problems[0]


@given(st.decimals(min_value=parsers.PLAUSIBLE_PRICE_MIN, max_value="1000000", allow_nan=False, allow_infinity=False,
                   places=6))
def test_a_price_from_the_least_plausible_up_is_read_without_a_problem(amount):
    with parsers.reading_problems() as problems:
        assert parsers._price(str(amount)) == round(float(amount), 6)
    assert problems == []


@pytest.mark.parametrize("zero", ["-0", "-0.0", "-0e5", -0.0, "-0.0000001"])
def test_a_negative_zero_price_reads_as_zero_not_as_a_signed_zero(zero):
    """-0.0 equals 0.0 but is written "-0.0": stored so, a provider flipping between "0" and "-0" would change
    the row's content hash, and rewrite it, on every sync. (A negative price that rounds to zero is no price.)"""
    with parsers.reading_problems() as problems:
        price = parsers._price(zero)
    if zero == "-0.0000001":
        assert price is None and problems  # negative: reported, as any other
    else:
        assert price == 0.0 and math.copysign(1, price) == 1 and problems == [], (price, problems)
        assert json.dumps(price) == "0.0"


@pytest.mark.parametrize(("slug", "record"), [
    ("deepinfra", {"model_name": "new/model", "type": "text-generation",
                   "metadata": {"context_length": 8192, "pricing": {"input_tokens": 0.00000023, "output_tokens": "4e-7"}}}),
    ("openrouter", {"id": "acme/model", "name": "Acme: Model", "context_length": 8192,
                    "pricing": {"prompt": "1e-13", "completion": "1e-13"}}),
])
def test_a_catalog_with_a_price_that_would_read_as_free_is_held_back(slug, record):
    from modelsync_pipeline.schema import validate_catalog

    frame = build_catalog(PROVIDERS_BY_SLUG[slug], [record])
    assert not frame.is_free.any()
    violations = [v.as_dict() for v in validate_catalog(frame)]
    assert any(v["check"] == "values_readable" and "per 1M tokens" in str(v) for v in violations), violations


@pytest.mark.parametrize(("slug", "record", "named"), [
    ("huggingface", {"id": "acme/model", "providers": [{"status": "live", "pricing": "0.5"}]}, "providers[].pricing"),
    ("chutes", {"id": "acme/model", "price": {"input": {"usd": 0.1}, "output": {"tao": 0.2}}}, "price.output"),
    ("chutes", {"id": "acme/model", "price": {"tao": 0.2}}, "price"),
])
def test_a_price_in_a_shape_the_parser_does_not_read_is_reported(slug, record, named):
    """Hugging Face skipped a pricing that is not an object and Chutes a price with no usd amount: the model was
    stored unpriced with no word, against the parsers' rule that nothing is lost in silence."""
    frame = build_catalog(PROVIDERS_BY_SLUG[slug], [record])
    assert named in frame.reading_problems.iloc[0], frame.reading_problems.iloc[0]


def test_a_together_model_priced_by_the_hour_only_has_no_token_price_not_a_free_one():
    """Together lists a dedicated-only model with 0 per token beside its hourly price: it read as $0, free."""
    spec = PROVIDERS_BY_SLUG["together"]
    records = [{"id": "org/dedicated", "type": "chat", "context_length": 8192,
                "pricing": {"hourly": 1.5, "input": 0, "output": 0}},
               {"id": "org/free", "type": "chat", "context_length": 8192, "pricing": {"input": 0, "output": 0}}]
    frame = build_catalog(spec, records).set_index("model_id")
    assert frame.loc["org/dedicated", ["input_price_per_mtok", "output_price_per_mtok"]].isna().all()
    assert frame.loc["org/free", ["input_price_per_mtok", "output_price_per_mtok"]].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("hourly", ["2.5", 2.5, "1e0"])
def test_a_together_hourly_price_sent_as_text_is_read_as_a_price(hourly):
    """An hourly price sent as "2.5" was not a number to the check, and the dedicated model read as $0, free."""
    frame = build_catalog(PROVIDERS_BY_SLUG["together"], [
        {"id": "org/dedicated", "type": "chat", "context_length": 8192,
         "pricing": {"hourly": hourly, "input": 0, "output": 0}}])
    assert frame[["input_price_per_mtok", "output_price_per_mtok"]].isna().all(axis=None)
    assert frame["is_free"].tolist() == [False]


@pytest.mark.parametrize("hourly", ["$2.50", True, {"usd": 2.5}])
def test_a_together_hourly_price_no_rule_reads_is_a_problem_of_the_record(hourly):
    frame = build_catalog(PROVIDERS_BY_SLUG["together"], [
        {"id": "org/dedicated", "type": "chat", "context_length": 8192,
         "pricing": {"hourly": hourly, "input": 0, "output": 0}}])
    assert "is not a number" in frame.reading_problems.iloc[0], frame.reading_problems.iloc[0]


@pytest.mark.parametrize("status", ["error", "staging", "Error "])
def test_a_hugging_face_model_with_no_live_provider_takes_no_price_or_context_from_the_others(status):
    """With no provider live, the fallback took the price and context of one in "error" or "staging"."""
    spec = PROVIDERS_BY_SLUG["huggingface"]
    records = [{"id": "org/model", "pipeline_tag": "text-generation",
                "providers": [{"provider": "acme", "status": status, "context_length": 8192,
                               "pricing": {"input": 0.1, "output": 0.2}}]}]
    row = build_catalog(spec, records).iloc[0]
    assert row.context_length is None or str(row.context_length) == "<NA>"
    assert math.isnan(row.input_price_per_mtok) and math.isnan(row.output_price_per_mtok)


def test_records_that_are_not_objects_are_each_named_by_their_own_place():
    """Positions were found by identity, which null and small numbers share: two records were named "record 3"."""
    spec = PROVIDERS_BY_SLUG["groq"]
    records = [None, {"id": "llama-3.1-8b-instant", "object": "model", "context_window": 131072}, None, 3, 3]
    problems = [p for p in build_catalog(spec, records)["reading_problems"] if p]
    assert [p.split(":")[0] for p in problems] == [f"groq record {n} of 5" for n in (1, 3, 4, 5)]


@pytest.mark.parametrize("created", [10**400, "9" * 400])
def test_a_registration_time_too_large_for_a_float_is_no_time_not_a_crash(created):
    """A duplicate id with a 400-digit `created` failed the whole catalog with OverflowError, naming nothing."""
    from modelsync_pipeline.catalog import _moment

    assert _moment(created) is None


def test_a_cloudflare_property_listed_twice_with_two_values_is_reported():
    """The second of two context_window properties won silently (128000 read as 8192); two prices were reported."""
    spec = PROVIDERS_BY_SLUG["cloudflare-workers-ai"]
    record = {"name": "@cf/acme/model", "task": {"name": "Text Generation"},
              "properties": [{"property_id": "context_window", "value": "128000"},
                             {"property_id": "context_window", "value": "8192"}]}
    problems = [p for p in build_catalog(spec, [record])["reading_problems"] if p]
    assert problems and "property context_window listed twice" in problems[0]


def test_a_morpheus_model_of_unknown_type_is_kept_and_another_kind_dropped():
    """Morpheus's API writes modelType UNKNOWN where a registration gave none: such models vanished."""
    spec = PROVIDERS_BY_SLUG["morpheus"]
    records = [{"id": model_id, "object": "model", "modelType": kind, "created": 1}
               for model_id, kind in [("llama-3.3-70b", "LLM"), ("mistral-24b", "UNKNOWN"), ("bge-m3", "EMBEDDINGS"),
                                      ("kokoro", "TTS")]]
    assert sorted(build_catalog(spec, records)["model_id"]) == ["llama-3.3-70b", "mistral-24b"]
