"""Parsers: one function per provider, from one upstream model record to the common entry.

A parser reads only the record it is given and never guesses: a field the provider does not send stays
`None` (unknown), never 0. A field it sends in a form no rule reads ("$0.50", "128k", true as a price) is
not turned into None either: it is noted as a problem of the record (`reading_problems`), and the contract
refuses the catalog naming the model, so a provider changing its number format cannot wipe every price.
Prices come out in the one unit the catalog uses everywhere, USD per 1M tokens.
Display names are not decided here; `naming.resolve_display_name` does that from the `display_name` and
`name` values a parser hands over, so every provider goes through the same seed rule.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator

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
    problems: tuple[str, ...] = ()  # values sent in a form no rule reads (catalog._parse fills it)


Parser = Callable[[dict], UpstreamModel]


# The problems noted while one record is parsed (catalog._parse opens the list): a parser's helpers note a value
# they cannot read here rather than every parser threading a list through each call.
_problems: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("reading_problems", default=None)


@contextlib.contextmanager
def reading_problems() -> Iterator[list[str]]:
    """The problems noted by the helpers below while the block parses one record."""
    problems: list[str] = []
    token = _problems.set(problems)
    try:
        yield problems
    finally:
        _problems.reset(token)


def _note(problem: str) -> None:
    problems = _problems.get()
    if problems is not None:
        problems.append(problem)


def shown_value(value: Any) -> str:
    """A value as a reading problem quotes it: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# OpenRouter's mark of variable pricing (`openrouter/auto`): "unknown", not a price and not a problem.
PRICE_SENTINEL = Decimal(-1)
# Digits before the point past which a price is no price (models.*_price_per_mtok hold 14).
_PRICE_MAX_DIGITS = 30
# A whole number this large stands for any larger one: int() of "1e1000000" builds a million digits (seconds of
# CPU per value, in the step every provider shares), and no count a catalog holds comes near 10**18.
_TOO_LARGE = 10**19


# A number as JSON or a provider writes one in text: ASCII digits, a point, an exponent. Python's Decimal and
# int also take "1_5" (15), full-width or Arabic-Indic digits and "Infinity": none of them is a price.
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# The least a price above 0 may be, in USD per 1M tokens: a fifth of the cheapest model listed by any recorded
# provider ($0.0028, chutes, 2026). A price per token sent in a field per 1M tokens reads as a millionth of
# itself ($3 per 1M became $0.000003), which the truth guard holds back only for a model the last good catalog
# had: a new model, or a provider's first catalog, was published at it, and no check above noticed.
PLAUSIBLE_PRICE_MIN = Decimal("0.0005")


def _priced(fields: dict, key: str, scale: Decimal = Decimal(1), under: str = "pricing") -> float | None:
    """_price of fields[key], its notes naming the field as the payload does: "pricing.prompt", or "cost_in" for
    a field of the record itself (under="")."""
    return _price(fields.get(key), scale, f"{under}.{key}" if under else key)


def _price(value: Any, scale: Decimal = Decimal(1), what: str = "price") -> float | None:
    """A non-negative price as float rounded to 1e-6 USD per 1M tokens; None when absent ("" or null) or the
    sentinel -1. Any other value (a word, "$0.50", "0,0000015", "1_5", NaN, Infinity, a boolean, another
    negative number, an object, a price above 0 under PLAUSIBLE_PRICE_MIN) is noted as a problem of the record
    and gives None. `what` names the field in that note ("pricing.prompt"), so the two sides of one price are
    told apart."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        _note(f"{what} {shown_value(value)} is not a number")
        return None
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value.strip()):
        _note(f"{what} {shown_value(value)} is not a number")  # "1_5", "１２", "Infinity" would all read as numbers
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        _note(f"{what} {shown_value(value)} is not a number")
        return None
    if amount == PRICE_SENTINEL:
        return None
    if not amount.is_finite():
        _note(f"{what} {shown_value(value)} is not a finite number")
        return None
    if amount < 0:
        _note(f"{what} {shown_value(value)} is negative")
        return None
    if amount.is_finite() and amount.adjusted() > _PRICE_MAX_DIGITS:
        _note(f"{what} {shown_value(value)} is out of range")  # "1e999999" overflows the scaling below
        return None
    amount *= scale
    if not amount.is_finite():
        return None
    result = round(float(amount), 6)
    if 0 < amount < PLAUSIBLE_PRICE_MIN:
        # A price per token sent in a field per 1M tokens, most likely; stored, the model would sell at a millionth
        # of its price (or read as free, rounded to $0).
        _note(f"{what} {shown_value(value)} is above 0 but under ${PLAUSIBLE_PRICE_MIN} per 1M tokens once read (a "
              "price per token where a price per 1M tokens is expected?)")
        return None
    if result == 0:
        result = 0.0  # "-0" or -0.0 reads as 0.0: a signed zero hashed apart from 0 would change the row's hash
    return result if math.isfinite(result) else None  # "1e400" is finite as a Decimal, not as a float


def _dict(value: Any, what: str = "a field") -> dict:
    """A nested object, or {} when absent (null, "", or the [] PHP writes for an empty object). Anything else
    (a string, a number, a list of things) is noted as a problem of the record: read as {}, every price or
    context under it would be lost in silence."""
    if isinstance(value, dict):
        return value
    if value is not None and value != "" and value != []:
        _note(f"{what} {shown_value(value)} is not an object")
    return {}


def _list(value: Any, what: str = "a field") -> list:
    """A nested array, or [] when absent (null, "", {}); anything else is noted, as for _dict."""
    if isinstance(value, list):
        return value
    if value is not None and value != "" and value != {}:
        _note(f"{what} {shown_value(value)} is not a list")
    return []


def _int(value: Any) -> int | None:
    """A whole number sent as a number or a numeric string ("8192", "8192.0", "1e5"); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.strip():
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            return None
        try:
            number = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
        if not number.is_finite() or number != number.to_integral_value():
            return None
        return _TOO_LARGE if number.adjusted() > 18 else int(number)
    return None


MAX_CONTEXT = 2**31 - 1  # models.context_length is a PostgreSQL integer; a larger "context" is junk


def _context(*values: Any) -> int | None:
    """The first plausible token count among `values`: 0, a missing field or an impossible number is "not
    said" (None), never 0. A value sent in a form no rule reads ("128k", "8,192", 8192.5, a list) is noted as
    a problem of the record, also when another field gives the count: a format change is reported, not
    papered over by a fallback field."""
    found = None
    for value in values:
        number = _int(value)
        if number is None and value is not None and not (isinstance(value, str) and not value.strip()):
            _note(f"context length {shown_value(value)} is not a whole number")
        elif number is not None and (number < -1 or number > MAX_CONTEXT):
            _note(f"context length {shown_value(value)} is out of range")  # -1 is a common "unknown"; 0 is "not said"
        elif found is None and number is not None and 0 < number:
            found = number
    return found


_TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "off"})


def flag(value: Any) -> bool | None:
    """A yes/no field as sent: a boolean, 0/1, or a word ("false", "False", "0", "yes"); None when absent or
    anything else. `bool("false")` is True: every flag a filter or parser reads goes through here."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def filter_flag(record: dict, field: str) -> bool | None:
    """A yes/no field a provider's filter (ProviderSpec.keep) reads: flag(), None when absent (null, ""); any
    other value raises ValueError naming it, which fails the catalog naming the record (catalog._kept). Read as
    "not said", Groq's `active: "disabled"` kept a retired model, and a filter that drops a record leaves no
    row for the contract to refuse."""
    value = record.get(field)
    result = flag(value)
    if result is None and value is not None and value != "":
        raise ValueError(f"{field} {shown_value(value)} is not a yes/no value")
    return result


def _yes(value: Any, what: str) -> bool:
    """A flag a parser reads (flag()): True only for a yes; a value present that is neither yes nor no is noted
    as a problem of the record, never read by its truthiness ("false" is a non-empty string)."""
    result = flag(value)
    if result is None and value is not None and value != "":
        _note(f"{what} {shown_value(value)} is not a yes/no value")
    return bool(result)


def label(value: Any, default: str) -> str:
    """A type/category label compared as a word: stripped and casefolded; `default` when absent (null, "")."""
    if isinstance(value, str) and value.strip():
        return value.strip().casefold()
    return default


# --- modality: what the provider declares first, the id last -----------------------------------------

# Words a provider uses for a model's type or task ("chat", "text-to-image", "Automatic Speech Recognition"),
# in the order they are tried: the first rule whose words appear decides.
_DECLARED_TYPE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("embedding", ("embed", "feature-extraction", "sentence-similarity", "vector")),
    ("rerank", ("rerank", "text-ranking")),
    ("moderation", ("moderation", "classification", "classifier", "safety")),
    ("video", ("video",)),
    ("image", ("text-to-image", "image-to-image", "image generation", "image-generation", "inpaint", "image-edit")),
    ("audio", ("speech", "audio", "tts", "asr", "transcri", "voice", "music")),
    ("multimodal", ("image-to-text", "vision", "multimodal", "visual")),
    ("image", ("image",)),
    ("text", ("chat", "language", "llm", "text", "completion", "code", "instruct", "reasoning")),
)


# A task label "<inputs>-to-<outputs>" (Hugging Face's pipeline tags, fal's categories, Cloudflare's task names):
# the modality words it may join, as modality_from_io reads them.
_IO_WORDS = {"text": "text", "image": "image", "video": "video", "audio": "audio", "speech": "audio",
             "voice": "audio", "music": "audio", "3d": "3d", "any": "any"}
_IO_LABEL = re.compile(r"([a-z0-9]+(?:-[a-z0-9]+)*)-to-([a-z0-9]+(?:-[a-z0-9]+)*)")


def _io_label(label: str) -> str | None:
    """The modality of a label "<inputs>-to-<outputs>" whose words are all modalities ("image-text-to-text" takes
    images and text and answers text: multimodal, a vision-language model, not an image generator); None for
    any other label."""
    match = _IO_LABEL.fullmatch(re.sub(r"[\s_]+", "-", label.strip().casefold()))
    if match is None:
        return None
    ins, outs = (part.split("-") for part in match.groups())
    if not all(word in _IO_WORDS for word in ins + outs):
        return None
    ins, outs = [_IO_WORDS[word] for word in ins], [_IO_WORDS[word] for word in outs]
    if "any" in ins + outs:
        return "multimodal"
    return modality_from_io(ins, outs)


def modality_from_type(*labels: Any) -> str | None:
    """Modality from a provider's own type/task/category labels; None when they say nothing we know."""
    for label in labels:
        if isinstance(label, str) and (declared := _io_label(label)) is not None:
            return declared
    text = " ".join(str(label).casefold().replace("_", "-") for label in labels if isinstance(label, str))
    if not text.strip():
        return None
    for modality, words in _DECLARED_TYPE_WORDS:
        if any(word in text for word in words):
            return modality
    return None


def modality_from_io(inputs: Any, outputs: Any) -> str | None:
    """Modality from declared input/output modality lists (OpenRouter, Hugging Face, Helicone)."""
    ins = {v.casefold() for v in _list(inputs, "input modalities") if isinstance(v, str)}
    outs = {v.casefold() for v in _list(outputs, "output modalities") if isinstance(v, str)}
    if not ins and not outs:
        return None
    if outs & {"embedding", "embeddings", "vector"}:
        return "embedding"
    if "video" in outs:
        return "video"
    if "image" in outs and "text" not in outs:
        return "image"
    if "audio" in outs and "text" not in outs:
        return "audio"  # text to speech
    if outs <= {"text"} and ins and ins <= {"audio"}:
        return "audio"  # speech to text
    if ins - {"text"} or outs - {"text"}:
        return "multimodal"
    return "text"


_ID_TOKEN_SPLIT = re.compile(r"[^a-z0-9.]+")
# Id words, tried in order like the declared words above. Whole tokens unless noted as a phrase.
_ID_MODALITY_TOKENS: tuple[tuple[str, frozenset[str]], ...] = (
    ("embedding", frozenset({"embed", "embedding", "embeddings", "e5", "bge", "gte", "minilm", "mpnet", "clip",
                             "embeddinggemma", "retrieval", "colbert"})),
    ("rerank", frozenset({"rerank", "reranker", "ranker"})),
    ("moderation", frozenset({"moderation", "guard", "shieldgemma", "safeguard", "shield"})),
    ("video", frozenset({"video", "veo", "sora", "t2v", "i2v", "kling", "hailuo"})),
    ("image", frozenset({"image", "imagine", "imagen", "flux", "sdxl", "dall", "seedream", "diffusion", "kontext",
                         "ideogram", "recraft", "playground", "bria", "inpainting", "upscale", "upscaler"})),
    ("audio", frozenset({"whisper", "tts", "transcribe", "audio", "realtime", "speech", "stt", "voice", "kokoro",
                         "orpheus", "music", "lyria", "aura", "melotts", "nova-2", "asr", "voxtral"})),
    ("multimodal", frozenset({"vision", "vl", "vlm", "omni", "llava", "pixtral", "qvq", "janus", "multimodal",
                              "ocr"})),
)
_ID_MODALITY_PHRASES = (("embedding", "text-embedding"), ("image", "stable-diffusion"), ("image", "dall-e"),
                        ("image", "gpt-image"), ("embedding", "embedding"))
_VISION_VERSION = re.compile(r"\d+(?:\.\d+)?v")  # "glm-4.5v": GLM's vision models


# Id words that name a purpose in one family and something else in another: "clip" is OpenAI's CLIP, an embedding
# model, in "clip-vit-b-32", and a short piece of music in "lyria-3-clip-preview" (text and image in, text and audio
# out). Alone they still decide an id-only list; they never overrule what a provider declared (_modality).
_AMBIGUOUS_ID_WORDS = frozenset({"clip"})


def id_modality(model_id: Any, ignore: frozenset[str] = frozenset()) -> str:
    """Modality from the words of an id: the last resort, for providers whose list says nothing else. Words in
    `ignore` are not read."""
    text = str(model_id).casefold()
    # Dots stay inside a token for versions ("glm-4.5v"); a dot between words parts them ("mistral.voxtral-mini").
    tokens = (set(_ID_TOKEN_SPLIT.split(text)) | set(re.split(r"[^a-z0-9]+", text))) - ignore
    stems = {t.rstrip("0123456789.") for t in tokens} - ignore
    for modality, words in _ID_MODALITY_TOKENS:
        if tokens & words or stems & words:
            return modality
    for modality, phrase in _ID_MODALITY_PHRASES:
        if phrase in text:
            return modality
    if any(_VISION_VERSION.fullmatch(t) for t in tokens):
        return "multimodal"
    return "text"


# What a model is for, which an id says more precisely than a generic declared "text" or "multimodal" (a gateway
# lists Cohere's rerankers as type "language", Llama Guard's inputs as text and image).
_PURPOSE_MODALITIES = frozenset({"embedding", "rerank", "moderation"})


# Families that take images, for lists that say nothing but the id (OpenAI's own, xAI's, the OpenAI-compatible
# gateways): the same model must not be "multimodal" at one provider and "text" at the next. Conservative:
# the dated and sized variants of these families, not their text-only siblings (o1-mini, o3-mini, the search
# and turbo-preview models).
_VISION_FAMILY = re.compile(
    r"(?:^|[./])(?:(?:chat)?gpt-4o(?!.*search)|gpt-4\.1|gpt-4\.5|gpt-5|gpt-4-turbo(?!-preview)"
    r"|o1(?:-pro)?(?:-\d{4}-\d\d-\d\d)?$|o3(?!-mini)|o4-mini|claude-(?:3|(?:opus|sonnet|haiku)-[4-9])|gemini-|llama-4"
    r"|grok-4"
    r"|gemma-3-(?:4|12|27)b|gemma-4|qwen3\.5)")


def _id_only_modality(model_id: Any) -> str:
    """id_modality, and a model of a family that takes images (_VISION_FAMILY) is multimodal."""
    from_id = id_modality(model_id)
    if from_id == "text" and _VISION_FAMILY.search(str(model_id).casefold()):
        return "multimodal"
    return from_id


def _modality(*candidates: str | None, model_id: Any) -> str:
    """The first declared modality among `candidates`, else the id's.

    A declared "text" ("chat", "language") says nothing about image input, so a vision id ("-VL-",
    "vision") still makes it multimodal; and a declared "text" or "multimodal" says nothing of purpose, so an
    embedding, rerank or moderation id ("embed-v4.0", "rerank-v3.5", "llama-guard-4") is that, but not by a word
    that names a purpose only in some families (_AMBIGUOUS_ID_WORDS). No other declared value is overridden by the id.
    """
    for candidate in candidates:
        if candidate in MODALITIES:
            from_id = id_modality(model_id, ignore=_AMBIGUOUS_ID_WORDS)
            if candidate in ("text", "multimodal") and from_id in _PURPOSE_MODALITIES:
                return from_id
            if candidate == "text" and from_id == "multimodal":
                return "multimodal"
            return candidate
    return _id_only_modality(model_id)


PER_1K_TO_PER_MTOK = Decimal(1_000)


def parse_openrouter(record: dict) -> UpstreamModel:
    """OpenRouter and the gateways that copy its shape (name "Company: Model", prices USD per token)."""
    arch = _dict(record.get("architecture"), "architecture")
    pricing = _dict(record.get("pricing"), "pricing")
    inputs, outputs = arch.get("input_modalities"), arch.get("output_modalities")
    if not inputs and isinstance(arch.get("modality"), str):
        left, _, right = arch["modality"].partition("->")
        inputs, outputs = left.split("+"), right.split("+")
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        name=record.get("name"),
        context_length=_context(record.get("context_length"),
                                _dict(record.get("top_provider"), "top_provider").get("context_length")),
        input_price_per_mtok=_priced(pricing, "prompt", PER_TOKEN_TO_PER_MTOK),
        output_price_per_mtok=_priced(pricing, "completion", PER_TOKEN_TO_PER_MTOK),
        modality=_modality(modality_from_io(inputs, outputs), model_id=model_id),
        is_free=isinstance(model_id, str) and model_id.endswith(":free"),
        upstream=record,
    )


def parse_deepinfra(record: dict) -> UpstreamModel:
    meta = _dict(record.get("metadata"), "metadata")
    pricing = _dict(meta.get("pricing"), "metadata.pricing")
    tags = {str(t).casefold() for t in _list(meta.get("tags"), "metadata.tags")}
    model_id = record.get("id")
    if not meta:
        # DeepInfra's OpenAI-compatible list gives metadata only to text-generation models; the others are
        # embedding or image models. The id tells which; one that says neither is an image model.
        modality = id_modality(model_id)
        if modality == "text":
            modality = "image"
    else:
        modality = "multimodal" if "vision" in tags else id_modality(model_id)
    return UpstreamModel(
        model_id=model_id,
        context_length=_context(meta.get("context_length")),
        input_price_per_mtok=_priced(pricing, "input_tokens", under="metadata.pricing"),  # already USD per 1M tokens
        output_price_per_mtok=_priced(pricing, "output_tokens", under="metadata.pricing"),
        modality=modality,
        upstream=record,
    )


def parse_openai_compatible(record: dict) -> UpstreamModel:
    """An OpenAI-style `{id, object, owned_by}` record (Cerebras, Nebius, OpenAI, xAI, Alibaba, Z.ai, NEAR...).

    Some add a display name (`display_name` or `name`), a type, or a context length under one of the
    names providers use for it; whatever is present is read, nothing is guessed.
    """
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("display_name"),
        name=record.get("name"),
        context_length=_context(
            record.get("context_length"), record.get("context_window"), record.get("max_model_len"),
            record.get("max_context_length"),
        ),
        modality=_modality(modality_from_type(record.get("type"), record.get("task")), model_id=model_id),
        upstream=record,
    )


def parse_groq(record: dict) -> UpstreamModel:
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        # Groq calls it context_window; reading context_length gives nothing.
        context_length=_context(record.get("context_window")),
        modality=_id_only_modality(model_id),
        upstream=record,
    )


def _google_modality(methods: set, model_id: Any) -> str:
    if methods & {"embedContent", "embedText", "batchEmbedContents"}:
        return "embedding"
    if "predict" in methods or "predictLongRunning" in methods:
        return "video" if id_modality(model_id) == "video" else "image"
    if "bidiGenerateContent" in methods and id_modality(model_id) == "audio":
        return "audio"
    declared = id_modality(model_id)
    if declared != "text":
        return declared
    if methods & {"generateContent", "bidiGenerateContent"} and str(model_id).startswith(("gemini", "learnlm")):
        return "multimodal"  # the Live API's models list bidiGenerateContent alone
    return "text"


def parse_google(record: dict) -> UpstreamModel:
    raw_id = record.get("name")
    model_id = raw_id.removeprefix("models/") if isinstance(raw_id, str) else raw_id
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("displayName"),
        context_length=_context(record.get("inputTokenLimit")),
        modality=_google_modality(
            {m for m in _list(record.get("supportedGenerationMethods"), "supportedGenerationMethods") if isinstance(m, str)}, model_id),
        upstream=record,
    )


def parse_google_vertex(record: dict) -> UpstreamModel:
    """Vertex AI publisher models: `name` is "publishers/<publisher>/models/<id>"; the id is the last part."""
    raw_id = record.get("name")
    model_id = raw_id.rsplit("/models/", 1)[-1] if isinstance(raw_id, str) else raw_id
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("displayName") or record.get("display_name"),
        context_length=_context(record.get("inputTokenLimit")),
        # The list names ids only; every Gemini model takes images, audio and video besides text.
        modality=_modality("multimodal" if str(model_id).startswith("gemini") and id_modality(model_id) == "text"
                           else None, model_id=model_id),
        upstream=record,
    )


def parse_anthropic(record: dict) -> UpstreamModel:
    return UpstreamModel(
        model_id=record.get("id"),
        display_name=record.get("display_name"),
        # Claude 3 and later take images; Claude 2 and Instant do not
        modality="text" if re.match(r"claude-(?:2|instant)\b", str(record.get("id"))) else "multimodal",
        upstream=record,
    )


def parse_mistral(record: dict) -> UpstreamModel:
    caps = _dict(record.get("capabilities"), "capabilities")
    model_id = record.get("id")
    if _yes(caps.get("vision"), "capabilities.vision"):
        modality = "multimodal"
    elif _yes(caps.get("classification"), "capabilities.classification") and not _yes(
            caps.get("completion_chat"), "capabilities.completion_chat"):
        modality = "moderation"
    else:
        modality = id_modality(model_id)
    return UpstreamModel(
        model_id=model_id,
        # Mistral's `name` is usually the canonical id of an alias group, not a display name;
        # naming treats a name that looks like an id as an id.
        name=record.get("name"),
        context_length=_context(record.get("max_context_length")),
        modality=modality,
        upstream=record,
    )


# The token-price units of Workers AI's `price` property, whole: "per M input tokens", "per M output tokens" and
# "per M cached input tokens" (a discount on input the catalog has no column for), "prompt"/"completion" for
# input/output. Matched whole: a word inside a unit ("input" in "per M cached input tokens") names no side.
_CLOUDFLARE_TOKEN_UNIT = re.compile(r"per m (cached )?(input|prompt|output|completion) tokens")
_CLOUDFLARE_SIDE = {"input": "input", "prompt": "input", "output": "output", "completion": "output"}


def _cloudflare_prices(value: Any) -> tuple[float | None, float | None]:
    """Input and output prices from the `price` property, a list of {unit, price, currency}, USD per 1M tokens.

    Units without tokens (per audio minute, per step, per 512 by 512 tile) are no token price and are left out.
    A price no rule reads is noted as a problem of the record, never dropped in silence: a token unit other than
    the ones above ("per 1M input tokens", "per K output tokens"), a currency other than USD (absent and null
    included), two different prices for one side, or no unit at all (which may be a token price)."""
    prices: dict[str, float | None] = {}
    for entry in _list(value, "price"):
        if not isinstance(entry, dict):
            _note(f"price entry {shown_value(entry)} is not an object")
            continue
        unit = " ".join(str(entry.get("unit") or "").casefold().split())
        if not unit:
            _note(f"price entry {shown_value(entry)} has no unit")
            continue
        if "token" not in unit:
            continue
        known = _CLOUDFLARE_TOKEN_UNIT.fullmatch(unit)
        if known is None:
            _note(f"price unit {shown_value(entry.get('unit'))} is not one the catalog reads")
            continue
        if known.group(1):
            continue  # cached input: no column holds it, and it is never the input price
        currency = entry.get("currency")
        if not isinstance(currency, str) or currency.strip().upper() != "USD":
            _note(f"price currency {shown_value(currency)} of {shown_value(entry.get('unit'))} is not USD")
            continue
        side, price = _CLOUDFLARE_SIDE[known.group(2)], _priced(entry, "price", under="price[]")
        if side in prices and prices[side] != price:
            _note(f"two {side} prices, {prices[side]} and {price}")
            continue
        prices[side] = price
    return prices.get("input"), prices.get("output")


def parse_cloudflare(record: dict) -> UpstreamModel:
    properties: dict[str, Any] = {}
    for p in _list(record.get("properties"), "properties"):
        if not isinstance(p, dict) or not isinstance(p.get("property_id"), str):
            continue
        name, value = p["property_id"], p.get("value")
        if name in properties and properties[name] != value:
            # Which one is the model's is not ours to guess: the first is kept, and the record is refused.
            _note(f"property {name} listed twice, {shown_value(properties[name])} and {shown_value(value)}")
            continue
        properties[name] = value
    task = _dict(record.get("task"), "task").get("name")
    model_id = record.get("name")
    input_price, output_price = _cloudflare_prices(properties.get("price"))
    return UpstreamModel(
        # `name` is the model id (@cf/meta/...); `description` is prose and never a name.
        model_id=model_id,
        context_length=_context(properties.get("context_window"), properties.get("max_total_tokens")),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        modality=_modality(modality_from_type(task), model_id=model_id),
        upstream=record,
    )


def parse_together(record: dict) -> UpstreamModel:
    """Together: a bare array; `type` is chat, language, embedding, image, rerank...; prices USD per 1M."""
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("id")
    input_price, output_price = _priced(pricing, "input"), _priced(pricing, "output")
    hourly = _priced(pricing, "hourly")  # USD per hour; a value no rule reads is noted, as for any price
    if input_price == output_price == 0 and hourly:
        # A model served on dedicated hardware only, priced by the hour: 0 per token says "no token price", not
        # free (a free model has no hourly price).
        input_price = output_price = None
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("display_name"),
        context_length=_context(record.get("context_length")),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        modality=_modality(modality_from_type(record.get("type")), model_id=model_id),
        upstream=record,
    )


def parse_fireworks(record: dict) -> UpstreamModel:
    """Fireworks: ids are account paths ("accounts/fireworks/models/llama-v3p1-8b-instruct"); no prices."""
    model_id = record.get("id")
    if _yes(record.get("supports_image_input"), "supports_image_input"):
        declared = "multimodal"
    elif _yes(record.get("supports_chat"), "supports_chat"):
        declared = "text"
    else:
        declared = modality_from_type(record.get("kind"))
    return UpstreamModel(
        model_id=model_id,
        context_length=_context(record.get("context_length")),
        modality=_modality(declared, model_id=model_id),
        upstream=record,
    )


def parse_huggingface(record: dict) -> UpstreamModel:
    """Hugging Face router: context and prices are per serving provider; the catalog takes the live ones.

    Context is the largest a live provider serves; prices are those of the provider with the lowest input
    price (USD per 1M), the one a price-routed request would reach.
    """
    arch = _dict(record.get("architecture"), "architecture")
    providers = [p for p in _list(record.get("providers"), "providers") if isinstance(p, dict)]
    # Compared as a word (label): a status sent as "Live" or "live " matched no provider, and the fallback to all of
    # them priced the model at a staging or erroring provider's rate.
    # With none live, only providers that say no status at all stand in for them (an older listing): one in
    # "error" or "staging" serves no request, and its price and context are no model's.
    live = ([p for p in providers if label(p.get("status"), "live") == "live"]
            or [p for p in providers if p.get("status") is None])
    contexts = [c for c in (_context(p.get("context_length")) for p in live) if c]
    pricings = [_dict(p.get("pricing"), "providers[].pricing") for p in live]  # a pricing not an object: noted
    priced = [tuple(_priced(pricing, side, under="providers[].pricing") for side in ("input", "output"))
              for pricing in pricings]
    priced = [pair for pair in priced if pair[0] is not None]
    cheapest = min(priced, default=(None, None), key=lambda pair: (pair[0], pair[1] or 0.0))
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        context_length=max(contexts, default=None),
        input_price_per_mtok=cheapest[0],
        output_price_per_mtok=cheapest[1],
        modality=_modality(
            modality_from_io(arch.get("input_modalities"), arch.get("output_modalities")),
            modality_from_type(record.get("pipeline_tag")),
            model_id=model_id,
        ),
        is_free=bool(live) and all([_yes(p.get("is_free"), "providers[].is_free") for p in live]),
        upstream=record,
    )


NOVITA_PRICE_UNIT = Decimal("0.0001")  # Novita prices are in 0.0001 USD per 1M tokens (630 = $0.063)


def parse_novita(record: dict) -> UpstreamModel:
    """Novita: `title` repeats the id; `context_size`; prices in units of 0.0001 USD per 1M tokens."""
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        name=record.get("title"),
        context_length=_context(record.get("context_size")),
        input_price_per_mtok=_priced(record, "input_token_price_per_m", NOVITA_PRICE_UNIT, under=""),
        output_price_per_mtok=_priced(record, "output_token_price_per_m", NOVITA_PRICE_UNIT, under=""),
        modality=_modality(modality_from_type(record.get("model_type")), model_id=model_id),
        upstream=record,
    )


def _usd(price: dict, what: str) -> Any:
    """The `usd` amount of a price object; a price given only in other units ({"tao": 0.2}) is noted, not read
    as unpriced in silence."""
    if price and "usd" not in price:
        _note(f"{what} {shown_value(price)} has no usd amount")
    return price.get("usd")


def parse_chutes(record: dict) -> UpstreamModel:
    """Chutes: `max_model_len`; `price.usd` is one rate in USD per 1M tokens for input and output alike.

    Newer payloads split it as `price.input.usd` / `price.output.usd`; both shapes are read.
    """
    price = _dict(record.get("price"), "price")
    model_id = record.get("id")
    if isinstance(price.get("input"), dict) or isinstance(price.get("output"), dict):
        input_price = _price(_usd(_dict(price.get("input"), "price.input"), "price.input"), what="price.input.usd")
        output_price = _price(_usd(_dict(price.get("output"), "price.output"), "price.output"), what="price.output.usd")
    else:
        input_price = output_price = _price(_usd(price, "price"), what="price.usd")
    return UpstreamModel(
        model_id=model_id,
        context_length=_context(record.get("max_model_len"), record.get("context_length")),
        input_price_per_mtok=input_price,
        output_price_per_mtok=output_price,
        modality=_modality(modality_from_io(record.get("input_modalities"), record.get("output_modalities")),
                           model_id=model_id),
        upstream=record,
    )


def parse_fal(record: dict) -> UpstreamModel:
    """fal: `endpoint_id` is the id, `metadata.display_name` the name, `metadata.category` the modality.

    A category "<input>-to-<output>" is read as declared inputs and outputs ("speech-to-text" is audio,
    "image-to-video" is video); a single word ("llm", "vision") as a type.
    """
    meta = _dict(record.get("metadata"), "metadata")
    model_id = record.get("endpoint_id")
    category = meta.get("category") if isinstance(meta.get("category"), str) else ""
    return UpstreamModel(
        model_id=model_id,
        display_name=meta.get("display_name"),
        modality=_modality(modality_from_type(category), model_id=model_id),
        upstream=record,
    )


def parse_vercel(record: dict) -> UpstreamModel:
    """Vercel AI Gateway: `name`, `context_window`, `type` (language, embedding, image, video, reranking) and
    `tags` (vision, file-input, image-generation, reasoning, tool-use); USD per token strings.

    "language" says what a model answers, not what it takes in: Vercel says that in `tags` ("vision" for image
    input, "image-generation" for images answered beside text). A list without `tags` says nothing of input, so a
    family that takes images is multimodal, as in an id-only list: read as "text", every Claude, GPT-4o and Gemini
    model was text here and multimodal at every other provider.
    """
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("id")
    declared = modality_from_type(record.get("type"))
    if declared == "text" and record.get("tags") is not None:
        tags = {label(t, "") for t in _list(record.get("tags"), "tags")}
        declared = modality_from_io(["text", "image"] if "vision" in tags else ["text"],
                                    ["text", "image"] if "image-generation" in tags else ["text"])
    elif declared == "text" and _VISION_FAMILY.search(str(model_id).casefold()):
        declared = "multimodal"
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("name"),
        context_length=_context(record.get("context_window")),
        input_price_per_mtok=_priced(pricing, "input", PER_TOKEN_TO_PER_MTOK),
        output_price_per_mtok=_priced(pricing, "output", PER_TOKEN_TO_PER_MTOK),
        modality=_modality(declared, model_id=model_id),
        upstream=record,
    )


def parse_helicone(record: dict) -> UpstreamModel:
    """Helicone's public model registry: `name`, `contextLength`, declared input/output modalities."""
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("name"),
        context_length=_context(record.get("contextLength")),
        modality=_modality(modality_from_io(record.get("inputModalities"), record.get("outputModalities")),
                           model_id=model_id),
        upstream=record,
    )


def parse_cohere(record: dict) -> UpstreamModel:
    """Cohere: `name` is the id; `endpoints` (chat, embed, rerank, classify) says what a model does."""
    model_id = record.get("name")
    endpoints = [str(e) for e in _list(record.get("endpoints"), "endpoints") if isinstance(e, str)]
    declared = None
    for endpoint, modality in (("embed", "embedding"), ("rerank", "rerank"), ("classify", "moderation"),
                               ("chat", "text"), ("generate", "text")):
        if endpoint in endpoints:
            declared = modality
            break
    return UpstreamModel(
        model_id=model_id,
        context_length=_context(record.get("context_length")),
        modality=_modality(declared, model_id=model_id),
        upstream=record,
    )


def parse_sybil(record: dict) -> UpstreamModel:
    """Sybil: OpenRouter-style `name`, top-level `input_modalities`/`output_modalities`, USD per token."""
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        name=record.get("name"),
        context_length=_context(record.get("context_length")),
        input_price_per_mtok=_priced(pricing, "prompt", PER_TOKEN_TO_PER_MTOK),
        output_price_per_mtok=_priced(pricing, "completion", PER_TOKEN_TO_PER_MTOK),
        modality=_modality(modality_from_io(record.get("input_modalities"), record.get("output_modalities")),
                           model_id=model_id),
        is_free=isinstance(model_id, str) and model_id.endswith(":free"),
        upstream=record,
    )


def parse_onerouter(record: dict) -> UpstreamModel:
    """OneRouter: `display_name`, `context_length`; `min_prompt_price`/`min_completion_price` in USD per 1M."""
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("display_name"),
        context_length=_context(record.get("context_length")),
        input_price_per_mtok=_priced(record, "min_prompt_price", under=""),
        output_price_per_mtok=_priced(record, "min_completion_price", under=""),
        modality=_modality(modality_from_io(record.get("input_modalities"), record.get("output_modalities")),
                           modality_from_type(record.get("category_type")), model_id=model_id),
        upstream=record,
    )


def parse_per_token_prices(record: dict) -> UpstreamModel:
    """Anannas, SambaNova: `name`, `context_length` (`context_window` in Anannas's detailed form),
    `pricing.prompt`/`completion` in USD per token (strings or numbers)."""
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        name=record.get("name"),
        context_length=_context(record.get("context_length"), record.get("context_window")),
        input_price_per_mtok=_priced(pricing, "prompt", PER_TOKEN_TO_PER_MTOK),
        output_price_per_mtok=_priced(pricing, "completion", PER_TOKEN_TO_PER_MTOK),
        modality=_modality(modality_from_type(*(_list(record.get("capabilities"), "capabilities"))), model_id=model_id),
        upstream=record,
    )


def parse_per_mtok_fields(record: dict) -> UpstreamModel:
    """CanopyWave: `context_size`, `input_token_price_per_m`/`output_token_price_per_m` in USD per 1M."""
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("display_name"),
        context_length=_context(record.get("context_size"), record.get("context_length")),
        input_price_per_mtok=_priced(record, "input_token_price_per_m", under=""),
        output_price_per_mtok=_priced(record, "output_token_price_per_m", under=""),
        modality=_modality(modality_from_type(record.get("type")), model_id=model_id),
        upstream=record,
    )


def _comma_list(value: Any, what: str) -> list[str]:
    """A comma-separated string or a list of strings; anything else is noted, as for _list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in _list(value, what)]


def parse_aihubmix(record: dict) -> UpstreamModel:
    """AIHubMix: `model_id`; `types` and `input_modalities` are comma-separated strings.

    Its docs label `pricing.input`/`output` USD per 1K tokens, but the values are USD per 1M (gpt-5 at
    1.25 / 10, OpenAI's per-1M list price); they are read as per 1M.
    """
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("model_id")
    types = _comma_list(record.get("types"), "types")
    declared = modality_from_type(*types)
    if declared == "text":
        declared = modality_from_io(_comma_list(record.get("input_modalities"), "input_modalities"), ["text"])
    return UpstreamModel(
        model_id=model_id,
        context_length=_context(record.get("context_length")),
        input_price_per_mtok=_priced(pricing, "input"),
        output_price_per_mtok=_priced(pricing, "output"),
        modality=_modality(declared, model_id=model_id),
        upstream=record,
    )


def parse_static(record: dict) -> UpstreamModel:
    """A static catalog file kept in the repo (`name`, `context_length`, `pricing` USD per token strings)."""
    pricing = _dict(record.get("pricing"), "pricing")
    model_id = record.get("id")
    return UpstreamModel(
        model_id=model_id,
        display_name=record.get("name"),
        context_length=_context(record.get("context_length")),
        input_price_per_mtok=_priced(pricing, "prompt", PER_TOKEN_TO_PER_MTOK),
        output_price_per_mtok=_priced(pricing, "completion", PER_TOKEN_TO_PER_MTOK),
        modality=_modality(modality_from_type(record.get("type")), model_id=model_id),
        upstream=record,
    )


def parse_cloudflare_ai_gateway(record: dict) -> UpstreamModel:
    """Cloudflare AI Gateway's unified catalog: `provider/model` ids, `cost_in`/`cost_out` USD per token.

    A price of 0 for both sides is the gateway's "not priced", not a free model: both become unknown.
    """
    model_id = record.get("id")
    # Judged on the prices per 1M tokens: a per-token price rounds to 0 at 1e-6 long before it is 0 ($0.10 per 1M
    # is 1e-7 per token), and every model under $0.50 per 1M would read as "not priced".
    price_in = _priced(record, "cost_in", PER_TOKEN_TO_PER_MTOK, under="")
    price_out = _priced(record, "cost_out", PER_TOKEN_TO_PER_MTOK, under="")
    unpriced = price_in == 0 and price_out == 0
    return UpstreamModel(
        model_id=model_id,
        input_price_per_mtok=None if unpriced else price_in,
        output_price_per_mtok=None if unpriced else price_out,
        modality=_id_only_modality(model_id),
        upstream=record,
    )
