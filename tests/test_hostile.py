"""Hostile payloads never break the pipeline or reach the table, and blocked catalogs lose nothing."""

from __future__ import annotations

import json

import psycopg

from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers.http import RECORDED_DIR
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG
from modelsync_pipeline.schema import validate_catalog

from .pipeline import provider_failures, providers, step_failures, sync
from .test_pipeline import BAD_NAME, table_rows

OPENROUTER = PROVIDERS_BY_SLUG["openrouter"]

HOSTILE_NAMES = {
    "evil/sql": "Evil: x'); DROP TABLE models; --",
    "evil/long": "Long " + "x" * 10_000,
    "evil/control": "Ctrl\x00\x07 Model\x1b[31m 7B",
    "evil/rtl": "\u202eRTL\u200f Model 3B\u2066",
    "evil/emoji": "🚀 Rocket Model 9B",
    "evil/emoji-only": "🚀🚀",
    "evil/number": 12345,
    "evil/list": ["not", "a", "name"],
    "evil/parens": "((Nested (free) [beta]))",
}


def _write_openrouter(replay_dir, records):
    (replay_dir / OPENROUTER.recorded).write_text(json.dumps({"data": records}))


def _base_records():
    return json.loads((RECORDED_DIR / OPENROUTER.recorded).read_text())["data"]


def test_hostile_names_are_cleaned_and_stored_safely(database_url, redis_url, replay_dir):
    records = _base_records()[:5] + [{"id": mid, "name": name, "context_length": 1000} for mid, name in HOSTILE_NAMES.items()]
    _write_openrouter(replay_dir, records)
    result = sync(database_url, redis_url, replay_dir, selection=providers("openrouter"), force=True)
    assert result.success, step_failures(result)

    rows = {mid: row for (slug, mid), row in table_rows(database_url).items() if mid.startswith("evil/")}
    assert set(rows) == set(HOSTILE_NAMES)
    for mid, row in rows.items():
        name = row["model_name"]
        assert name and name == name.strip() and "  " not in name, (mid, name)
        assert not BAD_NAME.search(name) and not any(c in name for c in "()[]"), (mid, name)
        assert not any(ord(c) < 32 or 0x200B <= ord(c) <= 0x200F or 0x202A <= ord(c) <= 0x202E for c in name), (mid, name)
        assert len(name) <= 200
    assert rows["evil/sql"]["raw_name"] == HOSTILE_NAMES["evil/sql"]  # stored as data, never run
    assert "DROP TABLE models" in rows["evil/sql"]["model_name"]
    assert rows["evil/control"]["raw_name"] == "Ctrl\\u0000\x07 Model\x1b[31m 7B"  # lineage keeps it visible
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 5 + len(HOSTILE_NAMES)


def test_missing_and_duplicate_ids_block_the_provider_and_report_every_row(synced, redis_url, replay_dir):
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = {k: v for k, v in table_rows(database_url).items() if k[0] == "openrouter"}

    records = _base_records()
    records.append({"name": "No Id Model"})                      # missing id
    records.append({"id": None, "name": "Null Id"})              # null id
    records.append({"id": 42, "name": "Numeric Id"})             # non-string id
    records.append({**records[0], "name": "Another Name"})       # duplicate id, another record
    records.append("not even an object")
    _write_openrouter(replay_dir, records)

    result = sync(database_url, redis_url, replay_dir)
    failures = provider_failures(result)
    assert list(failures) == ["openrouter_catalog"]
    assert "failed at validate" in failures["openrouter_catalog"]
    check = next(e for e in result.get_asset_check_evaluations()
                 if e.asset_key.to_user_string() == "openrouter_catalog" and e.check_name == "catalog_contract")
    assert not check.passed
    report = check.metadata["offending_rows"].value
    assert report.count("not_nullable") >= 4 or report.count("model_id") >= 4
    assert "unique_provider_model_id" in report and records[0]["id"] in report
    assert "No Id Model" in report

    # the others published in the same run; openrouter keeps exactly its previous rows
    assert result.success
    assert {k: v for k, v in table_rows(database_url).items() if k[0] == "openrouter"} == before


def test_a_record_listed_twice_is_one_model_not_a_blocked_catalog():
    """The same record twice in one list (a listing that shifted between two pages): one row, no violation."""
    records = _base_records()[:3]
    frame = build_catalog(OPENROUTER, records + [json.loads(json.dumps(records[1])), records[0]])
    assert list(frame["model_id"]) == [r["id"] for r in records]
    assert validate_catalog(frame) == []


def test_a_name_the_rule_cannot_fix_blocks_only_that_provider(synced, redis_url, replay_dir, monkeypatch):
    """Two ids whose names collide even after disambiguation can only come from a broken parser; simulate
    one by making the parser return a bracketed name, and check the block end to end."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = table_rows(database_url)
    import modelsync_pipeline.catalog as catalog_module

    real = catalog_module.resolve_display_name

    def broken(model_id, **kw):
        result = real(model_id, **kw)
        if model_id == "llama3.1-8b":
            return type(result)(**{**result.__dict__, "name": "Meta: Llama (broken)"})
        return result

    monkeypatch.setattr(catalog_module, "resolve_display_name", broken)
    result = sync(database_url, redis_url, replay_dir)
    failures = provider_failures(result)
    assert list(failures) == ["cerebras_catalog"]
    assert "llama3.1-8b" in failures["cerebras_catalog"]
    assert result.success  # everyone else was published in the same run, unchanged
    assert table_rows(database_url) == before


def test_validation_report_names_model_raw_name_derived_name_and_rule():
    frame = build_catalog(OPENROUTER, [{"id": "a/x", "name": "X"}, {"id": "a/x", "name": "Y"}])
    violations = [v.as_dict() for v in validate_catalog(frame)]
    assert {v["check"] for v in violations} == {"unique_provider_model_id"}
    assert {(v["model_id"], v["raw_name"], v["model_name"], v["rule"]) for v in violations} == {
        ("a/x", "X", "X", "name"), ("a/x", "Y", "Y", "name")}
