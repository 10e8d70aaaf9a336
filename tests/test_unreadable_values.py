"""A value a provider sends in a form no rule reads is reported, naming the model; it is never stored as
"unknown" in silence, and a flag or a label sent as a word is read as one.

The class: every numeric field of every recorded payload, each replaced by values in forms a provider might
drift to ("$0.50", "12k", a word, a boolean, an object, a negative number). Either the catalog's row is what it
was (the parser does not read that field) or the contract refuses the catalog naming the model; never a price or
a context length that quietly became unknown. The same for a record's id: one that is missing, null, blank or not a
string holds the catalog back with a reading problem saying what was found, listed before the checks it explains.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pandas as pd
import psycopg
import pytest

from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers import parsers
from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG
from modelsync_pipeline.resources import ProviderApi
from modelsync_pipeline.schema import PRICE_MAX, validate_catalog

from .pipeline import provider_failures, providers, sync
from .test_pipeline import table_rows

DRIFTED = ("$0.50", "12k", "n/a", True, {"value": 1}, -0.5)
READ = ("context_length", "input_price_per_mtok", "output_price_per_mtok")
RECORDS_PER_PROVIDER = 2


def _numeric_paths(value, path=()):
    """The paths of the leaves of a record that hold a number, or a string that reads as one."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numeric_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _numeric_paths(item, (*path, index))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path
    elif isinstance(value, str) and value.strip():
        try:
            float(value)
        except ValueError:
            return
        yield path


def _replaced(record, path, value):
    changed = copy.deepcopy(record)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _read(frame):
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame[list(READ)].itertuples(index=False)]


def _good_records(spec):
    """The first records of the provider's recorded payload that make a valid row each."""
    records = []
    for record in recorded_items(spec):
        frame = build_catalog(spec, [record])
        if len(frame) == 1 and not validate_catalog(frame):
            records.append(record)
        if len(records) == RECORDS_PER_PROVIDER:
            break
    return records


@pytest.mark.parametrize("spec", PROVIDERS, ids=lambda spec: spec.slug)
def test_a_numeric_field_in_a_form_no_rule_reads_is_reported_never_wiped(spec):
    records = _good_records(spec)
    assert records, f"{spec.slug}: no recorded record makes a valid row"
    probed = 0
    for record in records:
        before = _read(build_catalog(spec, [record]))
        for path in _numeric_paths(record):
            for value in DRIFTED:
                frame = build_catalog(spec, [_replaced(record, path, value)])
                assert len(frame) == 1, (spec.slug, path, value, "the record was dropped")
                if _read(frame) == before:
                    continue
                probed += 1
                reported = [v for v in validate_catalog(frame) if v.check == "values_readable"]
                assert reported, (spec.slug, path, value, before, _read(frame), "changed without a report")
                assert reported[0].model_id == frame["model_id"][0] and reported[0].detail, reported
    if any(before != [(None, None, None)] for before in (_read(build_catalog(spec, [r])) for r in records)):
        assert probed, f"{spec.slug}: no field the catalog reads was probed"


PRICED = [spec for spec in PROVIDERS if any(_read(build_catalog(spec, [r]))[0][1] for r in _good_records(spec))]


@pytest.mark.parametrize("unit", [1_000_000, 1_000], ids=["per-1m-as-per-token", "per-1k-as-per-token"])
@pytest.mark.parametrize("spec", PRICED, ids=lambda spec: spec.slug)
def test_a_price_sent_in_a_larger_unit_than_its_field_is_refused_naming_the_model(spec, unit):
    """A price per 1M (or 1K) tokens sent in a field per token reads a million (a thousand) times itself: "2.5" in
    OpenRouter's `pricing.prompt` was published as $2,500,000 per 1M tokens. The truth guard holds back such a move
    for a model the last good catalog had; a new model, or a provider's first catalog, was published with it."""
    refused = 0
    for record in _good_records(spec):
        before = _read(build_catalog(spec, [record]))[0]
        fields: dict[tuple, list[tuple]] = {}  # a field in every element of a list at once (each of HF's providers)
        for path in _numeric_paths(record):
            fields.setdefault(tuple(key for key in path if not isinstance(key, int)), []).append(path)
        for field, paths in fields.items():
            changed = record
            for path in paths:
                value = _value_at(record, path)
                scaled = type(value)(float(value) * unit) if not isinstance(value, str) else repr(float(value) * unit)
                changed = _replaced(changed, path, scaled)
            frame = build_catalog(spec, [changed])
            prices = [p for p in _read(frame)[0][1:] if p is not None]
            if _read(frame)[0][1:] == before[1:] or not prices or max(prices) <= 10_000:
                continue
            refused += 1
            violations = [v for v in validate_catalog(frame) if v.check == "price_per_1m_tokens_at_most_10000"]
            assert violations and violations[0].model_id == frame["model_id"][0], (spec.slug, field, prices)
    if unit == 1_000_000:
        assert refused, f"{spec.slug}: no price was probed"


def test_the_dearest_price_listed_anywhere_is_read_without_a_problem():
    spec = PROVIDERS_BY_SLUG["openrouter"]
    record = _replaced(_replaced(_good_records(spec)[0], ("pricing", "prompt"), "0.00015"),
                       ("pricing", "completion"), "0.0006")  # o1-pro: $150 / $600 per 1M tokens
    assert validate_catalog(build_catalog(spec, [record])) == []


def _value_at(record, path):
    for key in path:
        record = record[key]
    return record


def test_the_report_quotes_the_value_and_the_catalog_step_names_it():
    spec = PROVIDERS_BY_SLUG["openrouter"]
    record = _good_records(spec)[0]
    drifted = _replaced(_replaced(record, ("pricing", "prompt"), "$0.000002"), ("context_length",), "128k")
    drifted.setdefault("top_provider", {})["context_length"] = None
    [violation] = validate_catalog(build_catalog(spec, [drifted]))
    assert violation.check == "values_readable" and violation.model_id == record["id"]
    assert "'$0.000002'" in violation.detail and "'128k'" in violation.detail
    assert violation.as_dict()["detail"] == violation.detail


def test_openrouters_variable_price_sentinel_and_absent_values_are_unknown_not_problems():
    with parsers.reading_problems() as problems:
        assert parsers._price("-1") is None and parsers._price(-1) is None
        assert parsers._price(None) is None and parsers._price("") is None and parsers._price(" ") is None
        assert parsers._price("0.000002", parsers.PER_TOKEN_TO_PER_MTOK) == 2.0
        assert parsers._context(None, "", 0) is None and parsers._context("8192.0") == 8192
        assert parsers._context("1e5") == 100_000 and parsers._context(" 4096 ") == 4096
    assert problems == []
    with parsers.reading_problems() as problems:
        assert parsers._price("-0.5") is None and parsers._price(True) is None and parsers._price("$1") is None
        assert parsers._context("8,192") is None and parsers._context(8192.5) is None and parsers._context("²") is None
    assert len(problems) == 6, problems


def test_a_record_the_parser_cannot_read_is_reported_with_its_id_and_the_error():
    def broken(record):
        raise ValueError("no such field 'pricing'")

    spec = dataclasses.replace(PROVIDERS_BY_SLUG["groq"], parse=broken)
    frame = build_catalog(spec, [{"id": "llama-x", "object": "model"}, "llama-y"])
    violations = [v for v in validate_catalog(frame) if v.check == "values_readable"]
    assert {v.model_id for v in violations} == {"llama-x", None}
    detail = {v.model_id: v.detail for v in violations}
    # each says which record of the list as fetched it is: an id may be what could not be read
    assert "groq record 1 of 2: the parser could not read the record: ValueError: no such field 'pricing'" in detail["llama-x"]
    assert "groq record 2 of 2: the record is a string, 'llama-y', not an object" in detail[None]


def test_a_record_that_is_no_object_is_named_in_jsons_words():
    """It read "the record is a NoneType" (or "a str", "a int"): Python's words for what a payload says as null."""
    frame = build_catalog(PROVIDERS_BY_SLUG["groq"], [None, ["llama-x"], 3, True, {"id": "llama-y"}])
    details = [v.detail for v in validate_catalog(frame) if v.check == "values_readable"]
    assert details == ["groq record 1 of 5: the record is null, not an object",
                       "groq record 2 of 5: the record is a list, ['llama-x'], not an object",
                       "groq record 3 of 5: the record is a number, 3, not an object",
                       "groq record 4 of 5: the record is a boolean, true, not an object"]


def test_a_price_beyond_the_columns_range_is_refused_naming_the_model():
    spec = PROVIDERS_BY_SLUG["openrouter"]
    record = _good_records(spec)[0]
    frame = build_catalog(spec, [_replaced(record, ("pricing", "prompt"), "100000000")])  # 1e14 per 1M tokens
    assert frame["input_price_per_mtok"][0] > PRICE_MAX
    assert [(v.model_id, v.column) for v in validate_catalog(frame)] == [(record["id"], "input_price_per_mtok")]


@pytest.mark.parametrize("word, kept", [(True, False), ("true", False), ("True", False), ("1", False), (1, False),
                                        (False, True), ("false", True), ("False", True), ("0", True), (0, True),
                                        ("no", True), (None, True)])
def test_a_flag_sent_as_a_word_is_read_as_a_flag(word, kept):
    onerouter, groq = PROVIDERS_BY_SLUG["onerouter"], PROVIDERS_BY_SLUG["groq"]
    featherless = PROVIDERS_BY_SLUG["featherless"]
    assert onerouter.keep({"id": "x", "is_display_only": word, "category_type": "LLM"}) is kept
    # active / available_on_current_plan: the opposite sense, and absent (None) keeps the record
    assert groq.keep({"id": "x", "active": word}) is (not kept or word is None)
    assert featherless.keep({"id": "x", "available_on_current_plan": word}) is (not kept or word is None)


@pytest.mark.parametrize("slug, field", [("groq", "active"), ("featherless", "available_on_current_plan"),
                                         ("onerouter", "is_display_only")])
@pytest.mark.parametrize("word", ["disabled", "inactive", "deprecated", 0.0, "0.0", "none", 2, ["false"]])
def test_a_filter_flag_no_rule_reads_fails_the_catalog_naming_the_record_and_the_value(slug, field, word):
    """Groq's `active: "disabled"` read as "not said", and the retired model was kept and published; a filter that
    drops a record leaves no row for the contract to refuse, so an unreadable flag fails the catalog, named."""
    spec = PROVIDERS_BY_SLUG[slug]
    record = {**_good_records(spec)[0], field: word}
    with pytest.raises(ValueError) as raised:
        build_catalog(spec, [record])
    message = str(raised.value)
    assert repr(record["id"]) in message and f"{field} {word!r} is not a yes/no value" in message, message


def test_hugging_face_is_free_only_when_every_live_provider_says_so_as_a_flag():
    def record(*flags):
        return {"id": "org/model", "providers": [
            {"status": "live", "is_free": flag, "pricing": {"input": 3.0, "output": 4.0}} for flag in flags]}

    assert parsers.parse_huggingface(record("false")).is_free is False
    assert parsers.parse_huggingface(record("true", "False")).is_free is False
    assert parsers.parse_huggingface(record("true", True, 1)).is_free is True
    # A value that is neither was read as "not free" in silence; it is a problem of the record, as any flag's.
    frame = build_catalog(PROVIDERS_BY_SLUG["huggingface"], [record("true", "sometimes")])
    assert "providers[].is_free 'sometimes' is not a yes/no value" in frame.reading_problems.iloc[0]


@pytest.mark.parametrize("status", ["Live", "LIVE", " live ", None])
def test_hugging_face_reads_a_live_status_in_any_case_or_absent(status):
    """A status of "Live" matched no provider, and the fallback to every provider priced the model at the erroring
    one's $0.10, not the live one's $3."""
    model = parsers.parse_huggingface({"id": "org/model", "providers": [
        {"status": status, "context_length": 8192, "pricing": {"input": 3.0, "output": 4.0}},
        {"status": "error", "context_length": 131072, "pricing": {"input": 0.1, "output": 0.2}}]})
    assert (model.input_price_per_mtok, model.output_price_per_mtok, model.context_length) == (3.0, 4.0, 8192)


@pytest.mark.parametrize("spec_slug, field, values", [
    ("onerouter", "category_type", [None, "", "LLM ", "llm", "Llm"]),
    ("morpheus", "modelType", [None, "", " LLM", "llm"]),
])
def test_an_absent_or_padded_label_keeps_the_record(spec_slug, field, values):
    spec = PROVIDERS_BY_SLUG[spec_slug]
    for value in values:
        assert spec.keep({"id": "x", field: value}), (spec_slug, field, value)
    assert not spec.keep({"id": "x", field: "embedding"})


@pytest.mark.parametrize("metadata", ["a string", 5, [1, 2], None, {"category": "Training "}])
def test_fals_filter_reads_any_metadata_without_crashing(metadata):
    spec = PROVIDERS_BY_SLUG["fal"]
    kept = spec.keep({"endpoint_id": "fal-ai/x", "metadata": metadata})
    assert kept is (not isinstance(metadata, dict))


def test_a_first_catalog_the_filter_empties_fails_instead_of_staging_nothing(database_url, redis_url, replay_dir):
    """Every record a display-only entry (the flag sent as the word "true") on a provider's first sync, when no
    shrink guard has a previous catalog to compare with: a failure that says so, not "success, 0 models"."""
    spec = PROVIDERS_BY_SLUG["onerouter"]
    payload = json.loads((replay_dir / spec.recorded).read_text())
    for record in spec.items_in(payload):
        record["is_display_only"] = "true"
    (replay_dir / spec.recorded).write_text(json.dumps(payload))

    result = sync(database_url, redis_url, replay_dir, selection=providers("onerouter"))
    failures = provider_failures(result)
    assert list(failures) == ["onerouter_catalog"]
    assert "failed at validate" in failures["onerouter_catalog"]
    assert f"none of the {len(spec.items_in(payload))} records fetched" in failures["onerouter_catalog"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM provider_catalog_versions").fetchone()[0] == 0
        assert conn.execute("SELECT outcome, step FROM sync_attempts WHERE provider_slug = 'onerouter'").fetchall() \
            == [("check_failed", "validate")]


def test_a_held_back_catalog_quoting_the_key_is_redacted_where_it_is_logged_and_recorded(
        database_url, redis_url, replay_dir, monkeypatch):
    """The contract's reason and offending rows quote record values: a price holding the key (echoed lower-cased,
    handed over by a fetch that scrubbed nothing) reached the run's log, the failed check and sync_attempts."""
    key = "sk-or-v1-AbCd/Ef+0123456789aBcDeF"
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    records = _good_records(PROVIDERS_BY_SLUG["openrouter"])
    records[0] = _replaced(records[0], ("pricing", "prompt"), f"key {key.lower()}")
    monkeypatch.setattr(ProviderApi, "fetch_records", lambda self, spec: copy.deepcopy(records))

    result = sync(database_url, redis_url, replay_dir, selection=providers("openrouter"))
    failure = provider_failures(result)["openrouter_catalog"]
    assert "failed at validate" in failure and "'key [redacted]'" in failure
    [evaluation] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    shown = [failure, evaluation.metadata["offending_rows"].value,
             *(event.message or "" for event in result.all_events)]
    with psycopg.connect(database_url) as conn:
        shown += [row[0] for row in conn.execute("SELECT error FROM sync_attempts WHERE provider_slug = 'openrouter'")]
    assert len(shown) > 3 and not [text for text in shown if key.lower() in text.lower()]


@pytest.mark.parametrize("model_id", ["gpt-4 ", " gpt-4", "gpt-4\t", "gpt\u200b-4", "gpt-4\ufeff", "\u202egpt-4"])
def test_an_id_with_padding_or_invisible_characters_is_refused_naming_it(model_id):
    frame = build_catalog(PROVIDERS_BY_SLUG["openai"], [{"id": "gpt-4"}, {"id": model_id}, {"object": "model"}])
    violations = validate_catalog(frame)  # the record without an id is reported too, without a crash
    assert [v.model_id for v in violations if v.check == "id_without_padding_or_invisible_characters"] == [model_id]
    assert any(v.model_id is None for v in violations)


def test_numbers_of_absurd_size_are_out_of_range_not_built():
    """"1e1000000" is nine characters: as a whole number it has a million digits, which int() took seconds to
    build (in the step every provider shares), and scaling it overflowed. Neither is computed now."""
    with parsers.reading_problems() as problems:
        assert parsers._context("1e1000000") is None and parsers._context("9" * 4000) is None
        assert parsers._price("1e999999", parsers.PER_TOKEN_TO_PER_MTOK) is None
    assert [p.split(" '")[0] for p in problems] == ["context length", "context length", "price"]
    assert all(p.endswith("is out of range") for p in problems)


# --- a record's id: a non-blank string, or a reading problem that says what was found instead -------------

MISSING = object()
# Ids as a payload might mangle them, and the words the report must find for each.
DAMAGED_IDS = [
    (MISSING, "is missing"),
    (None, "is null"),
    ("", "is an empty string"),
    ("  ", "is a blank string"),
    (123, "is a number, 123"),
    (1.5, "is a number, 1.5"),
    (True, "is a boolean, true"),
    (["a"], "is a list, ['a']"),
    ({"name": "x"}, "is an object, {'name': 'x'}"),
    ("gpt\x00-4", "holds a NUL character"),
    # A lone surrogate, valid JSON: it was replaced by U+FFFD and stored as an id the provider does not list.
    ("gpt\ud800-4", "holds U+FFFD, 'gpt\ufffd-4', where a character was lost (a lone UTF-16 surrogate"),
]


def _damaged(records, position, key, value):
    damaged = copy.deepcopy(records)
    if value is MISSING:
        del damaged[position][key]
    else:
        damaged[position][key] = value
    return damaged


@pytest.mark.parametrize("spec", PROVIDERS, ids=lambda spec: spec.slug)
def test_a_record_whose_id_is_not_a_string_holds_the_catalog_back_saying_what_was_found(spec):
    """The recorded payload (its first 40 records: all of them made this test 40 s of the suite) with one kept
    record's id damaged: the catalog is held back by a reading problem naming the provider, the record, its id
    field and what was in it; no other row is blamed."""
    records = list(recorded_items(spec))[:40]
    assert not validate_catalog(build_catalog(spec, records)), f"{spec.slug}: the recorded catalog is refused"
    kept = set(build_catalog(spec, records)["model_id"])
    position = max(i for i, record in enumerate(records) if spec.parse(record).model_id in kept)
    model = spec.parse(records[position])
    name = next((n for n in (model.display_name, model.name) if isinstance(n, str) and n.strip()), None)
    for value, words in DAMAGED_IDS:
        violations = validate_catalog(build_catalog(spec, _damaged(records, position, spec.id_key, value)))
        reported = [v for v in violations if v.check == "values_readable"]
        assert len(reported) == 1, (spec.slug, value, [v.as_dict() for v in violations])
        assert violations[0] == reported[0], "the reading problem explains the rest: it is listed first"
        detail = reported[0].detail
        assert f"{spec.slug} record {position + 1} of {len(records)}" in detail, detail
        assert f"id field {spec.id_key!r} {words}" in detail, detail
        if name is not None and spec.id_key != "name":
            assert repr(name)[:40] in detail, (name, detail)
        assert {v.row for v in violations} == {reported[0].row}, [v.as_dict() for v in violations]


def test_an_id_the_parser_reads_as_empty_is_reported_with_the_value_sent():
    """A string id that is usable as sent but empty once the parser has read it (Google's "models/" prefix alone)."""
    frame = build_catalog(PROVIDERS_BY_SLUG["google"], [{"name": "models/gemini-x"}, {"name": "models/"}])
    [violation] = [v for v in validate_catalog(frame) if v.check == "values_readable"]
    assert violation.detail == "google record 2 of 2: its id field 'name' is 'models/', which reads as the id ''"


def test_rows_without_an_id_are_not_reported_as_duplicates_of_each_other():
    """Two records without a usable id are two reading problems, not also one id (or name) listed twice; two
    records that do share an id are still refused as duplicates."""
    records = [{"id": "gpt-4"}, {"id": None}, {"object": "model"}, {"id": 7}, {"id": "gpt-4", "owned_by": "x"}]
    violations = validate_catalog(build_catalog(PROVIDERS_BY_SLUG["openai"], records))
    comparing = {"unique_provider_model_id", "unique_provider_model_name", "ids_that_read_alike",
                 "name_is_not_another_models_id"}
    assert [(v.row, v.check) for v in violations if v.model_id is None and v.check in comparing] == []
    assert {v.row for v in violations if v.check == "values_readable"} == {1, 2, 3}
    assert {v.row for v in violations if v.check == "unique_provider_model_id"} == {0, 4}


def test_the_reading_problems_are_listed_before_the_checks_they_explain():
    """A row without an id also fails not_nullable and the name-rule check; the reading problem saying why it has
    no id comes first in the report, before every other violation of any row."""
    records = [{"id": "gpt-4"}, {"id": "gpt-4", "owned_by": "x"}, {"id": 123}]
    violations = validate_catalog(build_catalog(PROVIDERS_BY_SLUG["openai"], records))
    checks = [v.check for v in violations]
    assert checks[0] == "values_readable" and checks.count("values_readable") == 1, checks
    assert "unique_provider_model_id" in checks and "not_nullable" in checks, checks


def test_a_provider_sending_a_bad_id_is_held_back_saying_so_first_and_the_others_publish(
        database_url, redis_url, replay_dir):
    """End to end: the failure an operator reads starts with the id problem, not with its consequences."""
    damaged = {"openai": 123, "cohere": None}
    for slug, value in damaged.items():
        spec = PROVIDERS_BY_SLUG[slug]
        payload = json.loads((replay_dir / spec.recorded).read_text())
        spec.items_in(payload)[1][spec.id_key] = value
        (replay_dir / spec.recorded).write_text(json.dumps(payload))
    counts = {slug: len(recorded_items(PROVIDERS_BY_SLUG[slug])) for slug in damaged}

    result = sync(database_url, redis_url, replay_dir)
    failures = provider_failures(result)
    assert sorted(failures) == ["cohere_catalog", "openai_catalog"], failures
    firsts = {slug: failures[f"{slug}_catalog"].split("; first: ", 1)[1] for slug in damaged}
    assert firsts["openai"].startswith(f"None values_readable (openai record 2 of {counts['openai']}: its id field "
                                       "'id' is a number, 123, where a string was expected"), failures
    assert firsts["cohere"].startswith(f"None values_readable (cohere record 2 of {counts['cohere']}: its id field "
                                       "'name' is null"), failures
    assert result.success  # every other provider published in the same run
    published = {slug for slug, _ in table_rows(database_url)}
    assert published == {spec.slug for spec in PROVIDERS} - set(damaged)


def test_a_held_back_catalog_quotes_an_id_of_any_length_cut_short(database_url, redis_url, replay_dir):
    """An id of 100,000 characters is refused (longer than 512), and the reason an operator reads quoted it whole:
    100 KB in the run's log, the check's metadata and sync_attempts, for each of the first five violations."""
    spec = PROVIDERS_BY_SLUG["openai"]
    payload = json.loads((replay_dir / spec.recorded).read_text())
    long_id = "gpt-" + "4" * 100_000
    spec.items_in(payload)[1]["id"] = long_id
    (replay_dir / spec.recorded).write_text(json.dumps(payload))

    result = sync(database_url, redis_url, replay_dir, selection=providers("openai"))
    failure = provider_failures(result)["openai_catalog"]
    assert "str_length" in failure and f"'gpt-{'4' * 50}" in failure and len(failure) < 1000, failure[:2000]
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute("SELECT error FROM sync_attempts WHERE provider_slug = 'openai' "
                                "ORDER BY attempted_at DESC LIMIT 1").fetchone()[0]
    assert len(recorded) < 1000 and long_id not in recorded


@pytest.mark.parametrize("slug, paths", [
    ("openrouter", [("pricing", "prompt"), ("pricing", "completion")]),
    ("together", [("pricing", "input"), ("pricing", "output")]),
    ("novita", [("input_token_price_per_m",), ("output_token_price_per_m",)]),
    ("vercel-ai-gateway", [("pricing", "input"), ("pricing", "output")]),
])
def test_a_price_no_rule_reads_is_named_by_its_field(slug, paths):
    """Both sides of a price sent as "$0.50" were noted as "price '$0.50' is not a number" twice: the operator could
    not tell which field held it. Each note names its field as the payload does."""
    spec = PROVIDERS_BY_SLUG[slug]
    record = _good_records(spec)[0]
    for path in paths:
        record = _replaced(record, path, "$0.50")
    problems = build_catalog(spec, [record]).reading_problems.iloc[0]
    for path in paths:
        assert f"{'.'.join(path)} '$0.50' is not a number" in problems, problems


def test_a_held_back_catalog_names_the_value_each_check_refused(database_url, redis_url, replay_dir):
    """The reason named the model and the check ("'acme/md' price_per_1m_tokens_at_most_10000"), never the value:
    the operator had to find the record to learn what the provider sent."""
    spec = PROVIDERS_BY_SLUG["together"]
    items = recorded_items(spec, replay_dir)
    items[0]["pricing"] = {**items[0].get("pricing", {}), "input": 15000, "output": 1}
    (replay_dir / spec.recorded).write_text(json.dumps(spec.envelope(items, {})))
    failure = provider_failures(sync(database_url, redis_url, replay_dir, selection=providers("together")))
    reason = failure["together_catalog"]
    assert "failed at validate" in reason
    assert f"{items[0]['id']!r} price_per_1m_tokens_at_most_10000 (input_price_per_mtok 15000.0)" in reason, reason


@pytest.mark.parametrize("spec", PRICED, ids=lambda spec: spec.slug)
def test_a_model_marked_free_that_lists_a_price_is_refused_naming_it(spec):
    """"(Free)" in a priced model's name set `is_free` without a word: the gateway would serve at no charge a
    model its provider bills. Whatever marks a model free, a price above 0 beside it holds the catalog back."""
    for record in _good_records(spec):
        frame = build_catalog(spec, [record])
        if not (frame["input_price_per_mtok"].fillna(0) > 0).any():
            continue
        assert validate_catalog(frame) == []
        frame["is_free"] = True
        violations = validate_catalog(frame)
        assert [(v.check, v.model_id) for v in violations] == [("free_model_without_a_price", frame["model_id"][0])]
        return
    pytest.fail(f"{spec.slug}: no record with an input price to probe")


@pytest.mark.parametrize(("slug", "mark"), [("openrouter", "id"), ("openrouter", "name"), ("together", "id")])
def test_each_way_a_provider_marks_a_model_free_is_checked_against_its_price(slug, mark):
    spec = PROVIDERS_BY_SLUG[slug]
    record = next(r for r in _good_records(spec) if (build_catalog(spec, [r])["input_price_per_mtok"] > 0).all())
    if mark == "id":
        record = {**record, "id": record["id"] + (":free" if slug == "openrouter" else "-Free")}
    else:
        record = {**record, "name": record["name"] + " (Free)"}
    frame = build_catalog(spec, [record])
    assert frame["is_free"][0], frame.iloc[0].to_dict()
    assert [v.check for v in validate_catalog(frame)] == ["free_model_without_a_price"]
    if slug == "openrouter":  # the same model at 0/0 is what a free variant is
        free = {**record, "pricing": {**record["pricing"], "prompt": "0", "completion": "0"}}
        assert validate_catalog(build_catalog(spec, [free])) == []


def _field(path):
    return tuple(key for key in path if not isinstance(key, int))


CONTEXTED = [spec for spec in PROVIDERS
             if any(build_catalog(spec, [r])["context_length"].notna().all() for r in _good_records(spec))]


@pytest.mark.parametrize("spec", CONTEXTED, ids=lambda spec: spec.slug)
def test_a_context_sent_in_thousands_is_refused_for_a_first_catalog(spec):
    """A context length sent in thousands ("128" for 128k) was published for a provider's first catalog: the truth
    guard holds such a move back only against a last good one. Every text or multimodal model listed anywhere has
    2,048 tokens or more; whatever field the provider sends it in, 4 to 200 is refused, naming the model."""
    probed = 0
    for record in _good_records(spec):
        before = build_catalog(spec, [record])
        context = before["context_length"][0]
        if pd.isna(context) or before["modality"][0] not in ("text", "multimodal"):
            continue
        fields = {_field(path) for path in _numeric_paths(record) if float(_value_at(record, path)) == context}
        paths = [path for path in _numeric_paths(record) if _field(path) in fields]
        for value in (4, 32, 128, 200, 2048):
            changed = record
            for path in paths:  # every field that says it at once (each of Hugging Face's providers)
                changed = _replaced(changed, path, str(value) if isinstance(_value_at(record, path), str) else value)
            frame = build_catalog(spec, [changed])
            assert frame["context_length"][0] == value, (spec.slug, paths, value)
            refused = [(v.check, v.model_id) for v in validate_catalog(frame)]
            assert refused == ([] if value == 2048 else [("text_model_context_at_least_256", frame["model_id"][0])])
            probed += 1
    assert probed, f"{spec.slug}: no recorded text model with a context was probed"
