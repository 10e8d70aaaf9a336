"""Display names for provider models: one clean, readable name per model id.

Providers describe their models in very different ways: OpenRouter sends "Company: Model (free)", Anthropic
and Google send a display name, Mistral sends a `name` that is really an id, and most OpenAI-compatible
providers send nothing but the id. This module turns whatever a provider sent into the name a reader sees,
and records how it got there (which field, the raw value, each cleaning step) so an operator can trace a
surprising name back to its upstream value.

Pure logic: no Dagster, no I/O. Everything here is deterministic and must never raise on hostile input,
except for a missing or blank model id.

Choices made here, so callers and reviewers need not reverse-engineer them:

- Seed order: `display_name`, else `name`, else the id. A value that is not a string, or is blank, counts as
  absent. A value that cleans to nothing readable (no letter or digit left) falls through to the next source
  and the step `fallback_from_<field>` records it; so does a placeholder written where a name was missing ("null",
  "undefined", "unknown", "N/A", "[object Object]": _PLACEHOLDER_NAMES), with the step `ignored_placeholder_<field>`.
- A `display_name`/`name` that looks like an id (it equals the model id, its last path segment, that segment before
  its ":variant" in lower case (Replicate's "sdxl" for "stability-ai/sdxl:<digest>") or, written as an id is, the
  model's segment before "versions/<n>" (Azure ML's "Llama-2-7b-chat" for ".../models/Llama-2-7b-chat/ versions/27",
  not its "Phi-4"), starts with "@", contains "/", or is a single all-lowercase token joined by "-"/"_") is not a
  name: the model id is derived instead, with rule `derived_from_id` and the step `ignored_id_like_<field>` saying
  which field was passed over. Mistral sends name == id, and for an alias ("codestral-2412") the canonical id
  ("codestral-2501"); deriving the model id gives each alias its own readable name ("Codestral 2412") instead of the
  canonical one plus disambiguation noise. One exception: when the model id names nothing a reader can tell (a UUID,
  a ULID, a Cloudflare record id, a number alone; a hex digest or a number as its last segment, a serial of twelve or
  more digits in it (an endpoint's, "ep-20240611094706-abcde"), a Bedrock inference profile's ARN, a Vertex
  endpoint) the id-like value is the real model id, so it is derived, with rule `name` (or `display_name`), `raw`
  set to that value and the step `derived_from_id_like_name`.
- A name written all in lower case ("llama 3.3 70b instruct", "deepseek v3") says nothing of how its maker writes
  it: it is read as an id's words are ("Llama 3.3 70B Instruct", "DeepSeek V3"; step `recase_lower_case_name`),
  unless it holds punctuation an id would not ("what's new" stays as written). A name that keeps a capital after
  cleaning keeps its casing as written.
- A company prefix "Company: " is dropped when the company part is short (at most 4 words, 40 characters) and holds
  no version or size (a number "2.5", "3", "4o", "70B", "v2", or a hyphen before a digit "GPT-4o"): "Gemini 2.5
  Flash: Thinking" is a model and its variant and reads "Gemini 2.5 Flash - Thinking", while "AI21: Jamba 1.5" drops
  "AI21". A company the id's own model part starts with is the family word and stays ("Mistral: Saba" for
  "mistralai/mistral-saba" reads "Mistral Saba", step `keep_family_word`). So does a company before one lone common
  word, which alone would name no model ("Venice: Uncensored" reads "Venice Uncensored", step `keep_company_word`;
  an acronym such as "SDXL" names a model alone, and so does a coined name with inner capitals, "SenseVoiceSmall");
  a name derived from an id keeps the segment before such a last segment the same way ("Bria/erase" -> "Bria Erase",
  "fal-ai/flux/schnell" -> "FLUX Schnell"). A full-width colon ("OpenAI：GPT-4o", CJK text) reads as ": " (step
  `read_other_colon`), and so does another separator ("Meta - Llama 3", "Mistral AI | Mixtral", "OpenAI – GPT-4o")
  when the id itself names that organisation ("meta-llama/...": step `read_company_separator`) and the rest starts
  as the id's own segment does; when it does not, the organisation is the family word and stays, the separator read
  as a space ("DeepSeek - Chat" for "deepseek/deepseek-chat" -> "DeepSeek Chat"); without that evidence the
  separator stays, since "Llama 3 - Instruct" is one model's name. A bracketed company at either end ("[OpenAI]
  GPT-4o", "GPT-4o (OpenAI)") reads as "Company: " (step `read_bracketed_company`) when it is the organisation the
  id names (its first segment past "@cf" or "publishers/", never a tier such as SiliconFlow's "Pro/"). The company
  word is kept when the rest starts with a bare version-like token (a digit, or one capital letter followed by a
  digit: "R1", "V3", "K2"), so "DeepSeek: R1 0528" stays "DeepSeek R1 0528", while "OpenAI: o3" becomes "o3". A
  prefix the rest begins with goes whatever it holds ("360: 360GPT Pro", "Gemini 2.5 Flash: Gemini 2.5 Flash
  Thinking"). Any other colon followed by whitespace becomes " - " so no name ever reads as "Something: rest"; a
  colon inside a token ("claude-3.7-sonnet:thinking") is left alone.
- Brackets never survive: "(...)", "[...]", "{...}", "<...>" and their full-width and CJK forms ("（...）",
  "【...】", "《...》", "「...」"), guillemets ("«...»") and the rest of BRACKETS below, which the contract in
  schema.py refuses. "(free)" sets `is_free` and goes; a quantisation such as "(FP8)" (written with a separator
  too: "(FP-8)", "(8-bit)") sets `quantization` and goes (it comes back through `make_names_unique` when it is what
  tells two models apart); so does each such item of a list in one bracket ("(free, beta)", "(70B; FP8)"), the
  others kept as a list. Release stages ("(New)", "(Old)", "(Legacy)", "(beta)"...) set `release_stage` AND stay as
  a plain capitalised word, always, and so does a stage before a colon ("Deprecated: Llama 2" reads "Deprecated
  Llama 2", never as a company dropped): Anthropic names two different ids "Claude Sonnet 3.5 (New)" and
  "(Old)", and a stage is part of what a reader needs to choose a model. Anything else in brackets is kept
  as plain words, with an all-lowercase word capitalised ("(thinking)" -> "Thinking",
  "(self-moderated)" -> "Self-Moderated", "(7B)" -> "7B", "(December 2024)" -> "December 2024"), unless the name
  already says each of its words outside the bracket: "Llama 3.1 70B Turbo (70B)" reads "Llama 3.1 70B Turbo"
  (step `drop_repeated_in_brackets`).
- An HTML character reference reads as its character ("Llama 3 &amp; Vision" -> "Llama 3 & Vision", "&nbsp;" a
  space; step `read_html_references`); a bare "&" ("AT&T") stays. An inline HTML tag goes ("Llama 3 <b>New</b>";
  step `drop_html_tags`); other angle brackets are brackets ("<beta>").
- A company named after the name, past a separator ("Claude 3 Haiku | Anthropic", "GPT-4o by OpenAI", "Nova Pro -
  Amazon"), goes when it is the organisation the id names (step `drop_trailing_company`); any other word there stays.
- A bracket holding the model's own id, whole or its last segment, goes ("Llama 3 70B (meta-llama/llama-3-70b)";
  step `drop_bracketed_id`): the id shown beside the name is no part of it.
- Full-width letters, digits, "." and "-" ("Ｌｌａｍａ ３．１") and the hyphens typography puts in a word ("GPT‑4o" with
  a non-breaking hyphen, a minus sign) read as the ASCII they look like (step `read_ascii_lookalikes`).
- A pair of quotes around the whole name goes ('"Llama 3 70B"', "“GPT-4o”": a value quoted twice over; step
  `drop_wrapping_quotes`); quotes inside a name stay.
- Emoji stay (they are not malformed text), but a name must contain at least one letter or digit.
- Cleaning removes control and format characters (zero-width, bidi marks, BOM, NUL), turns every kind of
  whitespace into single spaces, applies NFC, trims stray punctuation at the ends and truncates names longer
  than NAME_MAX_LENGTH at a word boundary (step `truncated`).
- Ids are derived from their last path segment, split on "-", "_", spaces and other punctuation (a dot inside a
  version stays, and so does a "+" that ends a word: "command-r+" -> "Command R+"). A Bedrock namespace is dropped
  ("us.anthropic.claude-..." -> "Claude ...", step `drop_bedrock_namespace`), and so are its words before a display
  name that goes on as the model part does (an inference profile's "US Anthropic Claude 3.7 Sonnet" -> "Claude 3.7
  Sonnet", step `drop_bedrock_namespace_words`; the region comes back through `make_names_unique`), and only
  that: a dot before a word that is not a hyphenated model id is part of the name ("dots.llm1.inst" -> "Dots LLM1
  Inst", "llama-3-8b.gguf" -> "Llama 3 8B GGUF"), and lone letters between dots are initials, one word ("A.X-4.0"
  -> "A.X 4.0"). A llama.cpp quantisation ("q4_K_M", "Q8_0", "IQ4_XS") stays one
  upper-cased word and sets `quantization`; so does a quantisation method ("AWQ", "QAT"), and a bit width ("4bit"),
  written as the id writes it. ":free" variants set `is_free` and add no word; other variants (":thinking") become
  a word; a variant that pins a build (a hex digest, a fine-tune's job id, a bare revision number after a size:
  "nemotron-nano-3-30b:0", while after a version it is the minor part, "v1:0" -> "v1.0", "v3-5:0" -> "v3.5.0") adds
  none, and a fine-tune id
  ("ft:gpt-4o-mini:acme::AbCdEf12") reads as its base model, "Fine-Tuned" and its organisation. A last segment that
  names no model (only versions, variants, a precision or a task: "fal-ai/flux-pro/v1.1",
  ".../deepseek-r1/community", ".../llama-3.1-8b-instruct/fp-8" -> "Llama 3.1 8B Instruct FP8"; a precision written
  "fp-8" or "bf-16" is one word, "FP8") is read with the segment before it, never with the first (the organisation).
  A registry id ".../models/<model>/versions/<n>" reads as the model and its version: "v27" for an asset number, the
  number as written for a release date ("gpt-4-32k/versions/0613" -> "GPT-4 32K 0613"). Casing comes from a brand
  table ("gpt-4o" -> "GPT-4o", "glm-4.5" -> "GLM-4.5", "glm4.7" -> "GLM-4.7", "gpt-oss" -> "GPT-OSS", "dall-e" ->
  "DALL-E", family and task acronyms "bge", "gte", "ocr", "asr"; language codes in capitals, as the vowel-less "zh"
  already read ("bge-large-en-v1.5" -> "BGE Large EN v1.5"); FLUX as Black Forest Labs writes its releases:
  "flux-1" -> "FLUX.1", "flux-1.1" -> "FLUX1.1"); a token with an upper-case letter in the id keeps its casing
  ("DeepSeek", "Qwen3"); a brand ending a compound word keeps its capital ("codellama" -> "CodeLlama", "distilbert"
  -> "DistilBERT"), and so does "lm", a language model's suffix ("smollm2" -> "SmolLM2", "stablelm" -> "StableLM";
  English words that end in "lm" stay words: "film", "realm", "overwhelm"); a vowel-less token is read letter by
  letter ("mpt" -> "MPT"), and so is a code of vowel-less letters and numbers ("m2m100" -> "M2M100", "sd3" -> "SD3",
  "r7b" -> "R7B"; "Mk1" is Mark 1);
  "non-" keeps its hyphen ("non-reasoning" -> "Non-Reasoning"); every other word gets its first letter capitalised
  and nothing else (never str.title(), which turns "4o" into "4O"); a "<source>2<target>" task is one word ("t2v" ->
  "T2V", "img2img" -> "Img2Img"; "word2vec" is a name and stays). OpenAI's o-series stays lower-case ("o1", "o4
  Mini"). A "v" between a family that numbers its releases without one and its number is not read ("llama-v3p1-8b"
  -> "Llama 3.1 8B", "claude-v2" -> "Claude 2"). A tier word glued to a short version after a known family word is
  written apart ("mistral-small3.1" -> "Mistral Small 3.1", "llama-guard3" -> "Llama Guard 3"); a brand keeps its
  own ("Qwen3", "StarCoder2"). Claude ids write a version as two single digits ("claude-3-5-sonnet"), which become
  "3.5". An underscore between digits is a decimal point ("llama-3_1" -> "3.1", "stablelm-2-1_6b" -> "1.6B") except
  between a code and its size, where it parts words ("m2m100_418M" -> "M2M100 418M").
- `make_names_unique` appends the words that tell colliding ids apart, taken from the ids ("Free",
  "Thinking", "2024-08-06", "Fast"); if that is not enough, the words of the id path segments they do not share;
  as a last resort a short hash of the id (ids spelled apart only, "llama-3.1-70b" and "llama3.1-70b", end there).
  Names are compared as a reader tells them apart (`_name_key`). It never depends on the order of its input.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, replace

NAME_MAX_LENGTH = 200
# Text longer than this is cut (at a word boundary) before any rule reads it: a name is at most NAME_MAX_LENGTH
# and an id at most schema.MODEL_ID_MAX_LENGTH anyway, and several rules cost the square of their input (a
# 100,000-character display name took 40 s of the step every provider shares).
LONGEST_READ = 4 * NAME_MAX_LENGTH

RULE_DISPLAY_NAME = "display_name"
RULE_NAME = "name"
RULE_DERIVED_FROM_ID = "derived_from_id"


@dataclass(frozen=True)
class DisplayName:
    name: str
    rule: str
    raw: str
    steps: tuple[str, ...]
    is_free: bool = False
    quantization: str | None = None
    release_stage: str | None = None


# --- vocabularies ---------------------------------------------------------------------------------------

# llama.cpp's unquantised "f16"/"f32" ("Llama-3.2-3B-Instruct-f16.gguf") are precisions as "fp16" is.
# Quantisation-aware training ("gemma3:27b-it-qat") and a bare bit width ("mlx-community/...-4bit", "bnb-4bit")
# are quantisations as "awq" is: "QAT" is said in capitals like the others, a bit width as written ("4bit",
# _BIT_WIDTH), never "Qat" or "4BIT".
_BIT_WIDTH = re.compile(r"\d{1,2}bit", re.I)
_QUANTIZATION_TOKEN = re.compile(
    r"(?:fp|bf|int|nf|mxfp|nvfp)\d{1,2}|f(?:16|32)|w\d{1,2}a\d{1,2}|awq|gptq|gguf|bnb|exl2|hqq|qat|"
    + _BIT_WIDTH.pattern + r"|i?q[1-8](?:_[a-z0-9]{1,3}){1,3}", re.I)
# A precision written with a separator before its bits ("fp-8", "bf-16", "int_4": Inference.net's and Hyperbolic's
# ".../llama-3.1-8b-instruct/fp-8") is one word, as "fp8" is: never "FP 8", and a last segment of it alone
# names no model, so the segment before it does.
_SPLIT_PRECISION = re.compile(r"(?<![a-z0-9])(fp|bf|int|nf|mxfp|nvfp)[-_ ](2|3|4|6|8|16|32)(?![a-z0-9]|\.\d)", re.I)
# So is a bit width written as English writes it ("(8-bit)", "4 bit", "llama-3-70b-4-bit"): "8bit", never "8 Bit".
_SPLIT_BIT_WIDTH = re.compile(r"(?<![a-z0-9.])(\d{1,2})[-_ ](bit)(?![a-z0-9])", re.I)


def _joined_precision(text: str) -> str:
    """`text` with every precision or bit width written with a separator written whole ("fp-8" -> "fp8")."""
    return _SPLIT_BIT_WIDTH.sub(r"\1\2", _SPLIT_PRECISION.sub(r"\1\2", text))


# Stages recognised inside brackets. Plain words are only read for the unambiguous ones: "New" or "Old"
# without brackets is more likely part of a product name than a stage.
_BRACKETED_RELEASE_STAGES = {
    "preview", "beta", "alpha", "experimental", "new", "old", "legacy", "deprecated", "stable", "latest",
}
_PLAIN_WORD_RELEASE_STAGES = {"preview", "beta", "alpha", "experimental", "legacy", "deprecated"}
_NUMBERED_STAGE = re.compile(r"(preview|beta|alpha)\.?\d+(?:\.\d+)*")

_BRAND_SPELLINGS = {
    "ai": "AI", "ai21": "AI21", "api": "API", "apac": "APAC", "eu": "EU", "us": "US", "au": "AU", "moonshotai": "Moonshot AI", "aws": "AWS", "mistralai": "Mistral AI", "awq": "AWQ", "bge": "BGE", "chatgpt": "ChatGPT", "claude": "Claude",
    "clip": "CLIP", "gte": "GTE", "asr": "ASR", "codestral": "Codestral", "deephermes": "DeepHermes", "deepseek": "DeepSeek",
    "embeddinggemma": "EmbeddingGemma",
    "devstral": "Devstral", "e5": "E5", "flux": "FLUX", "gemini": "Gemini", "gemma": "Gemma", "gguf": "GGUF",
    "glm": "GLM", "gpt": "GPT", "gptq": "GPTQ", "grok": "Grok", "hd": "HD", "hermes": "Hermes", "hf": "HF",
    "internvl": "InternVL", "it": "IT", "kimi": "Kimi", "learnlm": "LearnLM", "lfm": "LFM", "llama": "Llama",
    "llava": "LLaVA", "minilm": "MiniLM", "minimax": "MiniMax", "ministral": "Ministral", "mistral": "Mistral",
    "mixtral": "Mixtral", "moe": "MoE", "nemotron": "Nemotron", "nvidia": "NVIDIA", "ocr": "OCR",
    "openai": "OpenAI", "openrouter": "OpenRouter", "oss": "OSS", "palm": "PaLM", "phi": "Phi", "pixtral": "Pixtral", "qwen": "Qwen",
    "qwq": "QwQ", "r1": "R1", "sdxl": "SDXL", "sonar": "Sonar", "tts": "TTS", "vit": "ViT", "vl": "VL",
    "whisper": "Whisper", "wizardlm": "WizardLM",
    "chatglm": "ChatGLM", "internlm": "InternLM", "ernie": "ERNIE", "mimo": "MiMo", "olmo": "OLMo",
    "starcoder": "StarCoder", "openelm": "OpenELM", "longcat": "LongCat", "mythomax": "MythoMax", "lora": "LoRA",
    "maas": "MaaS",  # "model as a service": Vertex's partner models (".../llama-3.3-70b-instruct-maas")
    # Families of makers not recorded here, as the makers write them: LG's EXAONE, Zhipu's CogView, CogVideoX and
    # CogVLM, OpenBMB's MiniCPM, SenseTime's SenseChat, Meta's MusicGen, PlayAI; the BERT family (and its compounds,
    # below), MPNet; training and task acronyms ("dpo", "qa": "nv-embed-qa-4").
    "exaone": "EXAONE", "cogview": "CogView", "cogvideox": "CogVideoX", "cogvlm": "CogVLM", "minicpm": "MiniCPM",
    "sensechat": "SenseChat", "musicgen": "MusicGen", "playai": "PlayAI", "bert": "BERT", "roberta": "RoBERTa",
    "deberta": "DeBERTa", "mpnet": "MPNet", "dpo": "DPO", "qa": "QA",
}
# A word that ends with one of these brands after a prefix of its own is spelled as one word of two capitals
# ("codellama" -> "CodeLlama", "tinyllama" -> "TinyLlama", "openhermes" -> "OpenHermes", "codeqwen1.5"), and so are
# BERT's many descendants ("distilbert" -> "DistilBERT", "colbert" -> "ColBERT", "modernbert" -> "ModernBERT").
_COMPOUND_BRANDS = ("llama", "gemma", "qwen", "hermes", "mistral", "whisper", "claude", "gemini", "mixtral", "bert")
_COMPOUND_BRAND_WORD = re.compile(rf"([a-z]{{3,}}?)({'|'.join(_COMPOUND_BRANDS)})(\d+(?:\.\d+)*)?")
# A word fused with "lm", a language model's suffix, as InternLM and WizardLM write it ("smollm2" -> "SmolLM2",
# "stablelm" -> "StableLM"): a prefix of three or more letters with a vowel (a vowel-less "vlm" is an acronym
# anyway). English words that end so stay words ("film", "realm", "overwhelm"); "openelm" is Apple's OpenELM,
# in the brand table. A word ending in "llm" is "LLM" after a word of four letters or more ("mobilellm" ->
# "MobileLLM", "tinyllm") and "LM" after a shorter one ("smollm" -> "SmolLM"): "smo" is no word.
_LM_WORD = re.compile(r"([a-z]{3,}?)lm(\d+(?:\.\d+)*)?")
_ENGLISH_LM_ENDINGS = ("film", "helm", "realm", "palm", "calm", "balm", "psalm", "qualm", "whelm", "holm")
# A model code read letter by letter: runs of vowel-less letters and numbers ("m2m100", "sd3.5", "r7b", "r1t"),
# as the vowel-less "mpt" or "rwkv" are (_ACRONYM). "mk" is the word Mark ("Perceptron Mk1") and stays a word;
# so does a hex run ("bd25", "c29c7295": a piece of a UUID or a digest, not a code anyone reads out).
_MODEL_CODE = re.compile(r"(?!mk\d)(?![0-9a-f]{4,}$)(?:[b-df-hj-np-tv-xz]{1,4}\d+(?:\.\d+)*)+[b-df-hj-np-tv-xz]{0,4}", re.I)
# Brands written with a hyphen before their version number ("GPT-4o", "GLM-4.5", OpenAI's "ChatGPT-4o").
_BRANDS_HYPHENED_TO_VERSION = {"gpt", "glm", "chatgpt"}
# Brands written with a dot before a whole release number and glued to a dotted one, as Black Forest Labs
# writes "FLUX.1 [schnell]", "FLUX1.1 [pro]" and "FLUX.2 [klein]".
_BRANDS_DOTTED_TO_VERSION = {"flux"}


def _dotted_brand_version(spelling: str, version: str) -> str:
    return f"{spelling}.{version}" if version.isdigit() else f"{spelling}{version}"
# A version glued to such a brand: digits, dotted parts and one letter ("4.7", "2", "4o", "4v").
_GLUED_BRAND_VERSION = re.compile(r"\d+(?:\.\d+)*[a-z]?", re.I)
# Families written with a space before the version even when the id glues them ("llama3.1" -> "Llama 3.1").
# Qwen is deliberately absent: "Qwen3" is the brand's own spelling.
_FAMILIES_SPACED_FROM_VERSION = ("llama", "gemma", "phi", "claude", "gemini", "grok", "mistral", "mixtral")
# Families that number their releases without a "v" ("Llama 3.1", "Claude 2"): a "v" Fireworks or Bedrock
# writes between the family and its number ("llama-v3p1-8b", "claude-v2") is not read. Mistral is absent: its
# own releases are "v0.1", "v0.3". So is Qwen: Fireworks lists "qwen-v2p5-7b" beside "qwen2p5-7b", and
# "Qwen v2.5 7B" tells the two apart where "Qwen2.5 7B" twice would end on a hash.
_FAMILIES_NUMBERED_WITHOUT_V = {"llama", "gemma", "phi", "claude", "gemini", "grok"}
_FAMILY_GLUED_TO_VERSION = re.compile(rf"({'|'.join(_FAMILIES_SPACED_FROM_VERSION)})(\d+(?:\.\d+)*[a-z]?)", re.I)
_ID_WORD_EXPANSIONS = {"exp": "Experimental"}
# Language codes a model is released for ("bge-large-en", "qwen-plus-character-ja", "aura-2-es", "opus-mt-en-de"):
# written in capitals, as the vowel-less "zh", "fr", "nl" are (_ACRONYM), never as a word "En" or "Ja". Only codes
# that are no English word an id would hold ("it" is instruction-tuned, "to" and "no" are words).
_LANGUAGE_CODES = {"en", "es", "de", "ja", "ko", "ru", "ar", "vi"}
# A tier or variant word glued to a short version right after a known family word ("mistral-small3.1",
# "llama-guard3"): the version is the family's, written apart. After any other word the pair is a name of its
# own ("rubert-tiny2"), and so is a longer number ("small100"); brands keep theirs ("Qwen3", "StarCoder2").
_TIER_GLUED_TO_VERSION = re.compile(r"(small|medium|large|mini|nano|tiny|guard)(\d(?:\.\d+)*)", re.I)

# A size: "70b", "8x7b", "17b-16e" parts; active or effective parameters "a22b", "e4b", and in millions as Granite's
# MoE models count them ("granite-3.0-3b-a800m": "A800M", never "A800m").
_SIZE_TOKEN = re.compile(r"\d+(?:\.\d+)?[bmkte](?:x\d+(?:\.\d+)?[bmkte])?|\d+x\d+(?:\.\d+)?[bmkt]|[ae]\d+(?:\.\d+)?[bm]")
_VERSION_TOKEN = re.compile(r"v\d+(?:\.\d+)*")
# A word that is a release number alone, with or without its "v" ("v2", "2.1").
_RELEASE_WORD = re.compile(r"v?\d+(?:\.\d+)*")
_O_SERIES_TOKEN = re.compile(r"o\d+")
# A task written "<source>2<target>": initials ("t2v", "i2v", "t2i") or words for media ("img2img", "txt2img",
# "pix2pix", "seq2seq", "text2image"). Other words make a name of their own ("word2vec", a user "ba2han"); a
# size ("e2b") is read before.
_TASK_MEDIA = ("img", "txt", "vid", "pix", "seq", "aud", "text", "image", "video", "audio", "speech")
_TASK_CODE = re.compile(rf"(?P<source>[a-z])2[a-z]|(?:{'|'.join(_TASK_MEDIA)})2(?:{'|'.join(_TASK_MEDIA)})")
_RELEASE_CANDIDATE_TOKEN = re.compile(r"rc\d+")
# A version with "v" for vision ("step-1v", "step-1.5v-mini"): "1V", as StepFun writes "Step-1V" and Zhipu "GLM-4V".
_VISION_VERSION = re.compile(r"\d+(?:\.\d+)*v")
# Dimensions a model makes or reads ("stable-fast-3d", "sv4d", "2d-to-3d"): "3D", as everyone writes it.
_DIMENSION_TOKEN = re.compile(r"[234]d")
# Fireworks writes a version's dot as "p" wherever it stands: "v3p1", "qwen2p5", "glm-4p5v", "0p6b".
_P_FOR_DOT = re.compile(r"(?<=\d)p(?=\d)")
# ...in a word that is a name or a size around one version: letters, the version and at most a size's or a
# vision model's letter or two ("qwen2p5", "0p6b", "4p5v"). A token that mixes letters and digits further is a
# random suffix (Google's "tunedModels/my-bot-x7k2p9q1w3", "...-ps3p4gljyko"), and "2p9" in it no version "2.9".
_P_FOR_DOT_WORD = re.compile(r"(?<![a-z0-9])[a-z]*\d+p\d+[a-z]{0,2}(?![a-z0-9])", re.I)
_SINGLE_DIGIT = re.compile(r"\d")
_V_VERSION = re.compile(r"v\d+", re.I)
_VERSION_GLUED_TO_NAME = re.compile(r"v\d+|[a-z]+\d", re.I)  # "v0", "qwen2", "k2": a single digit may follow
_YEAR = re.compile(r"(?:19|20)\d\d")
# Read letter by letter: a short token with no vowel ("xyz", "lfm", "mpt", "rwkv"); a "y" at the end of a
# longer token is a vowel ("sky", "fly"), so those stay words.
_ACRONYM = re.compile(r"(?![a-z]*y$)[b-df-hj-np-tv-z]{2,5}", re.I)
_PATH_TOKEN = re.compile(r"\S*/\S*")
_ID_PATH_SEGMENT = re.compile(r"@?[a-z][a-z._-]*")  # "meta-llama", "@cf": lower-case org parts, no digits to lose
_PLAIN_LOWER_WORD = re.compile(r"[a-z]+")  # "image" in "text/image": a word, not a model's id
_MONTHS = {f"{m:02d}" for m in range(1, 13)}
_DAYS = {f"{d:02d}" for d in range(1, 32)}

# --- text cleaning ---------------------------------------------------------------------------------------

# Characters a reader cannot see: controls, format marks (zero-width, bidi, BOM, soft hyphen, tags), lone
# surrogates, private use, line and paragraph separators, and the fillers that render as nothing. Cleaning
# removes them and the contract (schema.has_invisible) refuses them in ids: one definition for both.
# (Not "unassigned": which characters are depends on the Python's Unicode version, and a payload must read the
# same on every Python the project supports.)
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")
# Marks that change no glyph a reader tells apart (Unicode's default-ignorable marks): variation selectors
# ("gpt-4o\ufe0f" reads "gpt-4o"), the combining grapheme joiner, Mongolian free variation selectors, Khmer's
# inherent vowels.
IGNORABLE_MARKS = frozenset("\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f"
                            + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))
# Of those, what stands where a glyph would (private use, fillers) leaves a space: removed, "4\ue0005" read "45".
_GLYPH_LIKE = frozenset({"Co"})


@functools.lru_cache(maxsize=8192)
def is_invisible(char: str) -> bool:
    return char in BLANK_FILLERS or char in IGNORABLE_MARKS or unicodedata.category(char) in INVISIBLE_CATEGORIES

# Punctuation that means nothing at either end of a name ("Model:", "- Foo", "Answering.").
_EDGE_PUNCTUATION = " :;,.|/\\-\u2013\u2014\u00b7\u2022_"
_COMPANY_PREFIX = re.compile(r"^(?P<company>[^:\s][^:]*?)\s*:(?=\s|$)\s*(?P<rest>.*)$", re.S)
_COMPANY_MAX_WORDS = 4
_COMPANY_MAX_CHARS = 40
# A word that makes the part before ": " a model rather than a company: a number, version or size ("2.5", "3",
# "4o", "70B", "v2") or a word with a hyphen before a digit ("GPT-4o", "Phi-4"). Companies with digits ("AI21",
# "01.AI") have none: "Gemini 2.5 Flash: Thinking" keeps its model, "AI21: Jamba 1.5" drops its company.
_MODEL_WORD_BEFORE_COLON = re.compile(r"v?\d+(?:\.\d+)*[a-z]?|\d+(?:\.\d+)?[bmkt]|\S*-\d\S*", re.I)
# Colons other scripts write: full-width (CJK text), small and presentation forms. Read as ":".
_OTHER_COLONS = re.compile("[\uff1a\ufe55\ufe13]")
_VERSION_LIKE_START = re.compile(r"^(?:\d|[A-Z]\d)")
# Every bracket a name may arrive with, as (opening, closing) pairs: one list for the rule that flattens them
# and the contract that refuses them (schema.no_brackets), so no bracket the rule leaves can block a catalog.
BRACKETS = ("()", "[]", "{}", "<>", "\uff08\uff09", "\uff3b\uff3d", "\uff5b\uff5d", "\uff1c\uff1e", "\u3010\u3011",
            "\u3014\u3015", "\u3016\u3017", "\u3008\u3009", "\u300a\u300b", "\u300c\u300d", "\u300e\u300f", "\u00ab\u00bb",
            "\u2039\u203a", "\u27e8\u27e9")
# (ASCII, full-width and CJK round, square, curly and angle brackets, CJK corner and title marks 「」『』《》〈〉,
# guillemets «» ‹›, mathematical angles ⟨⟩.)
BRACKET_CHARACTERS = "".join(BRACKETS)
_OPENING = re.escape("".join(pair[0] for pair in BRACKETS))
_CLOSING = re.escape("".join(pair[1] for pair in BRACKETS))
# The innermost group of any kind; a mismatched pair ("(...]") counts as a group too, and is flattened the same.
_INNERMOST_BRACKET_GROUP = re.compile(f"[{_OPENING}]([^{re.escape(BRACKET_CHARACTERS)}]*)[{_CLOSING}]")
_BRACKET_CHARS = re.compile(f"[{re.escape(BRACKET_CHARACTERS)}]")
_COLON_BEFORE_SPACE = re.compile(r"\s*:+(?:\s+|$)")
# A colon before a bracket ("Foo:(beta)", after any company prefix): the bracket is a note on what comes before, as
# "Foo (beta)" is. Left for the colon rule, the flattened note read "Foo - Beta", and cleaned again "Foo Beta".
_COLON_BEFORE_BRACKET = re.compile(f"\\s*:+\\s*(?=[{_OPENING}])")
_SPACED_DASH = re.compile(r"\s+[\u2013\u2014\u2012\u2015]\s+")  # en, em, figure dash, bar between words
# Deeper nesting than this is junk; the remaining bracket characters are simply removed.
_MAX_BRACKET_DEPTH = 16


# Characters that are ASCII to a reader, in another code point: full-width letters, digits, "." and "-" (CJK text:
# "Ｌｌａｍａ ３．１"), and the hyphens typography puts in a word (OpenAI's pages write "GPT\u20114o" with a
# non-breaking hyphen; a minus sign, a small hyphen). Read as ASCII, the name is the one a reader types and the
# one another provider's catalog spells. Full-width colons and brackets have their own rules (_OTHER_COLONS,
# BRACKETS).
_ASCII_LOOKALIKES = str.maketrans({
    **{chr(0xFF10 + i): chr(ord("0") + i) for i in range(10)},
    **{chr(0xFF21 + i): chr(ord("A") + i) for i in range(26)},
    **{chr(0xFF41 + i): chr(ord("a") + i) for i in range(26)},
    "\uff0e": ".", "\uff0d": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-", "\ufe63": "-",
    # Latin ligatures, one character for two or three letters: "ﬁne-tune" read "FIne Tune".
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
})


# Quotes a whole name may arrive in (a value quoted twice over, in JSON, CSV or YAML): straight, typographic and
# low-nine pairs, as (opening, closing).
_WRAPPING_QUOTES = ('""', "''", "\u201c\u201d", "\u2018\u2019", "\u201e\u201c", "\u201a\u2018", "``")


def _without_wrapping_quotes(text: str, steps: list[str]) -> str:
    """'"Llama 3 70B"' -> 'Llama 3 70B': a pair of quotes around the whole name quotes it, and says nothing. Quotes
    inside stay ('The "Best" Model'), and so do a pair that is not the only one ('"A" and "B"')."""
    pairs = [pair for pair in _WRAPPING_QUOTES if len(text) > 2 and text[0] == pair[0] and text[-1] == pair[1]]
    for opening, closing in pairs:
        inner = text[1:-1]
        if opening not in inner and closing not in inner:
            _add_step(steps, "drop_wrapping_quotes")
            return _without_wrapping_quotes(inner.strip(), steps)  # quotes of another kind inside ('"“A”"')
    return text


# An HTML character reference a catalog scraped from a page, or escaped for one, still carries ("Llama 3 &amp;
# Vision", "Claude&nbsp;3.5", "GPT-4o &#8211; mini"): read as the character it stands for. Only a whole reference,
# ";" and all: "AT&T", "R&D" stay as written, and so does "&not" inside a word, which html.unescape alone reads "¬".
_HTML_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.I)


def _without_html_references(text: str) -> str:
    def character(match: re.Match) -> str:
        read = html.unescape(match.group())
        return match.group() if "\ufffd" in read else read  # "&#0;" names no character

    while (unescaped := _HTML_REFERENCE.sub(character, text)) != text:  # "&amp;amp;" was escaped twice
        text = unescaped
    return text


# An HTML tag a catalog scraped from a page still carries ("Llama 3 <b>New</b>", "GPT-4o<br/>mini"): markup, never
# words. Only the names of inline elements such a name is written with: any other "<...>" is a bracket, and its
# words are read as a bracket's are ("<beta>" is a stage, "<7B>" a size).
_HTML_TAG = re.compile(r"</?(?:a|abbr|b|big|br|code|del|div|em|font|i|ins|mark|p|s|small|span|strike|strong|sub|sup|"
                       r"tt|u|wbr)(?:\s[^<>]*)?/?>", re.I)


def _without_html_tags(text: str) -> str:
    """`text` with its HTML tags gone, each read as a space where it stood between two words ("GPT-4o<br>mini")."""
    return _HTML_TAG.sub(" ", text)


# "%20", "%2F": an id or a name copied from a URL ("Llama%203%2070B", "meta-llama%2Fllama-3-70b").
_PERCENT_ESCAPE = re.compile(r"%[0-9a-f]{2}", re.I)


def _percent_decoded(text: str) -> str:
    """`text` with its percent escapes read, when they spell UTF-8 text with no control character; else as it is
    ("100%ab" escapes no character, and stays)."""
    if not _PERCENT_ESCAPE.search(text):
        return text
    try:
        decoded = urllib.parse.unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text
    return text if any(unicodedata.category(c) == "Cc" for c in decoded) else decoded


def _as_read(model_id: str) -> str:
    """An id as a reader reads it: an accent written apart from its letter as one character (NFC: "e" and U+0301
    read "E Clair" where "é" read "Éclair"), full-width or typographic characters as ASCII ("ｇｐｔ－４ｏ" is
    "gpt-4o", as in a name) and percent escapes as their characters."""
    return _percent_decoded(unicodedata.normalize("NFC", model_id).translate(_ASCII_LOOKALIKES))


def _remove_invisible_characters(text: str) -> str:
    kept = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif not is_invisible(char):
            kept.append(char)
        elif char in BLANK_FILLERS or unicodedata.category(char) in _GLYPH_LIKE:
            kept.append(" ")
    return "".join(kept)


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _truncate_at_word_boundary(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    # A boundary in the first half would throw away most of the name; cut mid-word instead.
    if cut < limit // 2:
        cut = limit
    return text[:cut].rstrip()


def _without_doubled_words(text: str) -> str:
    """ "Llama Llama 3" -> "Llama 3": a word never follows itself (compared case-insensitively)."""
    words: list[str] = []
    for word in text.split(" "):
        # Only words with letters: "0 0" may be two numbers that tell models apart.
        if words and word.casefold() == words[-1].casefold() and any(c.isalpha() for c in word):
            continue
        words.append(word)
    return " ".join(words)


def _finish(text: str, steps: list[str]) -> str:
    """Whitespace, edge punctuation, doubled words, length and NFC, repeated until stable (idempotent)."""
    for _ in range(4):
        before = text
        text = _collapse_whitespace(text)
        undoubled = _without_doubled_words(text)
        if undoubled != text:
            _add_step(steps, "drop_doubled_word")
        text = undoubled
        trimmed = text.strip(_EDGE_PUNCTUATION)
        if trimmed != text.strip():
            _add_step(steps, "trim_edge_punctuation")
        text = trimmed
        if len(text) > NAME_MAX_LENGTH:
            text = _truncate_at_word_boundary(text, NAME_MAX_LENGTH)
            _add_step(steps, "truncated")
        # NFC last: removing characters above can leave decomposed sequences behind.
        text = unicodedata.normalize("NFC", text)
        if text == before:
            break
    return text


def _add_step(steps: list[str], step: str) -> None:
    if step not in steps:
        steps.append(step)


def _capitalise_lowercase_words(text: str) -> str:
    """'self-moderated' -> 'Self-Moderated'; words with digits or capitals ('17Bx128E', 'December') stay, and
    so does a connector after the first word ('best for prompt' -> 'Best for Prompt')."""
    words = []
    for word in text.split():
        if words and word in _CONNECTORS:
            pass
        elif word.islower() and all(c.isalpha() or c == "-" for c in word):
            word = "-".join(part[:1].upper() + part[1:] for part in word.split("-"))
        words.append(word)
    return " ".join(words)


def _strip_company_prefix(text: str, steps: list[str]) -> str:
    match = _COMPANY_PREFIX.match(text)
    if not match:
        return text
    company, rest = match.group("company").strip(), match.group("rest").strip()
    if len(company) > _COMPANY_MAX_CHARS or len(company.split()) > _COMPANY_MAX_WORDS:
        return text  # prose with a colon, not a company; the colon is neutralised later
    if rest and len(_letters_and_digits(company)) >= 2 \
            and _letters_and_digits(rest).startswith(_letters_and_digits(company)):
        # "360: 360GPT Pro", "Gemini 2.5 Flash: Gemini 2.5 Flash Thinking": the name after the colon begins with
        # what is before it, which says it a second time, whether a company, a family or a model.
        _add_step(steps, "strip_company_prefix")
        return rest
    if rest and _is_flag(company):
        # "Deprecated: Llama 2 70B", "Beta: Sonar", "Free: Llama 3.1 70B", "FP8: Llama 3.1 70B": a stage or a flag,
        # never a company; read as "(Free) Llama 3.1 70B" is (stripped as a company, the model was not free).
        return f"({company}) {rest}"
    if any(_MODEL_WORD_BEFORE_COLON.fullmatch(word) for word in company.split()):
        return text  # "Gemini 2.5 Flash: Thinking": a model and its variant; the colon is neutralised later
    _add_step(steps, "strip_company_prefix")
    if not rest:
        return ""  # "OpenAI:" names a company, not a model
    if _VERSION_LIKE_START.match(rest) and not rest.casefold().startswith(company.casefold()):
        # "DeepSeek: R1 0528": "R1" alone names nothing; the family word is part of the model name.
        _add_step(steps, "keep_family_word")
        return f"{company} {rest}"
    if _is_lone_word(_INNERMOST_BRACKET_GROUP.sub(" ", rest).strip()):
        # "Venice: Uncensored", "OpenRouter: Fusion": one word alone reads as a common word, not a model
        # (and "Venice: Uncensored (free)" is the same model, free).
        _add_step(steps, "keep_company_word")
        return f"{company} {rest}"
    return rest


# Items listed in one bracket ("(free, beta)", "(70B; FP8)"): a comma before a space or a semicolon parts them. A
# comma between digits is a thousands separator ("(1,000 context)") and stays.
_BRACKET_LIST_SEPARATOR = re.compile(r"\s*;\s*|\s*,\s+")


def _joined_items(items: list[str]) -> str:
    """The items a bracketed list keeps, as words of the name: a comma stays only where it parts plain words
    ("Text, Vision") or numbers ("December 12, 2024"), and a word with a digit (a size, a version) joins its
    neighbours with a space: "(beta, free, 70B)" is "Beta 70B", not "Beta, 70B"."""
    def plain(item: str) -> bool:
        return not any(c.isdigit() for c in item)

    joined = items[0] if items else ""
    for before, item in zip(items, items[1:]):
        numbers = before.split()[-1].isdigit() and item.split()[0].isdigit()
        joined += (", " if numbers or (plain(before) and plain(item)) else " ") + item
    return joined


# A flag after a separator at the end of a name ("Llama 3 70B - Free", "... — deprecated", "Qwen 32B | AWQ").
_TRAILING_FLAG = re.compile(r"^(?P<name>.*\S)\s+[-\u2013\u2014|\u00b7\u2022~]\s+(?P<flag>[a-z0-9-]+)\s*$", re.I | re.S)
# ...and one in brackets there ("Foo · (beta)", "Foo-(beta)"): flattened, it read "Foo · Beta", and cleaned again
# "Foo Beta".
_TRAILING_BRACKETED_FLAG = re.compile(
    rf"^(?P<name>.*\S)\s*[-\u2013\u2014|\u00b7\u2022~]\s*[{_OPENING}](?P<flag>[a-z0-9-]+)[{_CLOSING}]\s*$", re.I | re.S)


def _trailing_flag_as_bracket(text: str) -> str:
    """A free, quantisation or release-stage word after a separator at the end of a name, read as the same word in
    brackets is: "Llama 3 70B - Free" was not marked free and kept " - Free", "... — deprecated" kept its
    lower-case word beside the stage it set. Any other word after a separator is a part of the name."""
    match = _TRAILING_FLAG.match(text) or _TRAILING_BRACKETED_FLAG.match(text)
    if not match:
        return text
    if _is_flag(match.group("flag")):
        return f"{match.group('name')} ({match.group('flag')})"
    return text


def _flag_key(word: str) -> str:
    return _joined_precision(word.casefold())  # "(FP-8)", "(8-bit)" are "(FP8)", "(8bit)"


def _is_flag(word: str) -> bool:
    """Whether `word` is one _flatten_brackets reads as a flag when bracketed: free, a quantisation or a release
    stage. Before a colon or after a final separator it is read as bracketed (_strip_company_prefix,
    _trailing_flag_as_bracket)."""
    key = _flag_key(word)
    return key == "free" or key in _BRACKETED_RELEASE_STAGES or bool(_QUANTIZATION_TOKEN.fullmatch(key))


def _flatten_brackets(text: str, steps: list[str], attrs: dict) -> str:
    def replace_item(content: str, match: re.Match) -> str:
        key = _flag_key(content)
        if key == "free":
            attrs["is_free"] = True
            _add_step(steps, "free_flag")
            return ""
        if _QUANTIZATION_TOKEN.fullmatch(key):
            attrs["quantization"] = attrs["quantization"] or key
            _add_step(steps, "quantization_flag")
            return ""
        if key in _BRACKETED_RELEASE_STAGES:
            attrs["release_stage"] = attrs["release_stage"] or key
            _add_step(steps, "release_stage_flag")
        elif repeated(content, match):
            _add_step(steps, "drop_repeated_in_brackets")
            return ""
        else:
            _add_step(steps, "flatten_brackets")
        return _capitalise_lowercase_words(content)

    def repeated(item: str, match: re.Match) -> bool:
        """An item with a letter whose every word the name already says outside the bracket ("Llama 3.1 70B
        Instruct Turbo (70B)"): flattened, it would say it twice."""
        outside = set((match.string[:match.start()] + " " + match.string[match.end():]).casefold().split())
        words = item.casefold().split()
        return any(c.isalpha() for c in item) and bool(words) and all(word in outside for word in words)

    def replace_group(match: re.Match) -> str:
        # Each listed item is read as a bracket of its own: "(free, beta)" is free and in beta, as "(free) (beta)"
        # is, never the words "free, Beta". The items left keep their list ("(December 12, 2024)").
        content = match.group(1).strip()
        items = [item.strip() for item in _BRACKET_LIST_SEPARATOR.split(content) if item.strip()] or [content]
        kept = _joined_items([word for word in (replace_item(item, match) for item in items) if word])
        # Spaces on both sides so "1(2)" never becomes "12": digits that tell models apart stay apart.
        return f" {kept} "

    for _ in range(_MAX_BRACKET_DEPTH):
        flattened = _INNERMOST_BRACKET_GROUP.sub(replace_group, text)
        if flattened == text:
            break
        text = flattened
    if _BRACKET_CHARS.search(text):
        _add_step(steps, "flatten_brackets")
        text = _BRACKET_CHARS.sub(" ", text)
    return text


# "w/" and "w/o", English shorthand for "with" and "without" ("GPT-4o w/ Vision", "Mixtral w/o system prompt"):
# read as a path, "w/o" became "w o" and "w/" "w", and the two opposite words looked alike.
_WITH_OR_WITHOUT = re.compile(r"(?<![\w/])w/(o(?![\w/]))?\s*", re.I)


def _without_path_characters(text: str, steps: list[str]) -> str:
    """A name never carries "/" or "@". "w/" and "w/o" are the words "with" and "without". An id path keeps its
    last segment ("meta-llama/Llama-3 Chat" -> "Llama-3 Chat"); a "/" between digits is a date or fraction
    ("07/11" -> "07-11"); any other "/" or "@" ("Text/Image") becomes a space. A path whose last segment is a plain
    lower-case word is words, not an id: "(text/image)", "en/zh", "and/or" keep both sides."""
    spelled = _WITH_OR_WITHOUT.sub(lambda m: "without " if m.group(1) else "with ", text)
    if spelled != text:
        _add_step(steps, "spell_out_with")
        text = spelled

    def path_or_words(match: re.Match) -> str:
        token = re.sub(r"(?<=\d)/(?=\d)", "-", match.group(0))
        segments = [seg for seg in token.split("/") if seg]
        if (len(segments) > 1 and all(_ID_PATH_SEGMENT.fullmatch(seg) for seg in segments[:-1])
                and not _PLAIN_LOWER_WORD.fullmatch(segments[-1])):
            return segments[-1]
        return " ".join(segments) if segments else " "

    cleaned = _PATH_TOKEN.sub(path_or_words, text).replace("@", " ")
    if cleaned != text:
        _add_step(steps, "drop_id_path")
    return cleaned


def _read_plain_word_attributes(text: str, attrs: dict) -> None:
    for word in text.casefold().split():
        # "Beta.2", "beta2", "alpha1": a stage numbered within itself (semver's "1.0.0-beta.2") is that stage.
        stage = _NUMBERED_STAGE.fullmatch(word)
        stage = stage.group(1) if stage else word
        if attrs["release_stage"] is None and stage in _PLAIN_WORD_RELEASE_STAGES:
            attrs["release_stage"] = stage
    if attrs["quantization"] is None:
        attrs["quantization"] = _quantization_in(text)


def _quantization_in(text: str) -> str | None:
    """The first quantisation among the words of `text`, hyphenated or path parts included
    ("Llama-4-Scout-17B-16E-Instruct-FP8", "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8"); a GGUF one whole."""
    gguf = _GGUF_QUANT.search(text)
    if gguf:  # more precise than the file format's own word ("Q8_0" beside "GGUF")
        return gguf.group(1).casefold()
    words = re.split(r"[^a-z0-9]+", _joined_precision(text.casefold()))
    found = [word for word in words if _QUANTIZATION_TOKEN.fullmatch(word)]
    # The file format's word says least: "Qwen3-8B-GGUF:F16" is in F16.
    return next((word for word in found if word != "gguf"), found[0] if found else None)


def clean_upstream_name(raw: str) -> tuple[str, tuple[str, ...], dict]:
    """Clean one upstream name. Returns (name, steps, attrs); name is "" when nothing readable is left.

    attrs has the keys is_free, quantization and release_stage.
    """
    steps: list[str] = []
    attrs: dict = {"is_free": False, "quantization": None, "release_stage": None}
    if not isinstance(raw, str):
        return "", ("not_a_string",), attrs

    unescaped = _percent_decoded(raw)
    if unescaped != raw:
        steps.append("read_percent_escapes")
    # Tags, then references, until neither changes the text: "&lt;b&gt;New&lt;/b&gt;" is the tag escaped once.
    while True:
        untagged = _without_html_tags(unescaped)
        if untagged != unescaped:
            _add_step(steps, "drop_html_tags")
        read = _without_html_references(untagged)
        if read != untagged:
            _add_step(steps, "read_html_references")
        if read == unescaped:
            break
        unescaped = read
    text = _remove_invisible_characters(unescaped)
    if any(not c.isspace() and is_invisible(c) for c in unescaped):
        steps.append("remove_invisible_characters")
    text = unicodedata.normalize("NFC", text)
    collapsed = _collapse_whitespace(text)
    if collapsed != text:
        steps.append("collapse_whitespace")
    text = _without_wrapping_quotes(collapsed, steps)
    ascii_text = text.translate(_ASCII_LOOKALIKES)
    if ascii_text != text:
        _add_step(steps, "read_ascii_lookalikes")
        text = ascii_text

    colons = _OTHER_COLONS.sub(": ", text)
    if colons != text:
        _add_step(steps, "read_other_colon")
        text = _collapse_whitespace(colons)
    text = _strip_company_prefix(text, steps)
    glued = _COLON_BEFORE_BRACKET.sub(" ", text)
    if glued != text:
        _add_step(steps, "neutralise_colon")
        text = glued
    text = _trailing_flag_as_bracket(text)
    text = _flatten_brackets(text, steps, attrs)
    text = _without_path_characters(text, steps)
    neutralised = _COLON_BEFORE_SPACE.sub(" - ", text)
    if neutralised != text:
        _add_step(steps, "neutralise_colon")
    dashed = _SPACED_DASH.sub(" - ", neutralised)  # one separator in every name, as the colon rule writes it
    if dashed != neutralised:
        _add_step(steps, "read_dash")
    text = _finish(dashed, steps)

    if not any(c.isalnum() for c in text):
        _add_step(steps, "no_readable_text")
        return "", tuple(steps), attrs
    _read_plain_word_attributes(text, attrs)
    return text, tuple(steps), attrs


# --- names derived from ids ------------------------------------------------------------------------------


def _last_id_segment(model_id: str) -> str:
    segments = [s for s in model_id.strip().split("/") if s.strip()]
    return segments[-1].strip() if segments else model_id.strip()


# Words that name a version, a variant or a task of a model, never a model by themselves ("fal-ai/flux/dev",
# "deepseek/deepseek-r1/community", "fal-ai/recraft/v3/text-to-image"): a last id segment made only of them, and
# of versions, sizes and quantisations, is read with the segment before it.
_VARIANT_WORDS = {
    "dev", "community", "latest", "preview", "beta", "alpha", "stable", "base", "edit", "fast", "turbo", "lite",
    "pro", "max", "ultra", "standard", "hd", "instruct", "chat", "free", "default", "text", "image", "video",
    "audio", "speech", "to", "upscale", "inpaint",
}


# Path segments that say where a model lives in an API, never which model it is ("accounts/fireworks/models/x").
_PATH_BOILERPLATE = {"accounts", "models", "model", "publishers", "versions", "revisions"}
# A resource path that ends "<model>/versions/<v>" (Azure ML's "azureml://registries/azureml/models/
# Phi-3-mini-4k-instruct/versions/20", which read "Versions 20") names that version of the model before it.
_VERSION_COLLECTIONS = {"versions", "revisions"}


def _names_no_model(segment: str) -> bool:
    words = [w.casefold() for w in _split_id_words(segment.split(":")[0])]
    # A task names no model: "<source>-to-<target>" ("reference-to-video", "speech-to-text"), whatever its words.
    tasks = {i + offset for i, w in enumerate(words) if w == "to" and 0 < i < len(words) - 1 for offset in (-1, 0, 1)}
    words = [w for i, w in enumerate(words) if i not in tasks] if tasks else words
    if tasks and not words:
        return True
    return bool(words) and all(
        w in _VARIANT_WORDS or _RELEASE_WORD.fullmatch(w) or _SIZE_TOKEN.fullmatch(w)
        or _QUANTIZATION_TOKEN.fullmatch(w) for w in words)


# One word of letters alone ("erase", "schnell", "uncensored", "auto") reads as a common word, not as a model:
# the word before it stays ("Bria Erase", "FLUX Schnell", "Venice Uncensored"; step keep_company_word).
_LONE_WORD = re.compile(r"[^\W\d_]+")


# A path segment that names a release ("v2.1", "v2.5-turbo", "v2.2-a14b", "1.5"): it says which release of the
# family named in the segment before it. A bare integer ("projects/123") is an opaque id, not a release.
_RELEASE_SEGMENT = re.compile(r"(?:v\d+(?:\.\d+)*|\d+\.\d+(?:\.\d+)*)(?:[-_.].*)?", re.I)


def _is_date_number(text: str) -> bool:
    """A release date written as digits alone: "0613" (month and day, Azure OpenAI's "gpt-4-32k/versions/0613")
    or "20240613". It reads as written, never as a "v0613" asset version."""
    if len(text) == 4:
        return text[:2] in _MONTHS and text[2:] in _DAYS
    return len(text) == 8 and bool(_YEAR.fullmatch(text[:4])) and text[4:6] in _MONTHS and text[6:] in _DAYS


def _model_segment(model_id: str) -> str:
    """The part of the id that names the model: its last segment, with the segments before it while that
    segment names no model (_names_no_model), never the first one (the organisation: "org/v2" stays "v2").
    A release segment before them brings in the family it belongs to, with everything after it:
    "fal-ai/kling-video/v2.1/master/text-to-video" is the family's release and its variant, not "master"."""
    segments = [s.strip() for s in model_id.strip().split("/") if s.strip()]
    if len(segments) >= 3 and segments[-2].casefold() in _VERSION_COLLECTIONS:
        version = segments[-1]
        numbered = version.isdigit() and not _is_date_number(version)
        segments = [*segments[:-3], f"{segments[-3]}-{'v' if numbered else ''}{version}"]
    start = len(segments) - 1
    while start >= 2 and _names_no_model(segments[start]) and segments[start - 1].casefold() not in _PATH_BOILERPLATE:
        start -= 1
    release = next((i for i in range(2, start + 1) if _RELEASE_SEGMENT.fullmatch(segments[i])), None)
    # Not past an API's own path ("acme/inference/v1/llama-3-70b", "org/vendor/v1/models/llama-3"): the model's
    # segment then carries a version or size of its own, or boilerplate stands between.
    if release is not None and segments[release - 1].casefold() not in _PATH_BOILERPLATE \
            and not any(c.isdigit() for c in segments[start].split(":")[0]) \
            and not any(seg.casefold() in _PATH_BOILERPLATE for seg in segments[release:]):
        start = release - 1
    return "-".join(segments[start:]) if segments else model_id.strip()


# A capital after a lower-case letter ("SenseVoiceSmall", "CosyVoice") marks a coined name, which names its model
# alone: no dictionary word is written so.
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]")


def _is_lone_word(text: str) -> bool:
    """One pronounceable word of letters (_LONE_WORD), not an acronym that names a model ("SDXL", "TTS") nor a
    coined name written with inner capitals (_INNER_CAPITAL)."""
    return bool(_LONE_WORD.fullmatch(text)) and not _ACRONYM.fullmatch(text) and not _INNER_CAPITAL.search(text)


# What a company's handle adds to its brand ("ideogramai", "runwayml", "topazlabs-co"): such a handle says the
# brand's word already, and a name does not say it twice.
_COMPANY_SUFFIXES = ("", "ai", "ml", "labs", "lab", "hq", "co", "inc", "io")
# Path segments that group a provider's endpoints ("accounts/fireworks/routers/auto"): never the organisation.
_COLLECTION_SEGMENTS = _PATH_BOILERPLATE | {"routers", "deployments", "endpoints"}


def _word_before_lone_model_word(model_id: str) -> str | None:
    """The id segment before a last segment that is one lone word ("Bria/erase", "fal-ai/flux/schnell"): the
    organisation or family a derived name keeps in front of it, past collection segments ("accounts/fireworks/
    routers/auto" is "Fireworks Auto"). None when there is none, when it is a platform prefix ("@cf"), or when
    one of the two says the other ("ideogramai/ideogram" is "Ideogram", not "Ideogramai Ideogram"). A known
    model name keeps it too: "@cf/deepgram/flux" is Deepgram's, not Black Forest Labs' FLUX."""
    segments = [s.strip() for s in model_id.strip().split("/") if s.strip()]
    if len(segments) < 2 or _BEDROCK_ID.fullmatch(segments[-1]) or _model_segment(model_id) != segments[-1]:
        return None
    word = segments[-1].split(":")[0].strip()
    before = next((seg for seg in reversed(segments[:-1]) if seg.casefold() not in _COLLECTION_SEGMENTS), None)
    if before is None or not _is_lone_word(word) or before.startswith("@"):
        return None
    if _alnum(before) in {_alnum(word) + suffix for suffix in _COMPANY_SUFFIXES}:
        return None
    return before


# Bedrock ids: "[region.]vendor.model" ("anthropic.claude-3-5-sonnet-20240620-v1:0", "us.amazon.nova-pro-v1:0",
# "qwen.qwen3-vl-235b-a22b"): the namespace is dropped when what follows the last dot is a hyphenated model id
# starting with a letter. A dot before anything else is part of the model's own name: "dots.llm1.inst",
# "dots.ocr", "minicpm.v4", "llama-3-8b.gguf", "phi-2.q8_0.gguf" (no hyphen after the dot), "gpt-3.5-turbo"
# (a digit after it).
# A namespace part is a word, never a lone letter: "a.x-4.0" is SK Telecom's A.X, initials (_INITIALS).
# The model part may hold a dotted version between digits ("zai.glm-4.7", "us.openai.gpt-5.4"). After a region
# and a vendor ("us.deepseek.v3.2"), a bare version is the model too: the vendor word then stays, as below.
_BEDROCK_ID = re.compile(
    r"(?P<namespace>(?:[a-z][a-z0-9-]+\.)+)(?P<model>[a-z][a-z0-9_]*-(?:[^.]|(?<=\d)\.(?=\d))*)"
    r"|(?P<region>(?:us|eu|apac|us-gov|global|jp|au|ca)\.[a-z][a-z0-9-]*\.)(?P<version>v\d+(?:\.\d+)*(?::\d+)?)")
# A model part that starts with a bare version ("r1", "v3") names nothing alone: its vendor word stays
# ("deepseek.r1-v1:0" -> "DeepSeek R1 v1.0"), as "DeepSeek: R1" keeps its family word.
_BARE_VERSION_START = re.compile(r"[a-z]?\d", re.I)


def _without_namespace(segment: str) -> str:
    match = _BEDROCK_ID.fullmatch(segment)
    if not match:
        return segment
    if match.group("version"):
        return f"{match.group('region').rstrip('.').rsplit('.', 1)[-1]}-{match.group('version')}"
    model = match.group("model")
    if _BARE_VERSION_START.match(model):
        return f"{match.group('namespace').rstrip('.').rsplit('.', 1)[-1]}-{model}"
    return model


# A ":variant" that pins a build rather than naming a variant: a hex digest (Replicate's 64-digit version
# hashes) or an opaque mixed-case job id (OpenAI's fine-tunes, "ft:...::9vJqzpUH"). It tells builds apart only,
# so it is left out of the name and comes back through make_names_unique when two builds would collide.
_OPAQUE_VARIANT_CASED = re.compile(r"(?=\w*[a-z])(?=\w*[A-Z])(?=\w*\d)[a-zA-Z0-9]{8,}")
_FINE_TUNE_PREFIX = "ft"  # OpenAI's fine-tuned models: "ft:<base model>:<organisation>:<suffix>:<job id>"
FINE_TUNED_WORD = "Fine-Tuned"


_SHORT_DIGEST = 12  # characters of a build digest kept where it tells ids apart (git's short hashes are 7-12)


def _is_opaque_variant(variant: str) -> bool:
    variant = variant.strip()
    # A hex digest has a letter; twelve digits alone are more likely a time stamp ("202406201234"), which stays.
    return bool(re.fullmatch(r"(?=\d*[a-f])[0-9a-f]{12,}", variant, re.I) or _OPAQUE_VARIANT_CASED.fullmatch(variant))


def _split_variants(model_id: str, *, keep_opaque: bool = False) -> tuple[str, list[str]]:
    """The id's last segment without its Bedrock namespace, and its ":variant" parts.

    A numeric variant right after a version is its minor part ("v1:0" is v1.0, "20b-1:0" is 1.0). A variant
    that pins a build (_is_opaque_variant) is dropped unless `keep_opaque`. A fine-tune id
    ("ft:gpt-4o-mini:acme::AbCdEf12") has its base model as the base, and FINE_TUNED_WORD before its
    organisation and suffix.
    """
    base, *variants = _without_namespace(_model_segment(model_id)).split(":")
    if base.strip().casefold() == _FINE_TUNE_PREFIX and len(variants) >= 4 and not keep_opaque:
        # A fine-tune's job id is its fourth field whatever it holds ("AbCdEfGh" has no digit to look opaque by).
        del variants[3]
    variants = [v for v in variants if v.strip() and (keep_opaque or not _is_opaque_variant(v))]
    if base.strip().casefold() == _FINE_TUNE_PREFIX and variants:
        base, variants = variants[0], [FINE_TUNED_WORD, *variants[1:]]
    base, variants = _with_minor_version(base, variants)
    if not keep_opaque:
        # Bedrock's "nemotron-nano-3-30b:0": a revision number after a size, not a version of the model
        # (after a version it is its minor part, "v1:0" -> "v1.0"); it tells builds apart only.
        parts = [base, *variants]
        variants = [v for before, v in zip(parts, variants) if not (v.strip().isdigit() and _ends_with_size(before))]
    return base, variants


def _ends_with_size(base: str) -> bool:
    words = _split_id_words(base)
    return bool(words) and bool(_SIZE_TOKEN.fullmatch(words[-1].casefold()))


# A version the id writes in single digits apart ("rerank-v3-5", "claude-3-5"): _join_dates_and_claude_versions
# reads it as "v3.5", so a revision after it belongs after the whole version, never to its last digit alone.
_VERSION_IN_DIGITS_APART = re.compile(r"(?<![^-_.])(?:v\d+|[a-z]+\d|[a-z]+[-_]\d)[-_]\d$", re.I)


def _with_minor_version(base: str, variants: list[str]) -> tuple[str, list[str]]:
    """A numeric variant right after a version is its minor part: ("v1", ["0"]) is ("v1.0", []), and
    ("rerank-v3-5", ["0"]) is ("rerank-v3.5.0", []) (Bedrock's "cohere.rerank-v3-5:0" read "Rerank v3 5.0")."""
    variants = list(variants)
    if variants and variants[0].strip().isdigit() and _VERSION_IN_DIGITS_APART.search(base):
        base = f"{base[:-2]}.{base[-1]}"
    while variants and variants[0].strip().isdigit() and base[-1:].isdigit():
        base = f"{base}.{variants.pop(0).strip()}"
    return base, variants


# "free" as the last word of an id's model segment: Together's "Llama-3.3-70B-Instruct-Turbo-Free", a free tier
# listed as a model of its own, as OpenRouter lists one as a ":free" variant.
_FREE_LAST_WORD = re.compile(r"[-_. ]free\s*$", re.I)


def _has_free_variant(model_id: str) -> bool:
    base, variants = _split_variants(model_id)
    return (any(v.strip().casefold() == "free" for v in variants)
            or bool(_FREE_LAST_WORD.search(_last_id_segment(base))))


# llama.cpp's quantisation names ("q4_K_M", "Q8_0", "IQ4_XS", "q6_k"): one word, upper-cased as written in every
# GGUF listing, never read as a version ("Q8.0") or split into letters ("Q4 K M").
_GGUF_QUANT = re.compile(r"(?<![a-z0-9])(i?q[1-8](?:_[a-z0-9]{1,3}){1,3})(?![a-z0-9])", re.I)


def _split_id_words(text: str) -> list[str]:
    words = []
    for index, part in enumerate(_GGUF_QUANT.split(text)):
        words.extend([part.upper()] if index % 2 else _split_plain_id_words(part))
    return words


# Numbers written with "_" between their parts ("3_1", "2_5_72b"), and whether an id writes its words with "_".
_UNDERSCORED_NUMBERS = re.compile(r"\d+(?:\.\d+)*(?:_\d+(?:\.\d+)*)+(?:[bmkt](?![a-z0-9]))?", re.I)
_UNDERSCORE_BESIDE_LETTER = re.compile(r"[a-z]_|_[a-z]", re.I)
_SIZE_UNIT_END = re.compile(r"[bmkt]$", re.I)


def _underscored_numbers(text: str) -> str:
    """ "_" between digits as a decimal point ("Llama-3_1" is 3.1, "internlm2_5" InternLM2.5), once per number: a
    size after it is a word of its own ("meta_llama_3_1_70b" is 3.1 70B, never "3.1.70b"), and so is a size right
    after a number in an id that writes its words with "_" ("llama_3_70b" is Llama 3 70B, never "Llama 3.70B"),
    where an id that parts its words otherwise writes a size's decimal point so ("stablelm-2-1_6b" is 1.6B)."""
    words_with_underscores = bool(_UNDERSCORE_BESIDE_LETTER.search(text))

    def read(match: re.Match) -> str:
        parts = match.group().split("_")
        if not _SIZE_UNIT_END.search(parts[-1]):
            # A version ("v0_3", "1_0"), up to a part of 3 digits or more: a date or a snapshot, never a decimal
            # place ("gpt_4_0613" is GPT-4 0613, "o1_2024_12_17" o1 2024-12-17, "command_r_08_2024" 08-2024).
            dated = next((i for i, part in enumerate(parts) if len(part) >= 3), len(parts))
            version, date = ".".join(parts[:dated]), "-".join(parts[dated:])
            return "-".join(part for part in (version, date) if part)
        if len(parts) == 2:
            return "-".join(parts) if words_with_underscores else ".".join(parts)
        return ".".join(parts[:-1]) + "-" + parts[-1]

    return _UNDERSCORED_NUMBERS.sub(read, text)


# An underscore between a code that ends in digits and a size parts words ("m2m100_418M" is M2M100 at 418M
# parameters, never "m2m100.418M"); after a bare number it is a decimal point ("stablelm-2-1_6b" is 1.6B) and
# before anything but a size a version's ("internlm2_5" is InternLM2.5).
_UNDERSCORE_BEFORE_SIZE = re.compile(r"(?<=[a-z])(\d+)_(?=\d+(?:\.\d+)?[bmkt](?![a-z0-9]))", re.I)
# ...but not between two lone letters: initials are one name (SK Telecom's "A.X-4.0" is "A.X 4.0", never "A X"),
# written in capitals ("a.x" -> "A.X").
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]", re.I)
_DOT_BETWEEN_LETTERS = re.compile(r"(?<=[a-z][a-z])\.(?=[a-z])|(?<=[a-z])\.(?=[a-z][a-z])", re.I)
_DOT_BEFORE_WORD = re.compile(r"(?<=\d)\.(?=[a-z]{2})|(?<=[a-z0-9])\.(?=[a-z]\d+(?![a-z0-9]))", re.I)
# A "+" that ends a word is part of it ("command-r+" is Cohere's Command R+, never "Command R", which is another
# model); one before a word parts the two as any other punctuation does ("gpt-4o+search").
_ID_WORD_SEPARATORS = re.compile(r"(?:[^\w.+]|_|\+(?=\w))+")


def _split_plain_id_words(text: str) -> list[str]:
    text = _joined_precision(text)  # "fp-8" is "fp8", before "_" between digits reads as a dot
    text = _UNDERSCORE_BEFORE_SIZE.sub(r"\1-", text)
    text = _underscored_numbers(text)
    text = _P_FOR_DOT_WORD.sub(lambda word: _P_FOR_DOT.sub(".", word.group()), text)
    text = _DOT_BETWEEN_LETTERS.sub(" ", text)  # "moonshot.kimi": a dot between letters parts words
    text = _DOT_BEFORE_WORD.sub(" ", text)  # "llm1.inst", "v1.5.f16": so does one before a word
    words = []
    for word in _ID_WORD_SEPARATORS.split(text):
        word = word.strip(".")
        if not word:
            continue
        family = _FAMILY_GLUED_TO_VERSION.fullmatch(word)
        tier = _TIER_GLUED_TO_VERSION.fullmatch(word) if words and words[-1].casefold() in _BRAND_SPELLINGS else None
        if family:
            words.extend(family.groups())
        elif tier:
            words.extend(tier.groups())  # "mistral-small3.1" -> "Mistral Small 3.1", "llama-guard3" -> "Guard 3"
        else:
            words.append(word)
    return words


def _join_dates_and_claude_versions(words: list[str]) -> list[str]:
    joined: list[str] = []
    i = 0
    while i < len(words):
        rest = words[i : i + 3]
        if (
            len(rest) == 3
            and re.fullmatch(r"(?:19|20)\d\d", rest[0])
            and rest[1] in _MONTHS
            and rest[2] in _DAYS
        ):
            joined.append("-".join(rest))
            i += 3
        elif len(rest) >= 2 and rest[0] in _MONTHS and rest[1] in _DAYS:
            joined.append("-".join(rest[:2]))
            i += 2
        elif (
            joined
            and (joined[-1].isalpha() or _V_VERSION.fullmatch(joined[-1]))
            and len(rest) >= 2
            and _SINGLE_DIGIT.fullmatch(rest[0])
            and _SINGLE_DIGIT.fullmatch(rest[1])
        ):
            # "claude-3-5-sonnet", "family-3-3-70b", "grok-4-1-fast", "v0-3": one version in single digits.
            run = 2
            while i + run < len(words) and run < 4 and _SINGLE_DIGIT.fullmatch(words[i + run]):
                run += 1
            joined.append(".".join(words[i : i + run]))
            i += run
        elif joined and _VERSION_GLUED_TO_NAME.fullmatch(joined[-1]) and _SINGLE_DIGIT.fullmatch(words[i]):
            joined[-1] = f"{joined[-1]}.{words[i]}"  # "mistral-7b-v0-3" -> v0.3, "qwen2-5-7b" -> Qwen2.5
            i += 1
        elif len(rest) >= 2 and rest[0] in _MONTHS and _YEAR.fullmatch(rest[1]):
            joined.append("-".join(rest[:2]))  # Cohere's "command-a-03-2025": a month and a year
            i += 2
        else:
            joined.append(words[i])
            i += 1
    return joined


def _format_id_word(word: str, *, is_first: bool, after_deepseek: bool) -> str:
    low = word.casefold()
    if low in _BRAND_SPELLINGS:
        return _BRAND_SPELLINGS[low]
    if is_first and _O_SERIES_TOKEN.fullmatch(low):
        return low  # OpenAI writes its o-series in lower case: "o1", "o4 Mini"
    if low in _ID_WORD_EXPANSIONS:
        return _ID_WORD_EXPANSIONS[low]
    if low in _LANGUAGE_CODES:
        return low.upper()
    for brand, spelling in _BRAND_SPELLINGS.items():
        if len(brand) >= 3 and low.startswith(brand) and low[len(brand) : len(brand) + 1].isdigit():
            version = word[len(brand) :]
            if brand in _BRANDS_HYPHENED_TO_VERSION and _GLUED_BRAND_VERSION.fullmatch(version):
                # "glm4.7", "gpt2": the word is the brand and its version alone, written as the brand does
                # ("GLM-4.7", "GPT-2"); "gpt4all" is a name of its own and stays one word.
                return f"{spelling}-{re.sub(r'(?<=[0-9])v$', 'V', version)}"
            if brand in _BRANDS_DOTTED_TO_VERSION and _RELEASE_WORD.fullmatch(version):
                return _dotted_brand_version(spelling, version)  # "flux1" -> "FLUX.1"
            return spelling + version  # "qwen2.5" -> "Qwen2.5"
    if any(c.isupper() for c in word):
        return word  # the id already has deliberate casing ("DeepSeek", "A22B", "V2")
    compound = _COMPOUND_BRAND_WORD.fullmatch(low)
    if compound:
        prefix, brand, version = compound.groups()
        return prefix.capitalize() + _BRAND_SPELLINGS[brand] + (version or "")
    lm_word = _LM_WORD.fullmatch(low)
    if lm_word and any(c in "aeiouy" for c in lm_word.group(1)) \
            and not low.rstrip("0123456789.").endswith(_ENGLISH_LM_ENDINGS):
        prefix, version = lm_word.group(1), lm_word.group(2) or ""
        if prefix.endswith("l") and len(prefix) > 4:
            return prefix[:-1].capitalize() + "LLM" + version
        return prefix.capitalize() + "LM" + version
    if _VERSION_TOKEN.fullmatch(low):
        return ("V" if after_deepseek else "v") + low[1:]
    if _BIT_WIDTH.fullmatch(low):
        return low
    if (
        _SIZE_TOKEN.fullmatch(low)
        or _QUANTIZATION_TOKEN.fullmatch(low)
        or _RELEASE_CANDIDATE_TOKEN.fullmatch(low)
        or _DIMENSION_TOKEN.fullmatch(low)
    ):
        return re.sub(r"(?<=\d)X(?=\d)", "x", low.upper())  # "70B", "8x7B", "16E", "FP8", "MXFP4", "RC5"
    if _INITIALS.fullmatch(low):
        return low.upper()
    if _VISION_VERSION.fullmatch(low):
        return f"{low[:-1]}V"
    task = _TASK_CODE.fullmatch(low)
    if task:
        # "t2v" -> "T2V" (one letter a side is an initial), "img2img" -> "Img2Img" (short words a side)
        return low.upper() if task.group("source") else "2".join(part.capitalize() for part in low.split("2"))
    if _ACRONYM.fullmatch(low) or _MODEL_CODE.fullmatch(low):
        return low.upper()  # "xyz" -> "XYZ", "sd3" -> "SD3": nobody says a vowel-less token as a word
    return word[:1].upper() + word[1:]


def _format_id_words(words: list[str]) -> list[str]:
    formatted: list[str] = []
    after_deepseek = False
    i = 0
    while i < len(words):
        low = words[i].casefold()
        following = words[i + 1] if i + 1 < len(words) else ""
        if low == "gpt" and following.casefold() == "oss":
            formatted.append("GPT-OSS")
            i += 2
            continue
        if low == "dall" and following.casefold() == "e":
            formatted.append("DALL-E")
            i += 2
            continue
        if low == "gpt" and following == "35":
            formatted.append("GPT-3.5")  # Azure deployment names drop the dot: "gpt-35-turbo" (no GPT-35 exists)
            i += 2
            continue
        if not formatted and low in _FAMILIES_NUMBERED_WITHOUT_V and _VERSION_TOKEN.fullmatch(following.casefold()):
            # "llama-v3p1-8b" -> "Llama 3.1 8B": only right after the family word that starts the model
            # ("openhermes:7b-mistral-v2", "deepseek-v3", "kling-v2.1", "claude-instant-v1" keep theirs)
            formatted.extend([_BRAND_SPELLINGS[low], following[1:]])
            i += 2
            continue
        if low == "non" and following.isalpha() and len(following) > 2:
            # "non-reasoning" is one word, "Non-Reasoning", as xAI and Helicone write it: never "Non Reasoning"
            formatted.append(f"Non-{_format_id_word(following, is_first=False, after_deepseek=after_deepseek)}")
            i += 2
            continue
        if low in _BRANDS_DOTTED_TO_VERSION and _RELEASE_WORD.fullmatch(following) and following[:1].isdigit():
            formatted.append(_dotted_brand_version(_BRAND_SPELLINGS[low], following))  # "flux-1" -> "FLUX.1"
            i += 2
            continue
        if low in _BRANDS_HYPHENED_TO_VERSION and following[:1].isdigit():
            version = re.sub(r"(?<=\d)v$", "V", following)  # GLM writes its vision models "GLM-4.5V"
            formatted.append(f"{_BRAND_SPELLINGS[low]}-{version}")  # "GPT-4o", "GLM-4.5"
            i += 2
            continue
        # "o3" stays lower case first and after its maker's name ("OpenAI o3 Mini")
        formatted.append(_format_id_word(words[i], is_first=not formatted or formatted[-1] == "OpenAI",
                                         after_deepseek=after_deepseek))
        # DeepSeek writes its releases "V3", "Coder-V2"; a "v" after a release it already named is a revision
        # of that model (Bedrock's "deepseek.r1-v1:0"), written "v" as every other provider's revision is.
        after_deepseek = (after_deepseek or low == "deepseek") and not any(c.isdigit() for c in low)
        i += 1
    return formatted


def _read_as_id_words(text: str) -> list[str]:
    """A piece of an id (or a name written as one) as the words of a name: split, dates and Claude versions
    joined, each word cased and spelled."""
    return _format_id_words(_join_dates_and_claude_versions(_split_id_words(text)))


def _id_words(model_id: str, *, every_variant: bool) -> list[str]:
    # every_variant (make_names_unique): the ":free" and build-pinning variants too, which can tell ids apart
    base, variants = _split_variants(_as_read(model_id), keep_opaque=every_variant)
    words = _read_as_id_words(base)
    for variant in variants:
        if variant.strip().casefold() == "free" and not every_variant:
            continue  # free is an attribute, like "(free)" in a display name
        if variant == FINE_TUNED_WORD:
            words.append(variant)
            continue
        if every_variant and _is_opaque_variant(variant) and len(variant.strip()) > _SHORT_DIGEST:
            # A build digest tells two ids apart by its start, as a short hash does: a 64-character one whole
            # made a name of it ("SDXL 39ed52f2a78e934b...").
            words.append(variant.strip()[:_SHORT_DIGEST])
            continue
        words.extend(_read_as_id_words(variant))
    return words


def _organisation_before_nameless_model(model_id: str) -> str | None:
    """The first segment when the rest of the id names no model by itself, only releases, variants and tasks
    ("flux-pro/v1.1", "bria/text-to-image/3.2" read "v1.1" and "Text To Image 3.2"): the family or maker it
    belongs to. None for a platform prefix ("@cf") or a collection segment ("models/v2")."""
    segments = [s.strip() for s in model_id.strip().split("/") if s.strip()]
    if len(segments) < 2 or segments[0].startswith("@") or segments[0].casefold() in _COLLECTION_SEGMENTS:
        return None
    model = _model_segment(model_id)
    words = [w.casefold() for w in _split_id_words(model.split(":")[0])]
    # Variant words alone may be a model's own name ("stability/stable-image-ultra"): a release or a task is not.
    says_release = any(_RELEASE_WORD.fullmatch(w) for w in words) or "to" in words[1:-1]
    return segments[0] if model == "-".join(segments[1:]) and _names_no_model(model) and says_release else None


def _derive(model_id: str) -> tuple[str, tuple[str, ...], dict]:
    words = _id_words(model_id, every_variant=False)  # it reads the id itself (_as_read), as for make_names_unique
    # The rules below read it too: "ｇｐｔ－４ｏ", "gpt%2D4o" are the id "gpt-4o" to a reader, as in a name. Read once:
    # its escapes read twice, "50%2541" was "50A".
    translated = unicodedata.normalize("NFC", model_id).translate(_ASCII_LOOKALIKES)
    model_id = _percent_decoded(translated)
    percent_escaped = model_id != translated
    before = _word_before_lone_model_word(model_id) or _organisation_before_nameless_model(model_id)
    if before is not None:
        words = [*_segment_words(before), *words]
    name, steps, attrs = clean_upstream_name(" ".join(words))
    if _BEDROCK_ID.fullmatch(_last_id_segment(model_id)):
        steps = ("drop_bedrock_namespace", *steps)
    if before is not None:
        steps = ("keep_company_word", *steps)
    if percent_escaped:
        steps = ("read_percent_escapes", *steps)
    attrs["is_free"] = attrs["is_free"] or _has_free_variant(model_id)
    return name, steps, attrs


def _unreadable_id_name(model_id: str) -> str:
    return f"Model {hashlib.sha256(model_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def derive_name_from_id(model_id: str) -> str:
    """A readable name from a model id alone: "meta-llama/Llama-3.3-70B-Instruct" -> "Llama 3.3 70B Instruct"."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise ValueError("model_id must be a non-blank string")
    return _derive(_read_part(model_id))[0] or _unreadable_id_name(model_id)


# --- the seed rule ---------------------------------------------------------------------------------------


def _own_id_segments(model_id: str, value: str) -> tuple[str, ...]:
    """The id segments that name the model: the last, and the model's before "versions/<n>" (Azure ML's
    "azureml://registries/azureml/models/Llama-2-7b-chat/versions/27" names "Llama-2-7b-chat", not "27") when
    `value` is written as an id is: in lower case, three or more parts joined by "-" or "_", or a lower-case
    word after such a joint ("Mistral-large"). A maker's short spelling ("Phi-4", "TimeGEN-1", "MedImageInsight")
    is the name it goes by, and reads better than the id's derived words and asset version."""
    segments = [s.strip() for s in model_id.strip().split("/") if s.strip()]
    last = _last_id_segment(model_id)
    if len(segments) >= 3 and segments[-2].casefold() in _VERSION_COLLECTIONS:
        parts = [p for p in re.split(r"[-_]", value) if p]
        if value == value.lower() or len(parts) >= 3 or any(p.isalpha() and p.islower() for p in parts[1:]):
            return (last, segments[-3])
    return (last,)


def _looks_like_model_id(value: str, model_id: str) -> bool:
    value = value.strip()
    own = _own_id_segments(model_id, value)
    # "gemma 3 12b it" for "unsloth/gemma-3-12b-it" (Chutes): the id spaced out in lower case, not a name anyone
    # wrote; the id's derived name reads it ("Gemma 3 12B IT").
    if not any(c.isupper() for c in value) and " " in value \
            and any(_alnum(value) == _alnum(seg.split(":")[0]) for seg in own):
        return True
    if any(c.isspace() for c in value):
        return False
    if value == model_id.strip() or value in own:
        return True
    # Replicate's name "sdxl" for "stability-ai/sdxl:<version digest>", Ollama's "llama3.1" for "llama3.1:8b": the
    # segment without its ":variant", in the id's lower case, is the id as much as the segment is. A maker's
    # capitals ("Phi-4" for "Phi-4:free") still make it a name.
    if value == value.lower() and value in {seg.split(":")[0].strip() for seg in own}:
        return True
    if value.startswith("@") or "/" in value:
        return True
    # "open-mistral-7b": nobody writes a display name as one lower-case hyphenated token.
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    return has_lower and not has_upper and ("-" in value or "_" in value)


# "Meta - Llama 3", "Mistral AI | Mixtral 8x7B", "OpenAI – GPT-4o", "OpenAI › GPT-4o": a company before a separator
# other than ": " ("-" or "/" only with spaces around: "GPT-4o", "Qwen-Max" are names).
_SEPARATOR = r"(?:\s+[-/]\s+|\s*[\u2013\u2014|\u203a\u00bb]\s*)"
_SEPARATED_PREFIX = re.compile(rf"^(?P<left>[^:]{{1,40}}?){_SEPARATOR}(?P<rest>\S.*)$", re.S)


def _letters_and_digits(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def _company_separator_as_colon(value: str, model_id: str) -> str:
    """`value` with its separator read, when what stands before it is the organisation the id itself names (a
    path segment before the last: "meta-llama/...", "mistralai/...", "@cf/meta/..."): as ": " when the rest
    starts the way the model's own id segment does ("Meta - Llama 3" for ".../llama-3-8b": the company-prefix
    rule then decides as for "Company: Model"), else as a space, the organisation being the model's family
    word ("DeepSeek - Chat" for "deepseek/deepseek-chat" reads "DeepSeek Chat"). Without that evidence the
    separator is left alone: "Llama 3 - Instruct" is one model's name."""
    match = _SEPARATED_PREFIX.match(value.strip())
    if not match or len(re.findall(_SEPARATOR, value.strip())) > 1:
        return value  # "A - B - C": which part is a company is anyone's guess; the separators stay
    if any(_MODEL_WORD_BEFORE_COLON.fullmatch(word) for word in match.group("left").split()):
        return value  # a number or version before it: a model's own words ("Llama 3 - Instruct"), as for ": "
    left = _letters_and_digits(match.group("left"))
    *orgs, last = [_letters_and_digits(seg) for seg in model_id.strip().split("/")]
    if len(left) < 2 or not any(org and (org.startswith(left) or left.startswith(org)) for org in orgs):
        return value
    rest = match.group("rest")
    first_word = _letters_and_digits(rest.split()[0])
    if first_word and last.startswith(first_word):
        return f"{match.group('left').strip()}: {rest}"
    return f"{match.group('left').strip()} {rest}"


def _names_the_organisation_of(text: str, model_id: str) -> bool:
    """True when `text` is the organisation the id names ("Meta" for "meta-llama/...", "OpenAI" for "openai/gpt-4o",
    "@cf/meta/..." and "publishers/meta/models/..." alike), in any case or punctuation: its first path segment
    past a platform prefix and collection segments, never a segment of the model's own path ("dev" of
    "fal-ai/flux/dev/image-to-image")."""
    segments = [seg.strip() for seg in model_id.strip().split("/")[:-1]]
    segments = [seg for seg in segments
                if seg and not seg.startswith("@") and seg.casefold() not in _COLLECTION_SEGMENTS]
    if not segments or text.strip().casefold() in _VARIANT_WORDS | _BRACKETED_RELEASE_STAGES:
        return False  # a tier, never a company: SiliconFlow's "Pro/zai-org/GLM-5.1" is "GLM-5.1 (Pro)"
    left, org = _letters_and_digits(text), _letters_and_digits(segments[0])
    return len(left) >= 2 and bool(org) and (org.startswith(left) or left.startswith(org))


# A company named after the model, past a separator ("Claude 3 Haiku | Anthropic", "GPT-4o by OpenAI", "Nova Pro -
# Amazon"): the separator and the company, to be checked against the organisation the id names.
_TRAILING_COMPANY = re.compile(r"^(?P<rest>.*?\w.*?)\s*(?:\s[|\u00b7\u2013\u2014-]|\sby|\sfrom)\s+(?P<company>[^|:()\[\]]+?)\s*$",
                               re.I | re.S)


def _without_trailing_company(value: str, model_id: str) -> str:
    """`value` without the company after it, when it is the organisation the id names ("Claude 3 Haiku | Anthropic"
    for "anthropic/claude-3-haiku" reads "Claude 3 Haiku"), as a company before it goes. A word after the name
    that is not that organisation stays ("Llama 3 - Instruct", "Gemini 2.5 Flash by Night")."""
    match = _TRAILING_COMPANY.match(value)
    if match is None:
        return value
    company = match.group("company").strip()
    if len(company.split()) > _COMPANY_MAX_WORDS or len(_letters_and_digits(company)) < 3 \
            or not _names_the_organisation_of(company, model_id):
        return value
    return match.group("rest").strip()


def _without_bracketed_id(value: str, model_id: str) -> str:
    """`value` without a bracket that holds the model's own id, whole or its last segment ("Llama 3 70B
    (meta-llama/llama-3-70b)", "GPT-4o [gpt-4o]"): the id is the model's key, shown beside its name, and read as
    words it gave "Llama 3 70B llama-3-70b". A bracket is dropped only when something readable is left, and only
    for an id that reads as one: four characters or more, with more than letters ("FLUX.1 [schnell]" for
    "fal-ai/flux/schnell" names its variant, "Foo (B)" for "acme/b" may mean anything)."""
    ids = {piece for piece in (model_id.strip().casefold(), _last_id_segment(model_id).casefold())
           if len(piece) >= 4 and not piece.isalpha()}
    for match in _INNERMOST_BRACKET_GROUP.finditer(value):
        rest = f"{value[:match.start()].strip()} {value[match.end():].strip()}".strip()
        if match.group(1).strip().casefold() in ids and any(c.isalnum() for c in rest):
            return _without_bracketed_id(rest, model_id)
    return value


def _bracketed_company_as_prefix(value: str, model_id: str) -> str:
    """`value` with a bracketed organisation at its start or end ("[OpenAI] GPT-4o", "GPT-4o (OpenAI)", "Qwen2.5 72B
    (Qwen) (free)") written as "Company: rest", when it is the organisation the id names: the company-prefix rule
    then decides, as for "OpenAI: GPT-4o" ("DeepSeek R1 (DeepSeek)" keeps one "DeepSeek", "Sonar (Perplexity)" its
    company before a lone word). Without that evidence the bracket is read as any other ("(Meta)" stays "Meta")."""
    for match in _INNERMOST_BRACKET_GROUP.finditer(value):
        content = match.group(1).strip()
        before, after = value[:match.start()].strip(), value[match.end():].strip()
        at_an_end = not before or not _INNERMOST_BRACKET_GROUP.sub("", after).strip()
        rest = f"{before} {after}".strip()
        if at_an_end and ":" not in content and any(c.isalnum() for c in rest) \
                and _names_the_organisation_of(content, model_id):
            return f"{content}: {rest}"
    return value


def _company_as_family_word(value: str, model_id: str) -> str:
    """"Mistral: Saba" for "mistralai/mistral-saba" reads "Mistral Saba": the word before ": " is a company, but
    the id's own model part starts with it (and the rest does not), so it is the model's family word, as
    "DeepSeek - Chat" is for "deepseek/deepseek-chat"; so is a company of several words that are each one of the
    id's or begin one ("Gemini Flash: Image Generation" for "gemini-2.5-flash-image-preview", "Qwen Coder: ..." for
    "qwen/qwen3-coder"). Otherwise `value` as it was."""
    match = _COMPANY_PREFIX.match(_OTHER_COLONS.sub(": ", value.strip()))
    if not match or len(match.group("company").split()) > _COMPANY_MAX_WORDS:
        return value
    company, rest = match.group("company").strip(), match.group("rest").strip()
    family, first_word = _letters_and_digits(company), _letters_and_digits(rest.split()[0]) if rest else ""
    segment = _without_namespace(_model_segment(model_id)).split(":")[0]
    model = _letters_and_digits(segment)
    if len(family) < 3 or not first_word or first_word.startswith(family):
        return value
    # "Gemini Flash: Image Generation" for "gemini-2.5-flash-image-preview": a version between the family's words
    # in the id, each of which the id holds, names a family and its tier, not a company.
    id_words = [_letters_and_digits(word) for word in _split_id_words(segment)]
    if not model.startswith(family) and not (len(company.split()) > 1 and all(
            any(id_word.startswith(_letters_and_digits(word)) for id_word in id_words) for word in company.split())):
        return value
    return f"{company} {rest}"


_ORG_PATH_PREFIX = re.compile(r"^(?P<org>[^/\s]{2,40})/(?P<rest>\S.*)$", re.S)


def _without_org_path(value: str, model_id: str) -> str:
    """"X-Ai/Grok 4.1 Fast" for "x-ai/grok-4.1-fast" reads "Grok 4.1 Fast": an upstream name written as the id's
    own organisation, a "/" and the model (in any case or punctuation) loses the organisation."""
    match = _ORG_PATH_PREFIX.match(value.strip())
    if not match:
        return value
    org = _letters_and_digits(match.group("org"))
    orgs = [_letters_and_digits(seg) for seg in model_id.strip().split("/")[:-1]]
    return match.group("rest") if org and org in orgs else value


def _without_bedrock_namespace_words(value: str, model_id: str) -> str:
    """A display name that starts with the words of the id's Bedrock namespace (an inference profile's "US
    Anthropic Claude 3.7 Sonnet" for "us.anthropic.claude-3-7-sonnet-...") without them, as the id's derived name
    drops the namespace: the vendor is no part of the model's name, and a region comes back through
    make_names_unique where it tells a profile from its model. Only when the rest starts as the id's model part
    does; before a bare version the vendor is the family word and stays ("US DeepSeek-R1" -> "DeepSeek-R1")."""
    match = _BEDROCK_ID.fullmatch(_last_id_segment(model_id))
    if not match or not match.group("model"):
        return value
    parts = [part.casefold() for part in match.group("namespace").split(".") if part]
    if _BARE_VERSION_START.match(match.group("model")):
        parts, start = parts[:-1], parts[-1]
    else:
        start = re.match(r"[a-z]*", match.group("model")).group()  # the model part starts with a letter
    words = value.split()
    dropped = 0
    while dropped < len(words) - 1 and words[dropped].casefold() in parts:
        dropped += 1
    if not dropped or not start or not _alnum(words[dropped]).startswith(start):
        return value
    return " ".join(words[dropped:])


def _clean_with_company_evidence(value: str, model_id: str) -> tuple[str, tuple[str, ...], dict]:
    """clean_upstream_name of `value` with the id's evidence about companies read first (a separator before
    the organisation the id names, a company that is the id's family word), repeated on the cleaned name
    until it holds: cleaning can make a separator ("A0:) x" becomes "A0 - x"), and a name fed back must come
    out as it went in."""
    steps: list[str] = []
    attrs: dict = {"is_free": False, "quantization": None, "release_stage": None}
    text = _without_bedrock_namespace_words(value, model_id)
    if text != value:
        _add_step(steps, "drop_bedrock_namespace_words")
    unbracketed = _without_bracketed_id(text, model_id)
    if unbracketed != text:
        _add_step(steps, "drop_bracketed_id")
        text = unbracketed
    untrailed = _without_trailing_company(text, model_id)
    if untrailed != text:
        _add_step(steps, "drop_trailing_company")
        text = untrailed
    for _ in range(3):
        unpathed = _without_org_path(text, model_id)
        if unpathed != text:
            _add_step(steps, "drop_id_path")
        bracketed = _bracketed_company_as_prefix(unpathed, model_id)
        separated = _company_separator_as_colon(bracketed, model_id)
        family = _company_as_family_word(separated, model_id)
        if text is not value and family == text:
            break
        cleaned, cleaning, found = clean_upstream_name(family)
        if bracketed != unpathed:
            _add_step(steps, "read_bracketed_company")
        if separated != bracketed:
            _add_step(steps, "read_company_separator")
        if family != separated:
            _add_step(steps, "keep_family_word")
        for step in cleaning:
            _add_step(steps, step)
        attrs = {key: attrs[key] or found[key] for key in attrs}
        text = cleaned
        if not cleaned:
            break
    return text, tuple(steps), attrs


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# A last id segment no reader can read: a UUID, or a hex digest mixing letters and digits (a Bedrock ARN's
# "application-inference-profile/a1b2c3d4e5f6").
# A ULID (26 characters of Crockford's base 32), and a serial of twelve or more digits within a segment (an
# endpoint's creation time, "ep-20240611094706-abcde"), name records too.
_OPAQUE_SEGMENT = re.compile(rf"{_UUID.pattern}|(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{{8,}}"
                             r"|(?=[^a-z]*\d)(?=.*[a-z])[0-9a-hjkmnp-tv-z]{26}", re.I)
_SERIAL = re.compile(r"(?<!\d)\d{12,}(?!\d)")
# Where a number names a resource, not a release ("projects/1/locations/us-central1/endpoints/111"); after a
# model's own segment it is its release ("openai/gpt-4/0613", "mistral-large/2411").
_NUMBERED_COLLECTIONS = {"endpoints", "deployments", "projects", "models", "model", "routers", "jobs"}


def _is_opaque_id(model_id: str) -> bool:
    """The id names no model a reader could tell: an id-like name beside it is the model's real id, and reads
    better than it."""
    segments = [s.strip() for s in model_id.strip().split("/") if s.strip()]
    last = _last_id_segment(model_id)
    if _OPAQUE_SEGMENT.fullmatch(model_id.strip()) or _OPAQUE_SEGMENT.fullmatch(last) or _SERIAL.search(last):
        return True
    if model_id.strip().isdigit():  # a number alone: a record's
        return True
    return len(segments) >= 2 and segments[-1].isdigit() and segments[-2].casefold() in _NUMBERED_COLLECTIONS


# A name written in lower case and nothing an id would not hold: letters, digits, spaces, "-", "_", "." and "+"
# ("command r+").
_LOWER_CASE_NAME = re.compile(r"[a-z0-9][a-z0-9 ._+-]*")


def _recased_lower_case_name(raw: str, cleaned: str, steps: list[str]) -> str:
    """The cleaned name of an upstream name written all in lower case ("llama 3.3 70b instruct", "deepseek v3",
    "gpt-4o mini (new)") read as an id's words are ("Llama 3.3 70B Instruct", "DeepSeek V3", "GPT-4o Mini New"):
    lower case says nothing of how the maker writes its name, so the brand table and the rules for sizes and
    versions do. A name with a capital, or with punctuation an id would not hold, is left as written."""
    text = cleaned.lower()  # the capitals cleaning gave a bracketed word ("(new)" -> "New") are no maker's
    if any(c.isupper() for c in raw) and any(c.isupper() for c in cleaned):
        return cleaned
    if not _LOWER_CASE_NAME.fullmatch(text) or not any(c.isalpha() for c in text):
        return cleaned
    # " - " parts a model from its variant (the colon rule writes it): each part is read alone, the separator kept.
    parts = [" ".join(_read_as_id_words(part)) for part in text.split(" - ")]
    # A connector after the first word stays lower case, as in any other name ("best for prompt" -> "Best for Prompt").
    parts = [" ".join(word.lower() if i and word.lower() in _CONNECTORS else word
                      for i, word in enumerate(part.split())) for part in parts]
    recased = _finish(" - ".join(parts), steps) or cleaned
    if recased != cleaned:
        _add_step(steps, "recase_lower_case_name")
    return recased


# What an API or an export writes where it has no name: a null or an unset value printed as text, a form's
# default, a missing-value marker. It names no model, so the next source is read (step ignored_placeholder_<field>).
_PLACEHOLDER_NAMES = frozenset({
    "null", "none", "nil", "undefined", "unknown", "nan", "n/a", "na", "tbd", "untitled", "unnamed", "string",
    "[object object]",
})


def _is_placeholder(value: str) -> bool:
    return _collapse_whitespace(value.strip().strip("\"'`")).casefold() in _PLACEHOLDER_NAMES


def _display_name(name: str, rule: str, raw: str, steps, attrs: dict, *, free: bool) -> DisplayName:
    return DisplayName(
        name=name,
        rule=rule,
        raw=raw,
        steps=tuple(steps),
        is_free=bool(attrs["is_free"] or free),
        quantization=attrs["quantization"],
        release_stage=attrs["release_stage"],
    )


def resolve_display_name(model_id: str, *, display_name: object = None, name: object = None) -> DisplayName:
    """Seed rule: provider display_name, else name, else derived from the id.

    Non-string or blank values count as absent; hostile input never raises. Only a missing or blank
    model_id raises ValueError. An id-like display_name/name is passed over for the derived id (see the
    module docstring for the UUID exception).
    """
    if not isinstance(model_id, str) or not model_id.strip():
        raise ValueError("model_id must be a non-blank string")
    full_id, model_id = model_id, _read_part(model_id)  # an over-long id is refused by the contract
    id_is_free = _has_free_variant(model_id)
    fallback_steps: list[str] = []
    for rule, value in ((RULE_DISPLAY_NAME, display_name), (RULE_NAME, name)):
        if not isinstance(value, str) or not value.strip():
            continue
        if _is_placeholder(value):
            fallback_steps.append(f"ignored_placeholder_{rule}")
            continue
        cut = len(value) > LONGEST_READ
        value = _read_part(value)
        cleaned, steps, attrs = _clean_with_company_evidence(value, model_id)
        # Judged after cleaning, so a name this function returns is never mistaken for an id when fed back.
        # A real upstream name that cleans to exactly what the id derives to ("OpenAI: o3" -> "o3") is
        # kept as that name, so lineage shows the raw upstream value rather than the id.
        raw_is_id = _looks_like_model_id(value, model_id)
        if raw_is_id or (cleaned and _looks_like_model_id(cleaned, model_id) and cleaned != _derive(model_id)[0]):
            if not _is_opaque_id(model_id):
                fallback_steps.append(f"ignored_id_like_{rule}")
                continue
            cleaned, steps, attrs = _derive(value)
            steps = ("derived_from_id_like_name", *steps)
        else:
            recasing = list(steps)
            cleaned, steps = _recased_lower_case_name(value, cleaned, recasing), tuple(recasing)
        if cleaned:
            if attrs["quantization"] is None:  # a name that leaves it out: the id may still say it
                attrs = {**attrs, "quantization": _quantization_in(model_id)}
            if cut and "truncated" not in steps:
                steps = (*steps, "truncated")
            return _display_name(cleaned, rule, value, (*fallback_steps, *steps), attrs, free=id_is_free)
        fallback_steps.append(f"fallback_from_{rule}")

    derived, steps, attrs = _derive(model_id)
    if not derived:
        derived, steps = _unreadable_id_name(full_id), ("id_unreadable",)
    return _display_name(
        derived, RULE_DERIVED_FROM_ID, full_id, (*fallback_steps, *steps), attrs, free=id_is_free
    )


def _read_id(model_id: str) -> str:
    """An id cut like _read_part, ending with a digest of the whole so that distinct ids stay distinct."""
    if len(model_id) <= LONGEST_READ:
        return model_id
    digest = hashlib.sha256(model_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{model_id[:LONGEST_READ - 9]}-{digest}"


def _read_part(text: str) -> str:
    """`text` cut to LONGEST_READ characters, at a word boundary when there is one."""
    return text if len(text) <= LONGEST_READ else _truncate_at_word_boundary(text, LONGEST_READ)


# --- one provider, one name per id -----------------------------------------------------------------------


_NAME_TOKEN = re.compile(r"[^\W\d_]+|\d+|\+")  # a "+" is a word's own ("Command R+" is not "Command R")


def _name_key(name: str) -> str:
    """What a reader tells two names apart by: their runs of letters and of digits, in any case, whatever
    punctuation or spaces part them ("Llama-3.1-70B" is "Llama 3.1 70B", "Qwen2.5 72B" "Qwen 2.5 72B"; "Llama 3.1
    8B" is not "Llama 3 18B"). A name without either (all symbols) is compared as written."""
    tokens = _NAME_TOKEN.findall(name.casefold())
    return " ".join(tokens) if tokens else name.casefold()


def _alnum(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


_WORD_DOT_VERSION = re.compile(r"([^\W\d_]+)\.\d+(?:\.\d+)*")


def _name_mentions(name: str, word: str) -> bool:
    """True when the name already says `word`, however it is spaced or punctuated ("Veo 3.1" says "Veo3.1")."""
    words = name.casefold().split()
    pieces = set(words) | {piece for w in words for piece in w.split("-")}
    # A word written with its version after a dot says the word too ("FLUX.1" says "FLUX"; "3.5" stays whole).
    pieces |= {m.group(1) for piece in list(pieces) if (m := _WORD_DOT_VERSION.fullmatch(piece))}
    if word.casefold() in pieces or all(piece in pieces for piece in word.casefold().split("-") if piece):
        return True
    target = _alnum(word)
    runs = [_alnum(piece) for w in name.split() for piece in w.split("-")]
    return bool(target) and any(
        "".join(runs[i:j]) == target for i in range(len(runs)) for j in range(i + 1, len(runs) + 1)
    )


# A phrase of appended words never ends on one of these ("Image To" is half of "Image to Video").
_CONNECTORS = {"to", "and", "of", "with", "for", "from", "in", "on", "by"}


def _append_words(name: str, words: list[str]) -> str:
    # Words taken from an id are cleaned like a name: an id may hold a character no reader sees.
    suffix = _truncate_at_word_boundary(_remove_invisible_characters(" ".join(words)), NAME_MAX_LENGTH // 2)
    base = _truncate_at_word_boundary(name, NAME_MAX_LENGTH - len(suffix) - 1)
    return _finish(f"{base} {suffix}", [])


def _colliding_groups(ids: list[str], names: list[str]) -> list[list[int]]:
    by_key: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        by_key.setdefault(_name_key(name), []).append(index)
    # The same id listed twice is one model and keeps one name; only different ids collide.
    return [group for _, group in sorted(by_key.items()) if len({ids[i] for i in group}) > 1]


def _separate_by_id_words(ids: list[str], names: list[str], group: list[int]) -> None:
    group_ids = sorted({ids[i] for i in group})
    words_by_id = {mid: _id_words(mid, every_variant=True) for mid in group_ids}
    shared = set.intersection(*({w.casefold() for w in words} for words in words_by_id.values()))
    for index in group:
        name = names[index]
        id_words = words_by_id[ids[index]]
        extras: list[str] = []
        # A task ("<source> to <target>") is said whole when any word of it tells the ids apart: "text-to-video"
        # beside "image-to-video" is "Text To Video", not "Text" ("to" and "video" are shared).
        tasks = {p: range(i - 1, i + 2) for i, w in enumerate(id_words)
                 if w.casefold() == "to" and 0 < i < len(id_words) - 1 for p in (i - 1, i + 1)}
        for position, word in enumerate(id_words):
            if word.casefold() not in shared and not _name_mentions(name, word) and word not in extras:
                if position in tasks:
                    span = [id_words[p] for p in tasks[position]]
                    said = next(n for n in range(len(span), -1, -1) if extras[len(extras) - n:] == span[:n])
                    extras.extend(span[said:])  # less what the extras end on already (a task's source)
                    continue
                connector = word.casefold() in _CONNECTORS
                # A phrase around a connector is appended whole: the word after it, even one the phrase began
                # with ("image-to-image" is "Image To Image", never "Image To"), and a task's source before
                # "to", even one the name says ("Kling Video" gains "Video To Image", not "To Image").
                before = id_words[position - 1] if position else None
                if word.casefold() == "to" and before and before.isalpha() and extras[-1:] != [before]:
                    extras.append(before)
                extras.append(word)
                following = id_words[position + 1] if position + 1 < len(id_words) else None
                if connector and following:
                    extras.append(following)
        if extras:
            names[index] = _append_words(name, extras)


def _segment_words(segment: str) -> list[str]:
    """Readable words of one id path segment: never a "/" or "@", always cased like a derived name, with its
    ":variants" read as a derived name reads them ("gpt-oss-120b-1:0" says "1.0", not "1" and "0")."""
    base, *variants = segment.split(":")
    base, variants = _with_minor_version(base, [v for v in variants if v.strip()])
    return [word for part in (base, *variants) for word in _read_as_id_words(part)]




def _separate_by_id_path(ids: list[str], names: list[str], group: list[int]) -> None:
    """Words from the path segments the colliding ids do not share ("vendor/x/model-a" vs "model-a").

    An id the name describes whole keeps its name ("deepseek/deepseek-v3.2", not "TEE/deepseek-v3.2", which
    also says "TEE"; before, the shorter id kept it). When each id says something the name does not
    ("stealth/claude-opus-4.6" and "anthropic/claude-opus-4.6"; "google-ai-studio/gemini-3-flash-preview" and
    "openrouter/google/gemini-3-flash-preview"), none keeps it: which one is the maker's own cannot be told.
    The others gain the words of their differing segments, or of their last segment when every segment is
    shared in another order.
    """
    group_ids = sorted({ids[i] for i in group})
    name_of = {ids[i]: names[i] for i in sorted(group, key=lambda i: names[i])}

    def mentioned_words(mid: str) -> int:
        return sum(_name_mentions(name_of[mid], w) for w in _id_words(mid, every_variant=True))

    paths = {mid: [seg for seg in mid.split("/") if seg.strip()] or [mid] for mid in group_ids}

    def unsaid_words(mid: str) -> frozenset[str]:  # over every segment: the organisation's too ("TEE")
        return frozenset(w.casefold() for seg in paths[mid] if seg.strip().casefold() not in _PATH_BOILERPLATE
                         for w in _segment_words(seg) if not _name_mentions(name_of[mid], w))

    # An id may keep the name when every word it says that the name does not, every other id says too
    # ("anthropic" of "anthropic.claude-..." beside "us.anthropic.claude-...", "qwen" of "Qwen/..." beside
    # "qwen/..."): the name then describes it as well as it describes any of them.
    unsaid = {mid: unsaid_words(mid) for mid in group_ids}
    best = [mid for mid in group_ids if all(unsaid[mid] <= words for words in unsaid.values())]
    name_key = _name_key(names[group[0]])

    def keeper(candidates: list[str]) -> str:
        """The id the name mentions most; of those, the one whose own derived name is the name ("fal-ai/flux-1/
        schnell" for "FLUX.1 Schnell", beside "fal-ai/flux/schnell", which then reads its own "FLUX Schnell"
        rather than a hash); then the shortest. Derived only on a tie: it is the costly step."""
        mentions = {mid: mentioned_words(mid) for mid in candidates}
        tied = [mid for mid in candidates if mentions[mid] == max(mentions.values())]
        if len(tied) > 1:
            tied = [mid for mid in tied if _name_key(_derive(mid)[0]) == name_key] or tied
        return min(tied, key=lambda mid: (len(mid), mid))

    renamed = _renamed_by_path(ids, names, group, keeper(best) if best else None, paths)
    if not best and _colliding_groups([ids[i] for i in group], [renamed[i] for i in group]):
        # Without a keeper, two of them would gain the same words (aliases of one model under one organisation,
        # "anthropic/claude-opus-4-5" and "anthropic/claude-opus-4.5"): the one the name mentions most, then the
        # shortest, keeps it rather than both ending on a hash.
        renamed = _renamed_by_path(ids, names, group, keeper(group_ids), paths)
    for index in group:
        names[index] = renamed[index]


def _renamed_by_path(ids: list[str], names: list[str], group: list[int], keeper: str | None,
                     paths: dict[str, list[str]]) -> dict[int, str]:
    """The group's names once each id but the keeper gained the words of its differing path segments."""
    renamed = {index: names[index] for index in group}
    shared = set.intersection(*(set(paths[ids[index]]) for index in group))
    # A word every id says tells none apart, whichever segment says it: Bedrock's "us.anthropic.claude-..."
    # beside "anthropic.claude-..." gains "US", not "US Anthropic".
    said_by_all = set.intersection(*({w.casefold() for seg in paths[ids[index]] for w in _segment_words(seg)}
                                     for index in group))
    for index in group:
        if ids[index] == keeper:
            continue
        path = paths[ids[index]]
        last = len(path) - 1
        differing = [(i, seg) for i, seg in enumerate(path)
                     if seg not in shared and seg.strip().casefold() not in _PATH_BOILERPLATE] or [(last, path[-1])]
        # Words the other ids say too, only while others are left: "fireworks" beside "fireworks_ai" still tells
        # "fireworks_ai/accounts/fireworks/models/glm-4p7" from "fireworks_ai/glm-4p7" better than a hash.
        fresh = (_differing_words(differing, names[index], said_by_all, last)
                 or _differing_words(differing, names[index], set(), last))
        if fresh:
            renamed[index] = _append_words(names[index], fresh)
        else:
            # The shared name already says everything this id says (it was written for a longer id):
            # the id's own derived name tells the two apart; the hash step settles any collision left.
            derived = _derive(ids[index])[0]
            id_text = " ".join(w for seg in path for w in _segment_words(seg))
            lost = [word for word in names[index].split() if not _name_mentions(derived, word)]
            # Never at the cost of a word the id itself says (SiliconFlow's "Pro/..." tier): the hash settles that.
            if derived and not any(_name_mentions(id_text, word) for word in lost):
                renamed[index] = derived
    return renamed


def _differing_words(differing: list[tuple[int, str]], name: str, unsaid: set[str], last: int) -> list[str]:
    """The words of an id's differing path segments (position, segment) the name does not say yet, less those in
    `unsaid` (casefolded). An organisation's segment, and a task's ("text-to-video"), is taken whole or not at
    all ("DeepSeek AI", never "AI"); the model's own segment (position `last`) only for what the name does not
    say yet."""
    fresh: list[str] = []
    for position, seg in differing:
        words = _segment_words(seg)
        new = [w for w in words if not _name_mentions(name, w) and w.casefold() not in unsaid]
        # A task is said whole too: "text-to-video" beside "image-to-video" is "Text to Video", never "Text".
        task = any(w.casefold() == "to" for w in words[1:-1])
        taken = words if new and (position != last or task) else new
        # A task whole means its repeated word too: "speech-to-speech" is "Speech To Speech", never "Speech To".
        fresh.extend(taken if task and taken is words else (w for w in taken if w not in fresh))
    return fresh


def _separate_by_hash(ids: list[str], names: list[str]) -> None:
    """Last resort that always succeeds: a short hash of the id, then a counter if even that collides."""
    taken_by: dict[str, str] = {}
    all_keys = {_name_key(n) for n in names}
    for index in sorted(range(len(ids)), key=lambda i: (ids[i], i)):
        key = _name_key(names[index])
        if taken_by.setdefault(key, ids[index]) == ids[index]:
            continue
        digest = hashlib.sha256(ids[index].encode("utf-8", "surrogatepass")).hexdigest()[:8]
        attempt = 1
        while True:
            words = [digest] if attempt == 1 else [f"{digest}-{attempt}"]
            candidate = _append_words(names[index], words)
            candidate_key = _name_key(candidate)
            if candidate_key not in all_keys and candidate_key not in taken_by:
                break
            attempt += 1
        names[index] = candidate
        all_keys.add(candidate_key)
        taken_by[candidate_key] = ids[index]


def make_names_unique(items: list[tuple[str, DisplayName]]) -> list[DisplayName]:
    """Give different ids of ONE provider different names (compared as a reader reads them: `_name_key`).

    Colliding names get the words from their ids that the other ids in the collision lack ("Free",
    "Thinking", "2024-08-06", "Fast"); then the words of the id path segments they do not share; then a
    short hash. Appended words are always readable words, never an id with its "/" or "@". Records step 'disambiguated'.
    The result depends only on the set of items, not their order.
    """
    ids = [_read_id(model_id) for model_id, _ in items]  # an over-long id is refused by the contract
    names = [display.name for _, display in items]
    # A name the path step gives back (the id's own derived name) may collide anew: the id words settle it.
    strategies = (_separate_by_id_words, _separate_by_id_words, _separate_by_id_path, _separate_by_id_words)
    for separate in strategies:
        groups = _colliding_groups(ids, names)
        if not groups:
            break
        for group in groups:
            separate(ids, names, group)
    # A name that is another model's id ("Llama 3" when a provider also lists the id "Llama 3") would read
    # as that model: it gets its id's short hash, like any collision the words could not settle.
    id_set = set(ids)
    for index, name in enumerate(names):
        if name in id_set and name != ids[index]:
            digest = hashlib.sha256(ids[index].encode("utf-8", "surrogatepass")).hexdigest()[:8]
            names[index] = _append_words(name, [digest])
    if _colliding_groups(ids, names):
        _separate_by_hash(ids, names)

    result = []
    for (_, display), name in zip(items, names):
        if name != display.name:
            display = replace(display, name=name, steps=(*display.steps, "disambiguated"))
        result.append(display)
    return result
