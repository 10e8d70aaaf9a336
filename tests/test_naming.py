"""Display-name resolution: the exact names readers see, the invariants every name keeps, and every model
in the recorded provider payloads."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from modelsync_pipeline import naming
from modelsync_pipeline.naming import (
    BRACKET_CHARACTERS,
    BRACKETS,
    NAME_MAX_LENGTH,
    DisplayName,
    clean_upstream_name,
    derive_name_from_id,
    make_names_unique,
    resolve_display_name,
)
from modelsync_pipeline.providers.http import RECORDED_DIR as RECORDED, STATIC_DIR, recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

from modelsync_pipeline.schema import COMPANY_PREFIX

from .test_golden_names import EXTRA_PAYLOADS


def assert_clean_name(name: str) -> None:
    assert name, "name is empty"
    assert len(name) <= NAME_MAX_LENGTH
    assert name == name.strip(), f"leading/trailing space in {name!r}"
    assert "  " not in name, f"double space in {name!r}"
    assert not any(c.isspace() and c != " " for c in name), f"odd whitespace in {name!r}"
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in name), f"control char in {name!r}"
    assert not any(c in BRACKET_CHARACTERS for c in name), f"bracket in {name!r}"
    assert not COMPANY_PREFIX.match(name), f"company prefix left in {name!r}"
    assert unicodedata.normalize("NFC", name) == name
    assert "/" not in name and "@" not in name, f"id path character in {name!r}"
    words = [w.casefold() for w in name.split()]
    assert not any(a == b and any(c.isalpha() for c in a) for a, b in zip(words, words[1:])), f"doubled word in {name!r}"


# --- exact examples ---------------------------------------------------------------------------------------

UPSTREAM_NAMES = [
    ("OpenAI: GPT-4o", "GPT-4o"),
    ("Meta: Llama 3.3 70B Instruct", "Llama 3.3 70B Instruct"),
    ("Qwen: Qwen3 Embedding 8B", "Qwen3 Embedding 8B"),
    ("DeepSeek: R1 0528", "DeepSeek R1 0528"),
    ("DeepSeek: DeepSeek V3 0324", "DeepSeek V3 0324"),
    ("OpenAI: o3", "o3"),
    ("Claude Sonnet 3.5 (New)", "Claude Sonnet 3.5 New"),
    ("Claude Sonnet 3.5 (Old)", "Claude Sonnet 3.5 Old"),
    ("Mistral (7B) Instruct v0.3", "Mistral 7B Instruct v0.3"),
    ("Llama 4 Maverick Instruct (17Bx128E)", "Llama 4 Maverick Instruct 17Bx128E"),
    ("Grok 2 (December 2024)", "Grok 2 December 2024"),
    ("Google: Gemini 2.5 Flash Preview 05-20 (thinking)", "Gemini 2.5 Flash Preview 05-20 Thinking"),
    ("OpenAI: GPT-4o (extended)", "GPT-4o Extended"),
    ("Anthropic: Claude 3.7 Sonnet (self-moderated)", "Claude 3.7 Sonnet Self-Moderated"),
    ("PaLM 2 Chat (Legacy)", "PaLM 2 Chat Legacy"),
    ("Meta: Llama 3.3 8B Instruct (free)", "Llama 3.3 8B Instruct"),
    ("Shisa AI: Shisa V2 Llama 3.3 70B  (free)", "Shisa V2 Llama 3.3 70B"),
    ("THUDM: GLM Z1 Rumination 32B ", "GLM Z1 Rumination 32B"),
    ("Llama 3.1 8B [FP8]", "Llama 3.1 8B"),
    ("Some Model [beta]", "Some Model Beta"),
    ("anthropic/claude-3.7-sonnet:thinking in prose", "claude-3.7-sonnet:thinking in prose"),
]


@pytest.mark.parametrize(("raw", "expected"), UPSTREAM_NAMES)
def test_upstream_names_are_cleaned_exactly(raw, expected):
    name, _, _ = clean_upstream_name(raw)
    assert name == expected
    assert resolve_display_name("some/model", display_name=raw).name == expected


@pytest.mark.parametrize(
    ("raw", "flag", "value", "step"),
    [
        ("Qwen: Qwen3 4B (free)", "is_free", True, "free_flag"),
        ("GLM 4.7 (FP8)", "quantization", "fp8", "quantization_flag"),
        ("Kimi K2 (INT4)", "quantization", "int4", "quantization_flag"),
        ("Llama 3 (BF16)", "quantization", "bf16", "quantization_flag"),
        ("Gemini (Preview)", "release_stage", "preview", "release_stage_flag"),
        ("Sonar (beta)", "release_stage", "beta", "release_stage_flag"),
        ("Flash (experimental)", "release_stage", "experimental", "release_stage_flag"),
        ("PaLM 2 Chat (Legacy)", "release_stage", "legacy", "release_stage_flag"),
        ("Old One (deprecated)", "release_stage", "deprecated", "release_stage_flag"),
        ("Claude Sonnet 3.5 (New)", "release_stage", "new", "release_stage_flag"),
    ],
)
def test_bracketed_meaning_is_kept_as_attributes(raw, flag, value, step):
    result = resolve_display_name("x/model", display_name=raw)
    assert getattr(result, flag) == value
    assert step in result.steps
    assert not any(c in "()" for c in result.name)


def test_steps_record_prefix_then_free_flag():
    result = resolve_display_name("qwen/qwen3-4b:free", name="Qwen: Qwen3 4B (free)")
    assert result == DisplayName(
        name="Qwen3 4B", rule="name", raw="Qwen: Qwen3 4B (free)",
        steps=("strip_company_prefix", "free_flag"), is_free=True,
    )


DERIVED_FROM_IDS = [
    ("llama3.1-70b", "Llama 3.1 70B"),
    ("qwen-3-32b", "Qwen 3 32B"),
    ("qwen3-32b", "Qwen3 32B"),
    ("deepseek-ai/DeepSeek-R1-0528", "DeepSeek R1 0528"),
    ("meta-llama/Llama-3.3-70B-Instruct", "Llama 3.3 70B Instruct"),
    ("@cf/openai/gpt-oss-120b", "GPT-OSS 120B"),
    ("gpt-4o-mini", "GPT-4o Mini"),
    ("gpt-4o", "GPT-4o"),
    ("gpt-4.1", "GPT-4.1"),
    ("gpt-3.5-turbo", "GPT-3.5 Turbo"),
    ("gpt-4-turbo", "GPT-4 Turbo"),
    ("glm-4.5", "GLM-4.5"),
    ("Qwen/Qwen2.5-VL-72B-Instruct", "Qwen2.5 VL 72B Instruct"),
    ("models/gemini-1.5-pro", "Gemini 1.5 Pro"),
    ("whisper-large-v3-turbo", "Whisper Large v3 Turbo"),
    ("llama-4-scout-17b-16e-instruct", "Llama 4 Scout 17B 16E Instruct"),
    ("text-embedding-3-large", "Text Embedding 3 Large"),
    ("o1-mini", "o1 Mini"),
    ("o3", "o3"),
    ("o4-mini", "o4 Mini"),
    ("claude-3-5-sonnet-20241022", "Claude 3.5 Sonnet 20241022"),
    ("dall-e-3", "DALL-E 3"),
    ("tts-1-hd", "TTS 1 HD"),
    ("mistral-large-2411", "Mistral Large 2411"),
    ("anthropic/claude-3.7-sonnet:thinking", "Claude 3.7 Sonnet Thinking"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "Mistral 7B Instruct v0.3"),
    ("mixtral-8x7b-32768", "Mixtral 8x7B 32768"),
    ("Qwen/Qwen2.5-1.5B-Instruct", "Qwen2.5 1.5B Instruct"),
    ("gpt-4o-2024-08-06", "GPT-4o 2024-08-06"),
    ("deepseek/deepseek-prover-v2", "DeepSeek Prover V2"),
    ("nvidia/Llama-3_1-Nemotron-Ultra-253B-v1", "Llama 3.1 Nemotron Ultra 253B v1"),
    ("accounts/fireworks/models/llama-v3p1-405b-instruct", "Llama 3.1 405B Instruct"),
    ("qwen/qwen3-32b:free", "Qwen3 32B"),
    ("mistral-small-128k", "Mistral Small 128K"),
]


@pytest.mark.parametrize(("model_id", "expected"), DERIVED_FROM_IDS)
def test_names_derived_from_ids_exactly(model_id, expected):
    assert derive_name_from_id(model_id) == expected
    result = resolve_display_name(model_id)
    assert (result.name, result.rule, result.raw) == (expected, "derived_from_id", model_id)


def test_free_variant_id_sets_is_free():
    assert resolve_display_name("qwen/qwen3-32b:free").is_free
    assert not resolve_display_name("qwen/qwen3-32b").is_free


def test_name_that_is_the_id_is_derived_from_the_id():
    mistral = resolve_display_name("mistral-large-2411", name="mistral-large-2411")
    assert (mistral.name, mistral.rule) == ("Mistral Large 2411", "derived_from_id")
    assert mistral.steps == ("ignored_id_like_name",)
    # A Mistral alias carries the canonical id as its name; the alias id names it.
    alias = resolve_display_name("codestral-2412", name="codestral-2501")
    assert alias.name == "Codestral 2412"
    cloudflare = resolve_display_name(
        "@cf/meta/llama-3.1-8b-instruct-fast", name="@cf/meta/llama-3.1-8b-instruct-fast"
    )
    assert cloudflare.name == "Llama 3.1 8B Instruct Fast"


def test_id_like_name_is_derived_when_the_model_id_is_a_uuid():
    result = resolve_display_name(
        "872d9af1-5ff8-4e84-aed1-ab3caf909436", name="@cf/meta/llama-3.1-8b-instruct-fast"
    )
    assert (result.name, result.rule, result.raw) == (
        "Llama 3.1 8B Instruct Fast", "name", "@cf/meta/llama-3.1-8b-instruct-fast",
    )
    assert result.steps == ("derived_from_id_like_name",)


@pytest.mark.parametrize(("model_id", "name", "expected"), [
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", "my-claude-profile",
     "My Claude Profile"),                                   # it read "A1b2c3d4e5f6"
    ("projects/123/locations/us-central1/endpoints/111", "llama3-8b-ft-endpoint", "Llama 3 8B FT Endpoint"),
])
def test_an_id_like_name_is_read_when_the_id_names_nothing_readable(model_id, name, expected):
    result = resolve_display_name(model_id, display_name=name)
    assert (result.name, result.rule, result.steps[0]) == (expected, "display_name", "derived_from_id_like_name")


@pytest.mark.parametrize(("model_id", "name", "expected"), [
    ("openai/gpt-4/0613", "gpt-4", "GPT-4 0613"),
    ("mistral/mistral-large/2411", "mistral-large", "Mistral Large 2411"),
    ("anthropic/claude-3-opus/20240229", "claude-3-opus", "Claude 3 Opus 20240229"),
])
def test_a_number_after_a_models_own_segment_is_its_release_not_an_opaque_id(model_id, name, expected):
    assert resolve_display_name(model_id, display_name=name).name == expected


@settings(max_examples=200, deadline=None)
@given(opaque=st.one_of(
           st.tuples(st.sampled_from(["", "projects/p/locations/l/endpoints/", "arn:aws:bedrock:us-east-1:1:profile/"]),
                     st.one_of(st.uuids().map(str),
                               st.from_regex(r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,16}", fullmatch=True))),
           st.tuples(st.sampled_from(["projects/p/locations/l/endpoints/", "acct/deployments/"]),
                     st.integers(100, 10**9).map(str))),  # a number is opaque only where it numbers a resource
       name=st.from_regex(r"[a-z]{3,8}-[0-9]{1,2}-[a-z]{3,8}", fullmatch=True))
def test_an_opaque_id_never_wins_over_the_id_like_name_beside_it(opaque, name):
    prefix, opaque = opaque
    result = resolve_display_name(prefix + opaque, display_name=name)
    assert result.name == derive_name_from_id(name) and opaque.casefold() not in result.name.casefold()


@settings(max_examples=200, deadline=None)
@given(opaque=st.one_of(
           st.from_regex(r"(?=[^A-Z]*[0-9])(?=.*[A-Z])[0-9A-HJKMNP-TV-Z]{26}", fullmatch=True),  # a ULID
           st.integers(1, 10**12).map(str),                                                   # a record's number
           st.tuples(st.from_regex(r"[a-z]{2,4}", fullmatch=True), st.integers(10**11, 10**15).map(str),
                     st.from_regex(r"[a-z0-9]{3,8}", fullmatch=True)).map("-".join)),          # an endpoint's serial
       name=st.from_regex(r"[a-z]{3,8}-[0-9]{1,2}-[a-z]{3,8}", fullmatch=True))
@example(opaque="ep-20240611094706-abcde", name="doubao-pro-32k")
def test_a_ulid_a_bare_number_or_a_serial_names_a_record_and_the_id_like_name_beside_it_is_read(opaque, name):
    result = resolve_display_name(opaque, name=name)
    assert (result.name, result.rule) == (derive_name_from_id(name), "name")
    assert result.steps[0] == "derived_from_id_like_name"


@pytest.mark.parametrize("placeholder", [
    "null", "NULL", "None", "nil", "undefined", "unknown", "Unknown", "N/A", "n/a", "NA", "NaN", "TBD", "untitled",
    "Unnamed", "string", "[object Object]", '"null"', "'undefined'", " none ",
])
@pytest.mark.parametrize("model_id", ["meta-llama/llama-3.1-8b-instruct", "gpt-4o", "@cf/qwen/qwen2.5-coder-32b"])
def test_a_placeholder_where_a_name_was_missing_is_passed_over_for_the_next_source(placeholder, model_id):
    """An API that prints a missing name as text ("null", "undefined", JavaScript's "[object Object]") named no
    model: the name comes from the next source, as for an absent one, and the lineage says which was passed over."""
    alone = resolve_display_name(model_id)
    passed = resolve_display_name(model_id, display_name=placeholder)
    assert (passed.name, passed.rule) == (alone.name, alone.rule)
    assert passed.steps[0] == "ignored_placeholder_display_name"
    named = resolve_display_name(model_id, display_name=placeholder, name="Llama Guard 4")
    assert (named.name, named.rule, named.steps[0]) == ("Llama Guard 4", "name", "ignored_placeholder_display_name")


_FULL_WIDTH = str.maketrans({**{chr(ord("0") + i): chr(0xFF10 + i) for i in range(10)},
                             **{chr(ord("a") + i): chr(0xFF41 + i) for i in range(26)},
                             **{chr(ord("A") + i): chr(0xFF21 + i) for i in range(26)}, "-": "\uff0d", ".": "\uff0e"})


@settings(max_examples=200, deadline=None)
@given(model_id=st.from_regex(r"[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,6}){0,3}(\.[0-9])?(-[0-9]{1,3}[bB])?", fullmatch=True))
@example(model_id="gpt-4o")
@example(model_id="deepseek-r1")
def test_an_id_written_in_full_width_characters_derives_the_name_its_ascii_form_does(model_id):
    """CJK text writes "ｇｐｔ－４ｏ" for "gpt-4o": the reader reads the same id, as a name in full width is read."""
    assert derive_name_from_id(model_id.translate(_FULL_WIDTH)) == derive_name_from_id(model_id)


@pytest.mark.parametrize(("model_id", "display_name", "expected"), [
    ("gemini-2.5-flash-image-preview", "Gemini Flash: Image Generation", "Gemini Flash Image Generation"),
    ("anthropic/claude-3.5-haiku", "Claude Haiku: Fast Model", "Claude Haiku Fast Model"),
    ("openai/gpt-4o-mini-tts", "GPT Mini: Text To Speech", "GPT Mini Text To Speech"),
    ("qwen/qwen3-coder", "Qwen Coder: Agentic Coding", "Qwen Coder Agentic Coding"),
    # A company the id does not hold is still a company, of one word or more.
    ("openai/gpt-4o", "OpenAI: GPT-4o", "GPT-4o"),
    ("mistralai/mistral-large", "Mistral AI: Mistral Large", "Mistral Large"),
])
def test_a_family_and_its_tier_before_a_colon_are_not_a_company_when_the_id_holds_each_word(model_id, display_name,
                                                                                           expected):
    assert resolve_display_name(model_id, display_name=display_name).name == expected


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.from_regex(r"[A-Z][a-z]{2,7}|[0-9]{1,3}[BM]|[0-9]\.[0-9]", fullmatch=True), min_size=2, max_size=5,
                      unique_by=str.casefold),
       data=st.data())
@example(words=["Llama", "3.1", "70B", "Instruct", "Turbo"], data=None)
def test_a_bracket_repeating_words_the_name_says_is_dropped(words, data):
    """"Llama 3.1 70B Instruct Turbo (70B)" read "... Turbo 70B": the bracket said again what the name says."""
    name = " ".join(words)
    repeated = [words[2]] if data is None else data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=2,
                                                                   unique=True))
    assume(any(c.isalpha() for c in " ".join(repeated)))
    alone, _, _ = clean_upstream_name(name)
    bracketed, steps, _ = clean_upstream_name(f"{name} ({' '.join(repeated)})")
    assert bracketed == alone and "drop_repeated_in_brackets" in steps


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["llama", "gemma", "acme", "model", "instruct", "chat", "it"]), min_size=1,
                      max_size=3),
       version=st.lists(st.integers(0, 12).map(str), min_size=1, max_size=2),
       size=st.from_regex(r"[1-9][0-9]{0,2}[bm]", fullmatch=True))
@example(words=["llama"], version=["3"], size="70b")
@example(words=["meta", "llama"], version=["3", "1"], size="70b")
def test_an_id_written_with_underscores_reads_as_the_same_id_with_hyphens(words, version, size):
    """"llama_3_70b" read "Llama 3.70B" and "meta_llama_3_1_70b" "Meta Llama 3.1.70b": "_" between digits was
    always a decimal point, even where it parts an id's words, and a size was joined into the version."""
    underscored = "_".join([*words, *version, size])
    hyphened = "-".join([*words, ".".join(version), size])
    assert derive_name_from_id(underscored) == derive_name_from_id(hyphened)


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from(["nomic-embed-text-v1.5", "llama-3-8b", "bge-m3", "mxbai-embed-large-v1", "phi-3.5",
                             "qwen2.5-7b-instruct", "gemma-2-9b-it"]),
       word=st.from_regex(r"[a-z][1-9][0-9]{0,2}", fullmatch=True), suffix=st.sampled_from(["", ".gguf"]))
@example(base="nomic-embed-text-v1.5", word="f16", suffix=".gguf")
@example(base="llama-3-8b", word="f32", suffix=".gguf")
def test_a_dot_before_a_word_of_a_letter_and_digits_parts_it_as_a_hyphen_does(base, word, suffix):
    """llama.cpp writes its precision after a dot: "nomic-embed-text-v1.5.f16.gguf" read "V1.5.f16" and
    "llama-3-8b.f16.gguf" "8b.f16": a dot parted words only before two letters."""
    assume(not re.fullmatch(r"[iq]\d+", word))  # llama.cpp's quantisations are read whole, as "Q4", either way
    assert derive_name_from_id(f"{base}.{word}{suffix}") == derive_name_from_id(f"{base}-{word}{suffix}")


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(["llama-3.1-70b", "gpt-4o-mini", "qwen2.5-72b-instruct", "mistral-7b-instruct-v0.3",
                             "gemma-2-9b-it", "deepseek-v3"]),
       suffix=st.sampled_from(["turbo", "fast", "v2", "pro", "2024-08-06"]),
       respell=st.sampled_from(["hyphens", "no spaces before digits", "spaces", "upper"]))
@example(base="llama-3.1-70b", suffix="turbo", respell="hyphens")
def test_two_ids_whose_names_differ_only_in_punctuation_are_told_apart(base, suffix, respell):
    """"acme/llama-3.1-70b" named "Llama 3.1 70B" and "acme/llama-3.1-70b-turbo" named "Llama-3.1-70B" kept both names:
    collisions were compared by case only, and a reader sees one model twice."""
    name = derive_name_from_id(base)
    respelled = {"hyphens": name.replace(" ", "-"), "no spaces before digits": re.sub(r" (?=\d)", "", name),
                 "spaces": re.sub(r"[-.]", " ", name), "upper": name.upper()}[respell]
    items = [(f"acme/{base}", resolve_display_name(f"acme/{base}")),
             (f"acme/{base}-{suffix}", resolve_display_name(f"acme/{base}-{suffix}", name=respelled))]
    names = [d.name for d in make_names_unique(items)]
    read = [re.findall(r"[^\W\d_]+|\d+|\+", n.casefold()) for n in names]
    assert read[0] != read[1], names


@settings(max_examples=200, deadline=None)
@given(job=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=8, max_size=8),
       suffix=st.sampled_from(["", "support-bot", "v2"]))
@example(job="AbCdEfGh", suffix="")
@example(job="abcdefgh", suffix="support-bot")
def test_a_fine_tunes_job_id_never_enters_its_name(job, suffix):
    """"ft:gpt-4o-mini-2024-07-18:acme::AbCdEfGh" read "... Fine-Tuned Acme AbCdEfGh": the job id was told by its
    look (a lower-case letter, a capital and a digit), which a quarter of random job ids lack. It is the fourth
    field by position."""
    base = f"ft:gpt-4o-mini-2024-07-18:acme:{suffix}:"
    assert derive_name_from_id(base + job) == derive_name_from_id(base + "7qVHFGGz")


@settings(max_examples=200, deadline=None)
@given(word=st.text(alphabet="aeiouncéèêëàâäîïôöûüçñÉÈÅØåøœæ", min_size=2, max_size=8),
       tail=st.sampled_from(["-7b", "-llm-70b-instruct", "-v2"]))
@example(word="éclair", tail="-7b")
def test_an_id_with_its_accents_written_apart_reads_as_with_them_composed(word, tail):
    """"e" + U+0301 (an accent written apart from its letter, NFD) read "E Clair 7B" where "é" read "Éclair 7B"."""
    composed, decomposed = unicodedata.normalize("NFC", word + tail), unicodedata.normalize("NFD", word + tail)
    assert derive_name_from_id(decomposed) == derive_name_from_id(composed)


@pytest.mark.parametrize(("ligature", "letters"),
                         [("\ufb01", "fi"), ("\ufb02", "fl"), ("\ufb00", "ff"), ("\ufb03", "ffi")])
def test_a_latin_ligature_in_an_id_reads_as_its_letters(ligature, letters):
    """"ﬁne-tune-7b" read "FIne Tune 7B": one character for two letters, upper-cased as one."""
    assert derive_name_from_id(f"{ligature}ne-tune-7b") == derive_name_from_id(f"{letters}ne-tune-7b")


_DATES = st.one_of(
    st.from_regex(r"(0[1-9]|1[0-2])(0[1-9]|[12][0-9])", fullmatch=True),  # a snapshot: "0613", "1106"
    st.builds(lambda y, m, d: [f"{y}", f"{m:02d}", f"{d:02d}"], st.integers(2020, 2027), st.integers(1, 12),
              st.integers(1, 28)),  # "2024_08_06"
    st.builds(lambda m, y: [f"{m:02d}", f"{y}"], st.integers(1, 12), st.integers(2020, 2027)),  # "08_2024"
    st.from_regex(r"20(2[0-7])(0[1-9]|1[0-2])(0[1-9]|[12][0-9])", fullmatch=True),  # "20241022"
)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["gpt", "grok", "claude", "acme", "model", "turbo", "command", "r"]),
                      min_size=1, max_size=3),
       version=st.lists(st.integers(0, 12).map(str), min_size=0, max_size=2), date=_DATES,
       tail=st.lists(st.sampled_from(["preview", "chat", "instruct"]), max_size=1))
@example(words=["gpt"], version=["4"], date="0613", tail=[])
@example(words=["o1"], version=[], date=["2024", "12", "17"], tail=[])
@example(words=["command", "r"], version=[], date=["08", "2024"], tail=[])
def test_a_date_in_an_id_written_with_underscores_reads_as_with_hyphens(words, version, date, tail):
    """"gpt_4_0613" read "GPT-4.0613" and "o1_2024_12_17" "O1.2024.12.17": "_" between digits was a decimal point
    up to the id's last number, a release date or snapshot included, which no version writes with 3 digits."""
    date = [date] if isinstance(date, str) else date
    assume(not version or len(date[0]) >= 3)  # "4_08_2024" could be version 4.08 as well: no id writes one so
    underscored = "_".join([*words, *version, *date, *tail])
    hyphened = "-".join([*words, *([".".join(version)] if version else []), *date, *tail])
    assert derive_name_from_id(underscored) == derive_name_from_id(hyphened)


@settings(max_examples=200, deadline=None)
@given(pair=st.lists(st.sampled_from(["text", "image", "audio", "speech", "video", "input", "output", "en", "zh",
                                       "and", "or", "code", "chat", "vision", "embeddings", "docs"]),
                     min_size=2, max_size=2, unique=True),
       bracketed=st.booleans())
@example(pair=["text", "image"], bracketed=True)
@example(pair=["and", "or"], bracketed=False)
def test_two_lower_case_words_parted_by_a_slash_are_both_kept(pair, bracketed):
    """"Claude 3.5 Sonnet (text/image)" read "Claude 3.5 Sonnet image": "text/" was dropped as an id's
    organisation. A path is an id only when its last part could be one (a digit, a capital, "-", "." or "_")."""
    path = "/".join(pair)
    name, _, _ = clean_upstream_name(f"Claude 3.5 Sonnet {f'({path})' if bracketed else path}")
    assert name.casefold().split()[-2:] == pair


@pytest.mark.parametrize(("raw", "expected"), [
    ("meta-llama/Llama-3 Chat", "Llama-3 Chat"),
    ("openai/gpt-4o", "gpt-4o"),
    ("@cf/meta/llama-3-8b-instruct", "llama-3-8b-instruct"),
])
def test_an_id_path_in_a_name_keeps_its_last_part(raw, expected):
    assert clean_upstream_name(raw)[0] == expected


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(r"[A-Z][a-z]{2,7} [0-9]{1,2}", fullmatch=True),
       items=st.lists(st.one_of(st.sampled_from(["free", "beta", "preview", "fp8", "awq", "int4"]),
                                st.from_regex(r"[0-9]{1,3}[BM]|v[0-9]|[0-9]x[0-9]{1,2}B", fullmatch=True),
                                st.from_regex(r"[A-Z][a-z]{3,7}", fullmatch=True)),
                      min_size=2, max_size=5, unique_by=str.casefold))
@example(name="Model 3", items=["beta", "free", "70B"])
def test_a_size_or_version_listed_in_a_bracket_takes_no_comma(name, items):
    """"Model (beta, free, 70B)" read "Model Beta, 70B": the flags went and their list's comma stayed beside a
    size. Each item is read as a bracket of its own, and a word with a digit joins the name with a space."""
    listed, _, _ = clean_upstream_name(f"{name} ({', '.join(items)})")
    assert not re.search(r"\d\S*,|, \S*\d", listed), listed  # a comma beside a word with a digit


@pytest.mark.parametrize(("display_name", "expected"), [
    ("360: 360GPT Pro", "360GPT Pro"),
    ("Gemini 2.5 Flash: Gemini 2.5 Flash Thinking", "Gemini 2.5 Flash Thinking"),
    ("Qwen: Qwen2.5 72B", "Qwen2.5 72B"),
    ("01.AI: 01.AI Yi Large", "01.AI Yi Large"),
])
def test_a_prefix_the_name_after_the_colon_begins_with_is_said_once(display_name, expected):
    assert resolve_display_name("x/model", display_name=display_name).name == expected


def test_a_lower_case_name_with_a_plus_is_read_as_an_ids_words():
    assert resolve_display_name("cohere/command-r-plus", display_name="command r+").name == "Command R+"


def test_seed_order_display_name_then_name_then_id():
    assert resolve_display_name("a/b", display_name="Shown", name="Named").rule == "display_name"
    assert resolve_display_name("a/b", display_name=None, name="Named").rule == "name"
    fallback = resolve_display_name("a/b-c", display_name="(free)", name="()")
    assert (fallback.name, fallback.rule, fallback.raw) == ("B C", "derived_from_id", "a/b-c")
    assert fallback.steps[:2] == ("fallback_from_display_name", "fallback_from_name")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            [("qwen/qwen3-8b:free", "Qwen: Qwen3 8B (free)"), ("qwen/qwen3-8b", "Qwen: Qwen3 8B")],
            ["Qwen3 8B Free", "Qwen3 8B"],
        ),
        (
            [("a/m:thinking", "Model X"), ("a/m", "Model X")],
            ["Model X Thinking", "Model X"],
        ),
        (
            [("gpt-4o-2024-08-06", "GPT-4o"), ("gpt-4o", "GPT-4o")],
            ["GPT-4o 2024-08-06", "GPT-4o"],
        ),
        (
            [("Qwen/Qwen3-32B-fast", "Qwen3 32B"), ("Qwen/Qwen3-32B", "Qwen3 32B")],
            ["Qwen3 32B Fast", "Qwen3 32B"],
        ),
        (
            [("zai-org/GLM-4.7-FP8", "GLM 4.7 (FP8)"), ("zai-org/GLM-4.7", "GLM 4.7")],
            ["GLM 4.7 FP8", "GLM 4.7"],
        ),
    ],
)
def test_make_names_unique_appends_distinguishing_id_words(items, expected):
    resolved = [(mid, resolve_display_name(mid, display_name=raw)) for mid, raw in items]
    result = make_names_unique(resolved)
    assert [r.name for r in result] == expected
    for (_, before), after in zip(resolved, result):
        assert ("disambiguated" in after.steps) == (before.name != after.name)
    # Order of the input does not matter.
    assert [r.name for r in make_names_unique(resolved[::-1])] == expected[::-1]


@given(source=st.sampled_from(["image", "video", "text", "speech", "audio", "reference", "sketch"]),
       target=st.sampled_from(["image", "video", "text", "speech", "audio", "sketch"]),
       connector=st.sampled_from(["to", "and", "with", "from"]),
       family=st.sampled_from([("flux", "FLUX.1 [dev]", "FLUX.1 Dev"), ("veo3.1", "Veo 3.1 (dev)", "Veo 3.1 Dev"),
                               ("kling-video", "Kling Video Dev", "Kling Video Dev")]))
def test_a_task_phrase_told_apart_by_an_id_is_appended_whole(source, target, connector, family):
    """A name shared by "org/family/dev" and "org/family/dev/<a>-<connector>-<b>" gains the whole phrase, <a>
    and <b> alike or not ("FLUX.1 Dev Image To Image": it read "FLUX.1 Dev Image To", the repeated word
    dropped), and the shorter id keeps the name: a family word the name writes with its version ("FLUX.1")
    is said already (it read "FLUX.1 Dev FLUX"). A task's source before "to" is said even when the name says
    it ("Kling Video Dev Video To Image")."""
    slug, raw, name = family
    ids = [f"fal-ai/{slug}/dev", f"fal-ai/{slug}/dev/{source}-{connector}-{target}"]
    resolved = [(mid, resolve_display_name(mid, display_name=raw)) for mid in ids]
    names = [r.name for r in make_names_unique(resolved)]
    # Before any other connector, a word the name says already is not said again ("Llama 3 Instruct For Tools").
    phrase = [source.title(), connector.title(), target.title()]
    if connector != "to" and source.title() in name.split():
        phrase = phrase[1:]
    assert names == [name, " ".join([name, *phrase])], names


@given(tasks=st.lists(st.tuples(st.sampled_from(["image", "video", "text", "speech", "audio", "reference"]),
                                st.sampled_from(["image", "video", "text", "speech", "audio"])),
                      min_size=2, max_size=4, unique=True),
       family=st.sampled_from([("sora-2", "Sora 2"), ("veo3", "Veo 3"), ("kling-video/v2.1/master", "Kling 2.1 Master")]))
# Found by this test in a full run: the task told apart by its path segment lost its repeated word.
@example(tasks=[("video", "speech"), ("speech", "speech")], family=("kling-video/v2.1/master", "Kling 2.1 Master"))
def test_ids_told_apart_only_by_their_tasks_each_say_their_whole_task(tasks, family):
    """"fal-ai/sora-2/text-to-video" and "fal-ai/sora-2/image-to-video", both named "Sora 2" upstream, read
    "Sora 2 Text" and "Sora 2 Image": the words every id says ("to", "video") were left out, and with them the
    task, so a video model read as an image one."""
    slug, raw = family
    ids = [f"fal-ai/{slug}/{source}-to-{target}" for source, target in tasks]
    names = [r.name for r in make_names_unique([(mid, resolve_display_name(mid, display_name=raw)) for mid in ids])]
    assert len(set(names)) == len(names), names
    told = [(task, name) for task, name in zip(tasks, names) if name != raw]  # one id may keep the name
    assert len(told) >= len(names) - 1, names
    for (source, target), name in told:
        assert name.casefold().endswith(f"{source} to {target}"), (name, source, target)


def test_a_word_another_id_says_too_still_tells_them_apart_when_no_other_does():
    """"fireworks" is said by "fireworks_ai" too, yet it is what tells these two apart: not a hash."""
    ids = ["fireworks_ai/glm-4p7", "fireworks_ai/accounts/fireworks/models/glm-4p7"]
    assert [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])] == [
        "GLM-4.7", "GLM-4.7 Fireworks"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("stability/stable-image-ultra", "Stable Image Ultra"),  # variant words alone may be a model's own name
    ("gemini/mini", "Gemini Mini"),                          # an organisation that merely contains the word stays
    ("llama-guard/llama", "Llama Guard Llama"),
])
def test_the_first_segment_is_kept_only_when_the_rest_names_nothing_of_its_own(model_id, expected):
    assert resolve_display_name(model_id).name == expected


def test_a_word_every_colliding_id_says_is_not_appended_before_a_connector():
    ids = ["meta/llama-3-for-tools-instruct", "meta/llama-3-instruct"]
    resolved = [(mid, resolve_display_name(mid, display_name="Llama 3 Instruct")) for mid in ids]
    assert [r.name for r in make_names_unique(resolved)] == ["Llama 3 Instruct For Tools", "Llama 3 Instruct"]


def test_make_names_unique_falls_back_to_path_words_then_a_hash():
    same = DisplayName(name="Gemini Flash", rule="display_name", raw="Gemini Flash", steps=())
    result = make_names_unique([("gemini-flash", same), ("gemini-flash-alias", same), ("x/gemini-flash", same)])
    assert len({r.name.casefold() for r in result}) == 3
    for r in result:
        assert_clean_name(r.name)


# --- hostile values ----------------------------------------------------------------------------------------

TEN_KB = "Model " + "x" * 10_000
HOSTILE = [
    None, 123, 4.5, ["OpenAI: GPT-4o"], {"name": "x"}, b"bytes", "", "   ", "\x00\x01", "OpenAI:", ":", "()",
    "(free)", "[]", "((((", "))))", TEN_KB, "word " * 3000, "'; DROP TABLE models; --", "\u200f\u202e\u2066",
    "\u202eGPT-4o\u202c", "\ufeffClaude\u200b 3", "🚀", "🚀🔥", "Ｑｗｅｎ", "A: B: C: D", "Company:  (FP8)",
    "Note: this: that", "e\u0301 model", "\t\n\r", "-", "...",
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_values_never_raise_and_give_clean_names(value):
    for kwargs in ({"display_name": value}, {"name": value}, {"display_name": value, "name": value}):
        result = resolve_display_name("vendor/some-model-7b", **kwargs)
        assert_clean_name(result.name)
        assert isinstance(result.raw, str)
    if isinstance(value, str):
        name, steps, attrs = clean_upstream_name(value)
        assert name == "" or (assert_clean_name(name) is None)
        assert set(attrs) == {"is_free", "quantization", "release_stage"}


@pytest.mark.parametrize("value", ["", "   ", "\t\n", None, 123, []])
def test_blank_or_missing_model_id_is_refused(value):
    with pytest.raises(ValueError):
        resolve_display_name(value, display_name="Fine Name")
    with pytest.raises(ValueError):
        derive_name_from_id(value)


def test_unreadable_things_fall_back_to_the_id():
    for value in ("\x00\x01", "OpenAI:", ":", "()", "(free)", "🚀", "\u200f\u202e"):
        result = resolve_display_name("acme/widget-2", display_name=value)
        assert (result.name, result.rule) == ("Widget 2", "derived_from_id")
        assert "fallback_from_display_name" in result.steps


def test_an_unreadable_id_still_gets_a_name():
    result = resolve_display_name("()::!!", display_name="()")
    assert result.rule == "derived_from_id"
    assert result.steps[-1] == "id_unreadable"
    assert_clean_name(result.name)


def test_long_names_are_truncated_at_a_word_boundary():
    raw = " ".join(f"word{i}" for i in range(100))
    name, steps, _ = clean_upstream_name(raw)
    assert "truncated" in steps
    assert len(name) <= NAME_MAX_LENGTH
    assert raw.startswith(name) and raw[len(name)] == " "


# --- invariants (hypothesis) --------------------------------------------------------------------------------

FRAGMENTS = [
    "(", ")", "[", "]", ":", ": ", " ", "  ", "-", "_", ".", "/", "@cf/", "models/", ":free", ":thinking",
    "(free)", "(FP8)", "(int4)", "(Preview)", "(New)", "OpenAI: ", "DeepSeek: ", "R1", "v0.3", "70b", "4o",
    "gpt", "llama3.1", "2024-08-06", "\x00", "\x1f", "\t", "\n", "\u200b", "\u200d", "\u200f", "\u202e",
    "\u2066", "\ufeff", "\u00ad", "\u0301", "🚀", "👨\u200d👩\u200d👧", "ß", "ǆ", "İ", "ﬁ", "\u3000", "\x85",    *BRACKET_CHARACTERS, *(f"{o}beta{c}" for o, c in BRACKETS), *(f"{o}free{c}" for o, c in BRACKETS),
]
texts = st.lists(st.one_of(st.characters(), st.sampled_from(FRAGMENTS)), max_size=40).map("".join)
long_texts = st.tuples(texts, st.integers(min_value=50, max_value=400)).map(lambda t: (t[0] + " word") * t[1])
any_text = st.one_of(texts, texts, texts, long_texts)
model_ids = any_text.filter(lambda s: s.strip())
field_values = st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2), any_text)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(any_text)
@example("Foo:(beta)")  # a colon glued to a flag's bracket: "Foo - Beta", then "Foo Beta" (make fuzz)
@example("X1:[preview]")
@example("Foo · (beta)")  # a flag in brackets after a separator: "Foo · Beta", then "Foo Beta" (make fuzz)
@example("0)·(beta)")
def test_clean_upstream_name_invariants_and_idempotence(raw):
    name, steps, attrs = clean_upstream_name(raw)
    if name:
        assert_clean_name(name)
    else:
        assert "no_readable_text" in steps
    assert clean_upstream_name(name)[0] == name


@FAST
@given(model_ids, field_values, field_values)
def test_resolve_display_name_invariants_and_idempotence(model_id, display_name, name):
    result = resolve_display_name(model_id, display_name=display_name, name=name)
    assert_clean_name(result.name)
    assert result.rule in ("display_name", "name", "derived_from_id")
    assert isinstance(result.raw, str) and isinstance(result.steps, tuple)
    assert resolve_display_name(model_id, display_name=result.name).name == result.name


@FAST
@given(model_ids)
def test_derived_names_invariants(model_id):
    assert_clean_name(derive_name_from_id(model_id))


# The digit property, stated precisely: for an input with no ":" (so no company prefix can be removed) whose
# cleaned name was not truncated, the digit runs (regex \d+) of the cleaned name are, as a multiset, the digit
# runs of the input after (1) each whitespace character becomes a space and control/format characters
# (categories Cc, Cf, Cs) are deleted, and (2) every bracket group whose content is a quantisation token
# (FP/BF/INT/NF/MXFP/NVFP followed by digits, or WxAy) is replaced by a space. A second test covers the
# company prefix: for "Company: rest" with a digit-free company, the digits are exactly those of the rest.
QUANT_GROUP = re.compile(
    r"[\(\[]\s*(?:(?:fp|bf|int|nf|mxfp|nvfp)\d{1,2}|w\d{1,2}a\d{1,2})\s*[\)\]]", re.I
)


def reference_text(raw: str) -> str:
    from modelsync_pipeline.naming import _remove_invisible_characters

    text = _remove_invisible_characters(raw)  # the one definition of what a reader cannot see
    text = unicodedata.normalize("NFC", text)
    # Apply repeatedly, as nested groups are cleaned innermost first.
    while True:
        stripped = QUANT_GROUP.sub(" ", text)
        if stripped == text:
            return text
        text = stripped


def digit_runs(text: str) -> list[str]:
    return sorted(re.findall(r"\d+", text))


def same_digits(name: str, steps, reference: str) -> bool:
    """Every digit run survives; a doubled word ("R1 R1") may say its digits once instead of twice."""
    if "drop_doubled_word" in steps or "drop_repeated_in_brackets" in steps:
        return set(digit_runs(name)) == set(digit_runs(reference))
    return digit_runs(name) == digit_runs(reference)


@FAST
@given(texts.filter(lambda s: ":" not in s))
def test_cleaning_never_drops_distinguishing_digits(raw):
    name, steps, _ = clean_upstream_name(raw)
    if "truncated" not in steps:
        assert same_digits(name, steps, reference_text(raw))


@FAST
@given(
    st.from_regex(r"[A-Za-z][A-Za-z .]{0,20}", fullmatch=True).filter(lambda s: len(s.split()) <= 4),
    texts.filter(lambda s: ":" not in s),
)
def test_company_prefix_removal_keeps_the_digits_of_the_rest(company, rest):
    name, steps, _ = clean_upstream_name(f"{company}: {rest}")
    if "truncated" not in steps:
        assert same_digits(name, steps, reference_text(rest))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(model_ids, field_values), max_size=12, unique_by=lambda t: t[0]))
def test_make_names_unique_gives_unique_clean_names(entries):
    resolved = [(mid, resolve_display_name(mid, display_name=raw)) for mid, raw in entries]
    result = make_names_unique(resolved)
    assert len(result) == len(resolved)
    assert len({r.name.casefold() for r in result}) == len(result)
    for r in result:
        assert_clean_name(r.name)
    assert make_names_unique(resolved) == result


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["a/m", "a/m:free", "b/m", "a/m-fast", "M", "m", "a/m:thinking"]),
                unique=True, min_size=2))
def test_make_names_unique_when_every_upstream_name_is_the_same(ids):
    same = DisplayName(name="Same Name", rule="display_name", raw="Same Name", steps=())
    result = make_names_unique([(mid, same) for mid in ids])
    assert len({r.name.casefold() for r in result}) == len(ids)


# --- every recorded payload ---------------------------------------------------------------------------------


def recorded_entries(path: Path):
    """(model_id, display_name, name) from the field each provider really sends its name in (its parser)."""
    spec = PAYLOAD_SPECS[path.name]
    for record in recorded_items(dataclasses.replace(spec, recorded=path.name), path.parent):
        parsed = spec.parse(record)
        yield parsed.model_id, parsed.display_name, parsed.name


PAYLOAD_SPECS = {spec.recorded: spec for spec in PROVIDERS} | {
    name: PROVIDERS_BY_SLUG[slug] for slug, names in EXTRA_PAYLOADS.items() for name in names
}
RECORDED_FILES = sorted(RECORDED.glob("*.json")) + sorted(STATIC_DIR.glob("*.json"))


def test_every_provider_payload_is_covered():
    assert len(RECORDED_FILES) >= 35
    assert {path.name for path in RECORDED_FILES} == set(PAYLOAD_SPECS)


@pytest.mark.parametrize("path", RECORDED_FILES, ids=lambda p: p.stem)
def test_recorded_payload_names(path):
    entries = list(recorded_entries(path))
    assert entries
    resolved = []
    for model_id, display_name, name in entries:
        result = resolve_display_name(model_id, display_name=display_name, name=name)
        assert_clean_name(result.name)
        assert resolve_display_name(model_id, display_name=result.name).name == result.name
        assert result.name.lower() != result.name or result.name[:1] == "o", result.name
        resolved.append((model_id, result))
    unique = make_names_unique(resolved)
    assert len({r.name.casefold() for r in unique}) == len({mid for mid, _ in resolved})
    for r in unique:
        assert_clean_name(r.name)


def test_recorded_payload_spot_checks():
    def names(stem):
        path = RECORDED / f"{stem}.json"
        pairs = [
            (mid, resolve_display_name(mid, display_name=d, name=n)) for mid, d, n in recorded_entries(path)
        ]
        return {mid: r for mid, r in zip((m for m, _ in pairs), make_names_unique(pairs))}

    anthropic = names("anthropic")
    assert anthropic["claude-3-5-sonnet-20241022"].name == "Claude Sonnet 3.5 New"
    assert anthropic["claude-3-5-sonnet-20240620"].name == "Claude Sonnet 3.5 Old"
    openrouter = names("openrouter")
    assert openrouter["qwen/qwen3-8b:free"].name == "Qwen3 8B Free"
    assert openrouter["qwen/qwen3-8b:free"].is_free
    assert openrouter["qwen/qwen3-8b"].name == "Qwen3 8B"
    assert openrouter["openai/o4-mini"].name == "o4 Mini"
    google = names("google-gemini")
    assert google["chat-bison-001"].name == "PaLM 2 Chat Legacy"
    assert google["chat-bison-001"].release_stage == "legacy"
    assert names("cerebras")["llama3.1-8b"].name == "Llama 3.1 8B"
    assert names("mistral")["codestral-latest"].name == "Codestral Latest"
    assert names("cloudflare-workers-ai")["@cf/meta/llama-3.1-8b-instruct-fast"].name == (
        "Llama 3.1 8B Instruct Fast"
    )


# --- id styles nobody here has reviewed ---------------------------------------------------------------------

# Ids in the styles providers really use, built from parts: org paths, account paths, "@" namespaces and
# versions, Bedrock dots and ":0" minors, "p" for ".", versions split into digits, vowel-less acronyms.
_ORGS = st.sampled_from(["", "vendor/", "vendor/x/", "accounts/acme/models/", "@cf/acme/", "aws-bedrock/acme.",
                         "openrouter/acme/", "ACME-Labs/", "org.sub."])
_FAMILIES = st.sampled_from(["model", "xyz", "lfm", "family", "qwen", "Llama", "glm", "nova", "kimi", "rnj", "mpt"])
_VERSIONS = st.sampled_from(["", "-3-3", "3p1", "-v3p1", "-2p5", "-1-0", "-v0-3", "4.5v", "-k2p6", "2-5", "-0711"])
_SIZES = st.sampled_from(["", "-70b", "-0p6b", "-8x7b", "-a3b", "-17b-16e"])
_TAILS = st.sampled_from(["", "-instruct", "-chat", "-it", "-fast", ":free", ":thinking", ":1", "@20240620", "-v1:0:8k"])
styled_ids = st.tuples(_ORGS, _FAMILIES, _VERSIONS, _SIZES, _TAILS).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(styled_ids, min_size=1, max_size=12, unique=True))
def test_id_only_catalogs_of_unseen_styles_get_names_the_checks_accept(ids):
    """A provider that sends only ids, in any of these styles, gets names that pass the blocking contract."""
    import pandas as pd

    from modelsync_pipeline.catalog import build_catalog
    from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG
    from modelsync_pipeline.schema import validate_catalog

    frame = build_catalog(PROVIDERS_BY_SLUG["cerebras"], [{"id": mid} for mid in ids])
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(ids)
    assert [v.as_dict() for v in validate_catalog(frame)] == []
    for name in frame["model_name"]:
        assert_clean_name(name)
        assert not re.search(r"\d p\d|\dp\d", name), f"Fireworks 'p' left in {name!r}"
        assert not re.search(r"(?<![\d.])\d \d(?![\d.])", name), name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(field_values, field_values), min_size=1, max_size=12))
@example([(None, "\ud800")])  # a lone surrogate ("\\ud800" in JSON): no UTF-8 text can hold it
@example([("Model \udfff X", "\ud83d\ude00 \ud800\udc00")])
def test_catalogs_with_any_upstream_names_get_names_the_checks_accept(names):
    """Whatever a provider sends as display_name and name (brackets of any kind, prefixes, control characters,
    ids, duplicates), the names the rule derives pass the blocking contract: only a broken id blocks a catalog.
    The rule and the contract were once out of step: "{beta}" survived the rule and blocked the provider."""
    from modelsync_pipeline.catalog import build_catalog
    from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG
    from modelsync_pipeline.schema import validate_catalog

    records = [{"id": f"vendor/model-{i}", "display_name": display, "name": name} for i, (display, name) in enumerate(names)]
    frame = build_catalog(PROVIDERS_BY_SLUG["cerebras"], records)  # reads both display_name and name
    assert [v.as_dict() for v in validate_catalog(frame)] == []
    for column in ("model_name", "raw_name", "metadata"):  # what staging sends to PostgreSQL as UTF-8
        json.dumps(frame[column].tolist(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(("raw", "expected"), [
    ("Meta: Llama {beta} 8B", "Llama Beta 8B"),
    ("Tool {x} Model", "Tool X Model"),
    ("\u901a\u4e49\u5343\u95ee\uff08Qwen\uff09Max", "\u901a\u4e49\u5343\u95ee Qwen Max"),
    ("\u3010New\u3011 Model", "New Model"),
    ("Model \uff3bFP8\uff3d", "Model"),
])
def test_every_kind_of_bracket_is_flattened(raw, expected):
    assert clean_upstream_name(raw)[0] == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("accounts/fireworks/models/qwen2p5-72b-instruct", "Qwen2.5 72B Instruct"),
    ("accounts/fireworks/models/kimi-k2p6", "Kimi K2.6"),
    ("glm-4p5v", "GLM-4.5V"),
    ("family-3-3-70b", "Family 3.3 70B"),
    ("qwen2-5-7b-instruct", "Qwen2.5 7B Instruct"),
    ("mistral-7b-instruct-v0-3", "Mistral 7B Instruct v0.3"),
    ("xyz-7b-chat", "XYZ 7B Chat"),
    ("aws-bedrock/mistral.mixtral-8x7b-instruct-v0:1", "Mixtral 8x7B Instruct v0.1"),
    ("claude-3-5-sonnet@20240620", "Claude 3.5 Sonnet 20240620"),
    ("gpt-35-turbo-16k", "GPT-3.5 Turbo 16K"),  # Azure deployment names drop the dot
])
def test_versions_and_acronyms_read_the_way_providers_write_them(model_id, expected):
    assert derive_name_from_id(model_id) == expected


def test_disambiguation_uses_words_of_the_differing_id_parts_never_the_raw_id():
    ids = ["vendor/x/model-a", "model-a", "other/model-a"]
    names = {mid: d.name for mid, d in zip(ids, make_names_unique([(m, resolve_display_name(m)) for m in ids]))}
    assert names == {"model-a": "Model A", "vendor/x/model-a": "Model A Vendor X", "other/model-a": "Model A Other"}


def test_two_builds_of_one_model_are_told_apart_by_a_short_digest_not_a_64_character_one():
    """Replicate pins builds with a 64-character digest: appended whole, it made the name of it."""
    ids = ["stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b",
           "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"]
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert names == ["SDXL 39ed52f2a78e", "SDXL 7762fd07cf82"]


@pytest.mark.parametrize(("model_id", "display_name", "expected"), [
    ("Bria/erase", None, "Bria Erase"),               # DeepInfra: the maker's word stays before a lone word
    ("@cf/deepgram/flux", None, "Deepgram FLUX"),     # not Black Forest Labs' FLUX
    ("fal-ai/flux/schnell", None, "FLUX Schnell"),    # the family before its variant word
    ("openrouter/auto", None, "OpenRouter Auto"),
    ("@cf/whisper", None, "Whisper"),                 # a platform prefix is no organisation
    ("stability-ai/sdxl", None, "SDXL"),              # an acronym names a model alone
    ("venice/uncensored:free", "Venice: Uncensored (free)", "Venice Uncensored"),
    ("switchpoint/router", "Switchpoint: Router", "Switchpoint Router"),
    ("openrouter/fusion", "OpenRouter: Fusion", "OpenRouter Fusion"),
    ("openai/gpt-4o", "OpenAI: GPT-4o", "GPT-4o"),    # a model word with a version needs no company
])
def test_a_lone_common_word_keeps_the_company_or_family_before_it(model_id, display_name, expected):
    """"Venice: Uncensored" read "Uncensored", "Bria/erase" read "Erase": a common word alone, no model."""
    name = resolve_display_name(model_id, display_name=display_name)
    assert name.name == expected
    assert ("keep_company_word" in name.steps or "keep_family_word" in name.steps) == (expected.count(" ") > 0)


@FAST
@given(org=st.from_regex(r"[a-z]{4,9}", fullmatch=True), word=st.from_regex(r"[a-z]*[aeiou][a-z]*", fullmatch=True)
       .filter(lambda w: 4 <= len(w) <= 10))
def test_no_derived_or_cleaned_name_is_a_lone_common_word_when_an_organisation_is_known(org, word):
    assume(org not in word and word not in org)  # "mistral/mistral" is one word said twice
    for name in (resolve_display_name(f"{org}/{word}").name,
                 resolve_display_name(f"{org}/{word}-x1", display_name=f"{org.title()}: {word.title()}").name):
        assert len(name.split()) >= 2, name


@FAST
@given(org=st.sampled_from(["fal-ai", "acme", "studio-x"]),
       family=st.lists(st.from_regex(r"[a-z]*[aeiou][a-z]*", fullmatch=True).filter(lambda w: 3 <= len(w) <= 9),
                       min_size=1, max_size=2),
       release=st.from_regex(r"v[1-9](\.[0-9])?", fullmatch=True),
       after=st.lists(st.from_regex(r"[a-z]*[aeiou][a-z]*(-[a-z]*[aeiou][a-z]*)?", fullmatch=True)
                      .filter(lambda w: 3 <= len(w) <= 20), min_size=1, max_size=3))
@example(org="fal-ai", family=["aaa"], release="v1", after=["a-exp"])
def test_a_release_segment_keeps_the_family_before_it_and_every_segment_after_it(org, family, release, after):
    """"org/<family>/<release>/<tier>/<task>" (fal's "fal-ai/kling-video/v2.1/master/text-to-video", which read
    "Master Text To Video"): the derived name says the family, the release and every segment after it, in order."""
    expected = [*family, release, *(w for segment in after for w in segment.split("-"))]
    assume(len(set(expected)) == len(expected) and org not in expected)  # a word said twice is said once
    model_id = "/".join([org, "-".join(family), release, *after])
    name = resolve_display_name(model_id).name
    # Said as the rule spells it out: "exp" is "Experimental" (found by this test: "fal-ai/aaa/v1/a-exp")
    expected = [naming._ID_WORD_EXPANSIONS.get(w, w).casefold() for w in expected]
    said = [w.casefold() for w in re.split(r"[ -]", name)]
    assert [w for w in said if w in expected] == expected, (model_id, name)


@FAST
@given(model=st.from_regex(r"[A-Za-z][A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,6}){0,4}", fullmatch=True),
       version=st.integers(1, 40), scheme=st.sampled_from(["azureml://registries/azureml", "registries/acme", ""]))
def test_a_resource_path_ending_in_a_version_names_that_version_of_its_model(model, version, scheme):
    """"<...>/models/<model>/versions/<n>" (Azure ML's registry ids, which read "Versions 20") is the model's
    own name with its version: "Phi 3 Mini 4K Instruct v20"."""
    assume(not re.search(rf"(?i)v?{version}$", model))  # "x-v3/versions/3" says it once
    model_id = "/".join(p for p in (scheme, "models", model, "versions", str(version)) if p)
    assert resolve_display_name(model_id).name == f"{derive_name_from_id(model)} v{version}", model_id


@FAST
@given(word=st.from_regex(r"[a-z]*[aeiou][a-z]*", fullmatch=True).filter(lambda w: 4 <= len(w) <= 10),
       suffix=st.sampled_from(["ai", "ml", "labs", "-labs", "-ai", "hq", "-co"]),
       collection=st.sampled_from(["routers", "deployments", "models"]))
def test_the_organisation_a_lone_word_keeps_is_a_real_one_and_says_something_new(word, suffix, collection):
    """"ideogramai/ideogram" read "Ideogramai Ideogram" and "accounts/fireworks/routers/auto" "Routers Auto":
    an organisation that says the word already adds nothing, and a collection segment is no organisation."""
    assert resolve_display_name(f"{word}{suffix}/{word}").name.casefold() == word
    org = "fireworks" if word != "fireworks" else "acme"
    assert resolve_display_name(f"accounts/{org}/{collection}/{word}").name.casefold() == f"{org} {word}"


@FAST
@given(org=st.from_regex(r"[a-z]{3,8}(-[a-z]{2,5})?", fullmatch=True),
       rest=st.lists(st.sampled_from(["v1.1", "v2", "1.5", "ultra", "pro", "text-to-image", "image-to-video", "edit"]),
                     min_size=1, max_size=3, unique=True))
def test_an_id_whose_model_part_names_nothing_keeps_its_first_segment(org, rest):
    """"flux-pro/v1.1" read "v1.1" (aimlapi): when all after the first segment is releases, variants and tasks,
    a release or a task among them, the first segment is the family or maker, and the name says it."""
    assume(set(rest) & {"v1.1", "v2", "1.5", "text-to-image", "image-to-video"})  # variant words alone may name one
    words = [*org.split("-"), *(w for part in rest for w in part.split("-"))]
    assume(len(set(words)) == len(words) and not set(org.split("-")) & naming._VARIANT_WORDS)  # a variant names nothing
    name = resolve_display_name("/".join([org, *rest])).name
    assert name.casefold().startswith(org.replace("-", " ").casefold()), name


@FAST
@given(model=st.from_regex(r"[a-z]{3,8}(-[0-9]{1,2})?(-[0-9]{1,3}b)?(-[a-z]{2,8})?", fullmatch=True),
       org=st.sampled_from(["unsloth", "acme-ai"]))
def test_a_lower_case_name_that_spells_the_id_is_read_as_the_id(model, org):
    """Chutes names "unsloth/gemma-3-12b-it" "gemma 3 12b it": the id spaced out, not a name anyone wrote. The
    name is the id's derived one, which a name written with capitals never is replaced by."""
    model_id = f"{org}/{model}"
    spelled = resolve_display_name(model_id, display_name=model.replace("-", " "))
    assert spelled.name == derive_name_from_id(model_id) and spelled.rule == "derived_from_id"
    written = resolve_display_name(model_id, display_name=model.replace("-", " ").title() + " Edition")
    assert written.rule == "display_name"


@pytest.mark.parametrize(("model_id", "expected"), [
    ("azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/20", "Phi 3 Mini 4K Instruct v20"),
    ("azureml://registries/azure-openai/models/gpt-4o/versions/2024-08-06", "GPT-4o 2024-08-06"),
    ("fal-ai/kling-video/v2.1/master/text-to-video", "Kling Video v2.1 Master Text To Video"),
    ("fal-ai/bytedance/seedance/v1/lite/reference-to-video", "Seedance v1 Lite Reference To Video"),
    ("projects/123/locations/us-central1/endpoints/456", "Endpoints 456"),  # a bare number is no release
    # An API's own path keeps the model's own name: its segment carries a version or size, or boilerplate follows.
    ("acme/inference/v1/llama-3-70b", "Llama 3 70B"),
    ("nvidia/nim/v1/meta/llama3-70b", "Llama 3 70B"),
    ("org/vendor/v1/models/llama-3", "Llama 3"),
    ("perceptron/perceptron-mk1", "Perceptron Mk1"),  # a word glued to a number keeps its maker's casing
])
def test_resource_paths_and_release_segments(model_id, expected):
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("kimi-k2-6", "Kimi K2.6"),            # real id-only ids (Venice, Tinfoil): a minor version after a letter
    ("minimax-m2-7", "MiniMax M2.7"),      # and a digit, as "qwen2-5" already read as Qwen2.5
    ("deepseek-r1-1776", "DeepSeek R1 1776"),  # more than one digit is no minor version
    ("moonshotai/kimi-k2-0905", "Kimi K2 0905"),
    ("t5-3b", "T5 3B"),                    # a size stays a size
])
def test_a_single_digit_after_a_letter_and_digit_word_is_its_minor_version(model_id, expected):
    assert resolve_display_name(model_id).name == expected


@FAST
@given(letter=st.sampled_from("kmrst"), major=st.integers(1, 9), minor=st.integers(0, 9),
       family=st.from_regex(r"[a-z]{4,7}", fullmatch=True))
def test_any_letter_digit_version_with_a_hyphenated_minor_reads_dotted(letter, major, minor, family):
    name = resolve_display_name(f"{family}-{letter}{major}-{minor}").name
    assert name.endswith(f"{letter.upper()}{major}.{minor}"), name


@pytest.mark.parametrize(("ids", "expected"), [
    # the maker's own id says nothing its name does not: it keeps the name, the reseller's copy is labelled
    (["TEE/deepseek-v3.2", "deepseek/deepseek-v3.2"], ["DeepSeek V3.2 TEE", "DeepSeek V3.2"]),
    # each says something else: which one is the maker's cannot be told, and neither gets the plain name
    (["stealth/claude-opus-4.6", "anthropic/claude-opus-4.6"], ["Claude Opus 4.6 Stealth", "Claude Opus 4.6 Anthropic"]),
    (["azure-openai/kimi-k2-thinking", "aws-bedrock/moonshot.kimi-k2-thinking"],
     ["Kimi K2 Thinking Azure OpenAI", "Kimi K2 Thinking AWS Bedrock Moonshot"]),
])
def test_the_plain_name_goes_to_an_id_it_describes_whole_never_to_the_shorter_reseller_id(ids, expected):
    """Before, the shorter id kept the plain name, so a reseller's or an enclave's copy ("TEE/...", "stealth/...")
    read as the model itself and the maker's own id got a hash or an organisation word."""
    assert [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])] == expected


@FAST
@given(model=st.from_regex(r"[a-z]{4,8}-[1-9](\.[1-9])?", fullmatch=True),
       orgs=st.lists(st.from_regex(r"[a-z]{4,9}", fullmatch=True), min_size=2, max_size=4, unique=True))
def test_ids_of_one_model_under_different_organisations_never_give_one_of_them_the_plain_name(model, orgs):
    """A name an id does not describe whole is never kept by it while another id says something else."""
    if any(org in model for org in orgs):
        return
    ids = [f"{org}/{model}" for org in orgs]
    plain = resolve_display_name(model).name
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert len({n.casefold() for n in names}) == len(names), names
    assert plain.casefold() not in {n.casefold() for n in names}, names
    ids.append(model)  # the bare id says nothing else: it keeps the plain name
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert names[-1] == plain and len({n.casefold() for n in names}) == len(names), names


# --- classes found by a sweep of styles no recorded payload has --------------------------------------------

_WORDS = st.from_regex(r"[a-z]{3,8}", fullmatch=True).filter(lambda w: w not in ("gguf", "free"))


@FAST
@given(family=st.sampled_from(["Gemini", "GPT", "Llama", "Sonar", "Mistral Small", "Qwen", "Acme Chat"]),
       version=st.from_regex(r"\d{1,2}(\.\d)?[a-z]?|v\d|\d{1,3}[bB]|[a-z]{2,5}-\d[a-z]?", fullmatch=True),
       variant=st.from_regex(r"[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8})?", fullmatch=True).filter(
           lambda v: len(set(v.casefold().split())) == len(v.split())))  # "Aaa Aaa" would lose its doubled word
@example(family="Gemini", version="2.5", variant="Thinking")
@example(family="GPT", version="4o", variant="Mini")
def test_a_model_name_before_a_colon_is_never_taken_for_a_company(family, version, variant):
    """"Gemini 2.5 Flash: Thinking" is a model and its variant: a part with a version or size is no company."""
    name, steps, _ = clean_upstream_name(f"{family} {version}: {variant}")
    assert "strip_company_prefix" not in steps
    # (a full-width digit is read as the ASCII one it looks like: "v\uff10" is "v0")
    assert name.split() == [*family.split(), version.translate(naming._ASCII_LOOKALIKES), "-", *variant.split()], name


@pytest.mark.parametrize(("raw", "expected"), [
    ("AI21: Jamba 1.5 Large", "Jamba 1.5 Large"),   # a company whose name has digits, but no version
    ("01.AI: Yi Large", "Yi Large"),
    ("Z.ai: GLM 4.6", "GLM 4.6"),
    ("OpenAI\uff1aGPT-4o", "GPT-4o"),               # a full-width colon, no space, as CJK text writes it
    ("\u767e\u5ea6\uff1a\u6587\u5fc3\u4e00\u8a00 4.0", "\u6587\u5fc3\u4e00\u8a00 4.0"),
])
def test_a_company_prefix_is_still_dropped(raw, expected):
    name, steps, _ = clean_upstream_name(raw)
    assert name == expected and "strip_company_prefix" in steps
    assert not COMPANY_PREFIX.match(name)
    assert COMPANY_PREFIX.match(raw)  # the contract would have refused the raw value


@pytest.mark.parametrize("pair", BRACKETS)
def test_every_bracket_pair_is_flattened_and_refused_by_the_contract(pair):
    opening, closing = pair
    assert clean_upstream_name(f"Mistral {opening}7B{closing} Instruct {opening}beta{closing}")[0] == "Mistral 7B Instruct Beta"
    for char in pair:
        assert char in BRACKET_CHARACTERS


@FAST
@given(st.lists(_WORDS, min_size=2, max_size=4), st.integers(1, 9))
@example(["dots", "llm", "inst"], 1)
def test_a_dot_in_an_id_that_is_not_bedrocks_loses_no_word(words, digit):
    """"rednote-hilab/dots.llm1.inst" and "openbmb/minicpm.v4": every dotted part is part of the name."""
    model_id = f"org/{words[0]}.{words[1]}{digit}." + ".".join(words[2:] or ["chat"])
    name = derive_name_from_id(model_id).casefold()
    for word in [*words, str(digit)]:
        assert word in name, (model_id, name)


@pytest.mark.parametrize(("model_id", "expected", "dropped"), [
    ("x/llama-3-8b.gguf", "Llama 3 8B GGUF", False),
    ("openbmb/minicpm.v4", "MiniCPM v4", False),
    ("rednote-hilab/dots.ocr", "Dots OCR", False),
    ("gpt-3.5-turbo", "GPT-3.5 Turbo", False),
    ("deepseek.r1-v1:0", "DeepSeek R1 v1.0", True),          # the model a bare version: its vendor word stays
    ("us.deepseek.r1-v1:0", "DeepSeek R1 v1.0", True),
    ("apac.ai21.jamba-1-5-large-v1:0", "Jamba 1.5 Large v1.0", True),
    ("aws-bedrock/qwen.qwen3-vl-235b-a22b", "Qwen3 VL 235B A22B", True),
])
def test_only_a_bedrock_namespace_is_dropped(model_id, expected, dropped):
    derived = resolve_display_name(model_id)
    assert derived.name == expected
    assert ("drop_bedrock_namespace" in derived.steps) is dropped


@pytest.mark.parametrize("quant", ["q4_K_M", "Q8_0", "iq4_xs", "q5_k_s", "Q6_K", "q3_K_L", "IQ2_XXS", "q4_0"])
@pytest.mark.parametrize("template", ["llama3.1:70b-instruct-{q}", "org/Qwen2.5-7B-Instruct-{q}", "org/phi-2.{q}.gguf",
                                      "accounts/x/models/mistral-7b-{q}"])
def test_a_gguf_quantisation_is_one_word_and_sets_quantization(template, quant):
    derived = resolve_display_name(template.format(q=quant))
    assert quant.upper() in derived.name.split(), derived.name
    assert derived.quantization == quant.casefold()


@pytest.mark.parametrize(("model_id", "raw", "expected"), [
    ("meta-llama/llama-3-8b", "Meta - Llama 3", "Llama 3"),
    ("mistralai/mixtral-8x7b", "Mistral AI | Mixtral 8x7B", "Mixtral 8x7B"),
    ("openai/gpt-4o", "OpenAI \u2013 GPT-4o", "GPT-4o"),
    ("openai/gpt-4o", "OpenAI \u203a GPT-4o", "GPT-4o"),
    ("google/gemma-2-9b", "Google / Gemma 2 9B", "Gemma 2 9B"),
    ("@cf/meta/llama-3-8b", "Meta | Llama 3 8B", "Llama 3 8B"),
    ("deepseek/deepseek-r1", "DeepSeek | R1", "DeepSeek R1"),          # the organisation is the family word:
    ("deepseek/deepseek-chat", "DeepSeek - Chat", "DeepSeek Chat"),    # the id's own segment starts with it
    ("mistralai/mistral-small", "Mistral - Small", "Mistral Small"),
    ("qwen/qwen-max", "Qwen \u2013 Max", "Qwen Max"),
    # no evidence that the left part is a company: a model's own words stay
    ("meta-llama/llama-3-8b", "Llama 3 - Instruct", "Llama 3 - Instruct"),
    ("x/y", "Meta - Llama 3", "Meta - Llama 3"),
    ("qwen/qwen-max", "Qwen-Max", "Qwen-Max"),
    ("openai/gpt-4o", "GPT-4o - Mini", "GPT-4o - Mini"),  # (a spaced en dash reads " - " too: read_dash)
])
def test_a_company_before_another_separator_goes_when_the_id_names_it(model_id, raw, expected):
    derived = resolve_display_name(model_id, display_name=raw)
    assert derived.name == expected
    assert ("read_company_separator" in derived.steps) is (expected != raw)


def test_bedrock_cross_region_ids_beside_their_base_id_are_told_apart_by_region():
    """The vendor word both ids say tells them apart no more than the model's own words (it read "... US
    Anthropic")."""
    ids = ["us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0",
           "apac.ai21.jamba-1-5-large-v1:0", "ai21.jamba-1-5-large-v1:0",
           "global.anthropic.claude-opus-4-5-20251101-v1:0", "eu.anthropic.claude-opus-4-5-20251101-v1:0",
           "anthropic.claude-opus-4-5-20251101-v1:0"]
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert names == ["Claude 3.5 Sonnet 20240620 v1.0 US", "Claude 3.5 Sonnet 20240620 v1.0",
                     "Jamba 1.5 Large v1.0 APAC", "Jamba 1.5 Large v1.0",
                     "Claude Opus 4.5 20251101 v1.0 Global", "Claude Opus 4.5 20251101 v1.0 EU",
                     "Claude Opus 4.5 20251101 v1.0"]


@FAST
@given(org=st.from_regex(r"[a-z]{3,8}", fullmatch=True), model=st.from_regex(r"[a-z]{3,8}-[1-9]", fullmatch=True),
       regions=st.lists(st.sampled_from(["us", "eu", "apac", "global", "jp", "au", "ca"]), min_size=1, max_size=4,
                        unique=True))
def test_a_word_every_colliding_id_says_is_never_appended_to_tell_them_apart(org, model, regions):
    ids = [f"{org}.{model}", *(f"{region}.{org}.{model}" for region in regions)]
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert len({n.casefold() for n in names}) == len(ids), names
    base = names[0]
    assert all(name.startswith(base) and org.casefold() not in name[len(base):].casefold().split()
               for name in names[1:]), names


# --- classes found by a sweep of 4,500 ids from litellm's price list (every provider prefix it knows) ----------


@pytest.mark.parametrize(("model_id", "expected"), [
    ("zai.glm-4.7", "GLM-4.7"),                      # a Bedrock model part with a dotted version
    ("us.openai.gpt-5.4", "GPT-5.4"),
    ("global.xai.grok-4.6", "Grok 4.6"),
    ("moonshotai.kimi-k2.5", "Kimi K2.5"),
    ("eu.mistral.pixtral-large-2502-v1:0", "Pixtral Large 2502 v1.0"),
    ("us.deepseek.v3.2", "DeepSeek V3.2"),           # a bare version after a region and a vendor keeps the vendor
])
def test_a_bedrock_namespace_goes_whatever_version_the_model_writes(model_id, expected):
    derived = resolve_display_name(model_id)
    assert derived.name == expected
    assert "drop_bedrock_namespace" in derived.steps


@pytest.mark.parametrize(("model_id", "expected"), [
    # Replicate pins a version with its 64-digit hash; OpenAI fine-tunes end with a job id
    ("meta/llama-2-70b-chat:02e509c789964a7ea8736978a43525956ef40397be9033abf9fd2badfe68c9e3", "Llama 2 70B Chat"),
    ("stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b", "SDXL"),
    ("ft:gpt-4o-mini-2024-07-18:acme::AbCdEf12", "GPT-4o Mini 2024-07-18 Fine-Tuned Acme"),
    ("ft:gpt-3.5-turbo-0125:my-org:support-bot:9vJqzpUH", "GPT-3.5 Turbo 0125 Fine-Tuned My Org Support Bot"),
    ("llama3:8b-2024-07-18", "Llama 3 8B 2024-07-18"),  # a date in a variant reads as a date
])
def test_a_version_hash_or_fine_tune_id_is_not_part_of_the_name(model_id, expected):
    assert derive_name_from_id(model_id) == expected


def test_versions_of_one_model_pinned_by_hash_are_still_told_apart():
    ids = ["meta/llama-2-70b-chat:02e509c789964a7ea8736978a43525956ef40397be9033abf9fd2badfe68c9e3",
           "meta/llama-2-70b-chat:2d19859030ff705a87c746f7e96eea03aefb71f166725aee39692f1476566d48"]
    names = [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])]
    assert len({n.casefold() for n in names}) == 2 and all(n.startswith("Llama 2 70B Chat") for n in names)
    for name in names:
        assert_clean_name(name)


@pytest.mark.parametrize(("model_id", "expected"), [
    ("fal-ai/flux-pro/v1.1", "FLUX Pro v1.1"),       # the last part is only a version, a variant or a task:
    ("fal-ai/ideogram/v3", "Ideogram v3"),           # the model is the part before it
    ("fal-ai/flux/dev", "FLUX Dev"),
    ("deepseek/deepseek-r1/community", "DeepSeek R1 Community"),
    ("fal-ai/recraft/v3/text-to-image", "Recraft v3 Text To Image"),
    ("acme/widget-7b/latest", "Widget 7B Latest"),
    # a last part that names a model is the name, as before
    ("fal-ai/flux/schnell", "FLUX Schnell"),
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", "Llama 3.1 8B Instruct"),
    ("@cf/meta/llama-3-8b-instruct", "Llama 3 8B Instruct"),
    ("org/v2", "Org v2"),                             # a release alone names nothing: its maker or family stays
])
def test_a_last_id_part_that_names_no_model_takes_the_part_before_it(model_id, expected):
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "raw", "expected"), [
    ("mistralai/mistral-saba", "Mistral: Saba", "Mistral Saba"),      # the company is the family word of the id
    ("mistralai/mistral-tiny", "Mistral: Tiny", "Mistral Tiny"),
    ("tencent/hunyuan-turbos", "Hunyuan: TurboS", "Hunyuan TurboS"),
    ("openai/gpt-4o", "OpenAI: GPT-4o", "GPT-4o"),                    # a company the id's model does not start with
    ("mistralai/mistral-nemo", "Mistral: Mistral Nemo", "Mistral Nemo"),
    ("meta-llama/llama-3-8b", "Meta: Llama 3 8B", "Llama 3 8B"),
])
def test_a_company_that_is_the_models_family_word_stays(model_id, raw, expected):
    derived = resolve_display_name(model_id, display_name=raw)
    assert derived.name == expected
    assert_clean_name(derived.name)


@pytest.mark.parametrize(("model_id", "expected"), [
    ("codellama/codellama-34b-instruct", "CodeLlama 34B Instruct"),  # a brand inside a compound word
    ("google/codegemma-7b-it", "CodeGemma 7B IT"),
    ("tinyllama-1.1b-chat", "TinyLlama 1.1B Chat"),
    ("teknium/openhermes-2.5-mistral-7b", "OpenHermes 2.5 Mistral 7B"),
    ("qwen/codeqwen1.5-7b-chat", "CodeQwen1.5 7B Chat"),
    ("thudm/chatglm3-6b", "ChatGLM3 6B"),
    ("internlm/internlm2_5-7b-chat", "InternLM2.5 7B Chat"),
    ("baidu/ernie-4.5-21b-a3b", "ERNIE 4.5 21B A3B"),
    ("xiaomi/mimo-v2-flash", "MiMo v2 Flash"),
    ("allenai/olmo-2-13b", "OLMo 2 13B"),
    ("bigcode/starcoder2-15b", "StarCoder2 15B"),
    ("openai/gpt-oss-120b-mxfp4", "GPT-OSS 120B MXFP4"),            # only an "x" between digits stays lower case
    ("mistralai/mixtral-8x22b", "Mixtral 8x22B"),
    ("sophia-7b", "Sophia 7B"),                                      # "phi" inside a word is no brand
])
def test_brands_are_spelled_their_way_inside_compound_words(model_id, expected):
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "quantization"), [
    ("unsloth/llama-3-8b-bnb", "bnb"),
    ("turboderp/llama3-70b-exl2", "exl2"),
    ("org/qwen2.5-7b-mxfp4", "mxfp4"),
])
def test_more_quantisation_formats_set_quantization(model_id, quantization):
    assert resolve_display_name(model_id).quantization == quantization


@pytest.mark.parametrize(("model_id", "name"), [("0/", ("00: word") * 3), ("00/x", "00: word"), ("acme2/x", "Acme2 - Y")])
def test_a_name_with_a_number_before_its_separator_is_stable_when_fed_back(model_id, name):
    first = resolve_display_name(model_id, name=name).name
    assert resolve_display_name(model_id, display_name=first).name == first


def test_every_lineage_step_the_naming_records_is_explained():
    """`make explain` prints what each step of a name's lineage did: every step naming.py can record has words."""
    import inspect

    from modelsync_pipeline.cli import step_meaning

    source = inspect.getsource(naming)
    literal = set(re.findall(r'_add_step\(steps, "([a-z_]+)"\)', source))
    literal |= set(re.findall(r'steps = \(\s*"([a-z_]+)"', source)) | set(re.findall(r'\("([a-z_]+)",\)', source))
    literal |= set(re.findall(r'steps\.append\("([a-z_]+)"\)', source)) | {"disambiguated"}
    dynamic = {f"{prefix}{field}" for prefix in ("ignored_id_like_", "ignored_placeholder_", "fallback_from_")
               for field in ("display_name", "name")}
    assert len(literal) > 15
    assert {step for step in literal | dynamic if not step_meaning(step)} == set()


@pytest.mark.parametrize(("ids", "expected"), [
    (["us-gov.openai.gpt-oss-120b-1:0", "openai.gpt-oss-120b-1:0"], ["GPT-OSS 120B 1.0 US Gov", "GPT-OSS 120B 1.0"]),
    (["deepseek-ai/DeepSeek-V3", "deepseek-v3"], ["DeepSeek V3 DeepSeek AI", "DeepSeek V3"]),
    (["accounts/fireworks/models/glm-4p7", "glm-4p7"], ["GLM-4.7 Fireworks", "GLM-4.7"]),
    (["au.anthropic.claude-opus-4-7", "anthropic.claude-opus-4-7"], ["Claude Opus 4.7 AU", "Claude Opus 4.7"]),
    (["moonshotai/kimi-k3", "kimi-k3"], ["Kimi K3 Moonshot AI", "Kimi K3"]),
])
def test_words_that_tell_ids_apart_are_whole_words_never_path_boilerplate(ids, expected):
    """An organisation is named whole ("DeepSeek AI", never "AI"), a ":0" reads "1.0" as in the name, and a path's
    boilerplate ("accounts", "models") is never a word of a name."""
    assert [d.name for d in make_names_unique([(m, resolve_display_name(m)) for m in ids])] == expected


@pytest.mark.parametrize(("model_id", "fields", "expected"), [
    ("Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", {"display_name": "Qwen3 Coder 480B A35B Instruct"}, "fp8"),  # the id says it
    ("meta/llama-4-scout", {"name": "Llama-4-Scout-17B-16E-Instruct-FP8"}, "fp8"),  # a hyphenated word of the name
    ("org/phi-2.Q8_0.gguf", {}, "q8_0"),
    ("openai/gpt-4o", {"display_name": "GPT-4o"}, None),
])
def test_quantization_is_read_from_the_id_and_hyphenated_names_too(model_id, fields, expected):
    assert resolve_display_name(model_id, **fields).quantization == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("openai/gpt-4o:202406201234", "GPT-4o 202406201234"),   # twelve digits are a time stamp, not a digest
    ("accounts/fireworks/models/pro", "Fireworks Pro"),       # never "Models Pro": the organisation past it
])
def test_a_time_stamp_variant_stays_and_path_boilerplate_is_never_the_model(model_id, expected):
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "raw", "expected"), [
    ("x-ai/grok-4.1-fast-reasoning", "X-Ai/Grok 4.1 Fast Reasoning", "Grok 4.1 Fast Reasoning"),  # "Org/Model"
    ("z-ai/glm-4.6", "Z-AI/GLM 4.6", "GLM 4.6"),
    ("stepfun/step-3.5-flash", "Stepfun/Step-3.5 Flash", "Step-3.5 Flash"),
    ("openrouter/auto", "Auto Router (best for prompt)", "Auto Router Best for Prompt"),  # connectors stay lower case
    ("nano/gemini-2.5-flash-thinking", "Gemini 2.5 Flash Preview (09/2025) \u2013 Thinking",
     "Gemini 2.5 Flash Preview 09-2025 - Thinking"),                                      # one separator everywhere
    ("x/dall-e-3", "DALL\u00b7E 3", "DALL\u00b7E 3"),                                       # a middle dot is a spelling
])
def test_upstream_names_from_a_sweep_of_7000_real_names(model_id, raw, expected):
    assert resolve_display_name(model_id, display_name=raw).name == expected


def test_an_o_series_id_after_its_makers_name_stays_lower_case():
    assert derive_name_from_id("openai-o3-mini") == "OpenAI o3 Mini"


def test_a_fallback_name_never_says_less_than_the_name_it_replaces():
    """SiliconFlow lists its Pro tier beside the standard model, ids differing only in case: the Pro one must
    not take the standard model's name."""
    ids = ["Pro/zai-org/glm-5.1", "Pro/zai-org/GLM-5.1", "zai-org/GLM-5.1"]
    names = {m: d.name for m, d in zip(ids, make_names_unique(
        [(m, resolve_display_name(m, display_name="GLM-5.1" if not m.startswith("Pro/") else "GLM-5.1 (Pro)")) for m in ids]))}
    assert names["zai-org/GLM-5.1"] == "GLM-5.1"
    assert all("Pro" in names[m] for m in ids[:2]) and len(set(names.values())) == 3


@pytest.mark.parametrize("field", ["display_name", "name", "model_id"])
def test_no_rule_reads_more_than_longest_read_characters(monkeypatch, field):
    """Several rules cost the square of their input: a 100,000-character display name took 40 s of the step
    every provider shares. What reaches them is cut first, and the name still comes out clean."""
    from modelsync_pipeline import naming

    seen = []
    real = naming.clean_upstream_name
    monkeypatch.setattr(naming, "clean_upstream_name", lambda raw: (seen.append(len(raw)), real(raw))[1])
    huge = "a-(x " * 25_000
    fields = {"model_id": huge if field == "model_id" else "acme/model-7b"}
    if field != "model_id":
        fields[field] = huge
    model_id = fields.pop("model_id")
    result = resolve_display_name(model_id, **fields)
    assert seen and max(seen) <= naming.LONGEST_READ + 20, max(seen)
    assert_clean_name(result.name)
    names = make_names_unique([(model_id, result), (model_id + "b", result)])
    assert len({d.name for d in names}) == 2


@pytest.mark.parametrize("glyph", ["\ue000", "\U000f0000", "\u3164"], ids=["private-use", "plane-15", "filler"])
def test_a_character_standing_for_a_glyph_leaves_a_space_so_numbers_never_join(glyph):
    assert resolve_display_name("x/gpt-45", display_name=f"GPT 4{glyph}5").name == "GPT 4 5"


def test_truncated_is_recorded_only_for_the_name_that_was_cut():
    long_id_like = "vendor/m" + "a" * 900
    result = resolve_display_name("vendor/m", display_name=long_id_like, name="Nice Name")
    assert result.name == "Nice Name" and "truncated" not in result.steps


@pytest.mark.parametrize(("model_id", "expected"), [
    ("model-50%2541", "Model 50 41"),   # "%2541" is "%41" escaped once: read once, never as "A"
    ("gpt%2D4o", "GPT-4o"),
])
def test_an_ids_percent_escapes_are_read_once(model_id, expected):
    """_derive read the id's escapes, then handed the read id to _id_words, which read them again: "50%2541" (the
    text "50%41") was "50A"."""
    assert derive_name_from_id(model_id) == expected
