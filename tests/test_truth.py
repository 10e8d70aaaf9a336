"""The catalog-truth check: a price that moved more than 10x, or a context that fell to a tenth, against the
last good catalog is held back (a unit or field bug upstream) unless the run forces it; so is a price or a context
length that most of the models that had one lost at once (a field the provider renamed)."""

from __future__ import annotations

import json

import pandas as pd
import psycopg

from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG
from modelsync_pipeline.truth import implausible_changes, implausible_list

from .pipeline import provider_failures, providers, sync


def _frame(rows):
    return pd.DataFrame(rows, columns=["model_id", "context_length", "input_price_per_mtok", "output_price_per_mtok"])


def test_implausible_changes_flags_unit_bugs_and_leaves_real_changes_alone():
    previous = {
        "a": (128000, 2.5, 10.0),      # price read per token as per 1M: x1,000,000
        "b": (128000, 2.5, 10.0),      # context read from the wrong field: 128000 -> 4096
        "c": (128000, 2.5, 10.0),      # a real repricing and a real context bump
        "d": (128000, 2.5, 10.0),      # per 1M read as per token: rounds to 0
        "e": (None, None, None),       # nothing known before
        "f": (128000, 0.0, 0.0),       # a free model starts charging: a provider's choice, not a bug
    }
    frame = _frame([
        ("a", 128000, 2_500_000.0, 10.0),
        ("b", 4096, 2.5, 10.0),
        ("c", 200000, 3.0, 15.0),
        ("d", 128000, 0.0, 0.00001),
        ("e", 1, 1.0, 1.0),
        ("f", 128000, 1.0, 2.0),
        ("new", 10, 1000.0, 1000.0),
    ])
    found = {(c.model_id, c.field): c.change for c in implausible_changes(previous, frame)}
    assert found == {
        ("a", "input_price_per_mtok"): "x1,000,000.0",
        ("b", "context_length"): "/31.2",
        ("d", "input_price_per_mtok"): "fell to 0",
        ("d", "output_price_per_mtok"): "/1,000,000.0",
    }
    assert implausible_changes(previous, frame, factor=2_000_000) == [
        c for c in implausible_changes(previous, frame) if c.change == "fell to 0"
    ]


def test_a_value_most_models_lost_is_held_back_one_model_losing_it_is_not():
    previous = {f"m{i}": (8192, 1.0, 2.0) for i in range(10)}
    renamed = _frame([(f"m{i}", 8192, None, 2.0) for i in range(10)])  # input price renamed upstream: all lost
    found = implausible_changes(previous, renamed)
    assert {(c.model_id, c.field, c.new, c.change) for c in found} == {
        (f"m{i}", "input_price_per_mtok", None, "became unknown") for i in range(10)}

    one = _frame([(f"m{i}", None if i == 3 else 8192, None if i == 3 else 1.0, 2.0) for i in range(10)])
    assert implausible_changes(previous, one) == []  # one model no longer priced: the provider's say
    half = _frame([(f"m{i}", 8192, None if i < 5 else 1.0, 2.0) for i in range(10)])
    assert implausible_changes(previous, half) == []  # not more than half
    alone = {"only": (8192, 1.0, 2.0)}
    assert implausible_changes(alone, _frame([("only", None, None, None)])) == []  # too few to tell


def test_a_list_grown_many_times_over_or_replaced_is_another_list():
    """A provider's answer of 1,400,000 models where it listed 60 (a broken upstream, a host a redirect reached) was
    published, and the real list was then refused as a shrink; so was a list of the same size with every id new."""
    previous = {f"m{i}": (8192, 1.0, 2.0) for i in range(60)}
    kept = [f"m{i}" for i in range(60)]
    assert "grew from 60 to 2060 models" in implausible_list(previous, kept + [f"n{i}" for i in range(2000)])
    assert implausible_list(previous, kept + [f"n{i}" for i in range(900)]) is None  # by under 1,000: a real growth
    assert "60 of the 60 models" in implausible_list(previous, [f"x{i}" for i in range(60)])
    assert implausible_list(previous, kept[:7] + [f"x{i}" for i in range(53)]) is None  # 53 of 60 gone: not 90%
    assert implausible_list(previous, kept[:5]) is None  # gone, none arrived: the shrink guard's
    small = {"a": (1, 1.0, 1.0), "b": (1, 1.0, 1.0)}
    assert implausible_list(small, ["c", "d"]) is None  # too few to tell a rename from another list
    assert implausible_list({}, [f"n{i}" for i in range(10**5)]) is None  # a first catalog


def test_a_catalog_with_every_id_replaced_is_held_back_until_forced(database_url, redis_url, replay_dir):
    assert sync(database_url, redis_url, replay_dir, selection=providers("openrouter")).success
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM models").fetchone()[0]

    def replace_ids(items):
        for item in items:
            item["id"] = f"elsewhere/{item['id'].replace('/', '-')}"

    _rewrite(replay_dir, "openrouter", replace_ids)
    result = sync(database_url, redis_url, replay_dir, selection=providers("openrouter"))
    failure = provider_failures(result)["openrouter_catalog"]
    assert "failed at truth_guard" in failure and "others arrived: another list" in failure, failure
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM models WHERE model_id LIKE 'elsewhere/%'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == before  # the last good catalog stays
        assert sync(database_url, redis_url, replay_dir, selection=providers("openrouter"), force=True).success
        assert conn.execute("SELECT count(*) FROM models WHERE model_id LIKE 'elsewhere/%'").fetchone()[0] > 0


def test_a_renamed_price_field_is_held_back_until_forced(database_url, redis_url, replay_dir):
    assert sync(database_url, redis_url, replay_dir, selection=providers("openrouter")).success

    def rename_prompt_price(items):
        for item in items:
            pricing = item.get("pricing")
            if isinstance(pricing, dict) and "prompt" in pricing:
                pricing["input"] = pricing.pop("prompt")

    _rewrite(replay_dir, "openrouter", rename_prompt_price)
    result = sync(database_url, redis_url, replay_dir, selection=providers("openrouter"))
    failure = provider_failures(result)["openrouter_catalog"]
    assert "failed at truth_guard" in failure and "input_price_per_mtok" in failure and "-> unknown" in failure
    with psycopg.connect(database_url) as conn:
        priced = "SELECT count(input_price_per_mtok) FROM models"
        assert conn.execute(priced).fetchone()[0] > 0  # the last good catalog stays
        assert sync(database_url, redis_url, replay_dir, selection=providers("openrouter"), force=True).success
        assert conn.execute(priced).fetchone()[0] == 0


def _rewrite(replay_dir, slug, change):
    spec = PROVIDERS_BY_SLUG[slug]
    items = recorded_items(spec, replay_dir)
    change(items)
    (replay_dir / spec.recorded).write_text(json.dumps(spec.envelope(items, {})))


def _groq_row(database_url, model_id):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT m.context_length FROM models m JOIN providers p ON p.id = m.provider_id "
            "WHERE p.slug = 'groq' AND m.model_id = %s", (model_id,)).fetchone()


def test_a_context_that_fell_to_a_tenth_is_held_back_until_forced(database_url, redis_url, replay_dir):
    assert sync(database_url, redis_url, replay_dir, selection=providers("groq")).success
    model_id = "llama-3.3-70b-versatile"
    before = _groq_row(database_url, model_id)
    assert before == (32768,)

    def shrink_context(items):
        for item in items:
            if item["id"] == model_id:
                item["context_window"] = 2048

    _rewrite(replay_dir, "groq", shrink_context)
    result = sync(database_url, redis_url, replay_dir, selection=providers("groq"))
    assert "failed at truth_guard" in provider_failures(result)["groq_catalog"]
    assert "context_length 32768 -> 2048" in provider_failures(result)["groq_catalog"]
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "catalog_truth")
    assert not evaluation.passed
    assert model_id in evaluation.metadata["offending_rows"].value
    assert _groq_row(database_url, model_id) == before  # the last good catalog stays

    forced = sync(database_url, redis_url, replay_dir, selection=providers("groq"), force=True)
    assert forced.success
    assert _groq_row(database_url, model_id) == (2048,)
