"""The bulk path: a refresh applies only what the stages changed (the delta path) and still publishes exactly
the staged catalogs, whatever happened to the tables in between (flushes, restores, resets, stages that were
never refreshed). Real PostgreSQL; the writes are the db functions the assets call."""

from __future__ import annotations

import hashlib
import random

import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelsync_pipeline import db
from modelsync_pipeline.db import stage_catalog
from modelsync_pipeline.providers.registry import PROVIDERS

SPECS = PROVIDERS[:3]
COLUMNS = ["provider_slug", "model_id", "model_name", "context_length", "input_price_per_mtok",
           "output_price_per_mtok", "modality", "is_free", "quantization", "release_stage", "metadata",
           "raw_name", "name_rule", "name_steps", "content_hash"]


def catalog(slug: str, prices: dict[str, float]) -> pd.DataFrame:
    """A validated-shaped catalog: one row per model id, its content hash following its price."""
    ids = sorted(prices)
    return pd.DataFrame({
        "provider_slug": slug, "model_id": ids, "model_name": [f"Model {m.split('-')[-1]}" for m in ids],
        "context_length": pd.array([8192] * len(ids), dtype="Int64"),
        "input_price_per_mtok": [prices[m] for m in ids], "output_price_per_mtok": [prices[m] * 2 for m in ids],
        "modality": "text", "is_free": False, "quantization": None, "release_stage": None,
        "metadata": [{"id": m} for m in ids], "raw_name": ids, "name_rule": "id", "name_steps": [["id"]] * len(ids),
        "content_hash": [hashlib.md5(f"{m}:{prices[m]}".encode()).hexdigest() for m in ids],
    })[COLUMNS]


def published(conn) -> dict[tuple[str, str], tuple[str, int]]:
    rows = conn.execute("SELECT p.slug, m.model_id, m.content_hash, m.id FROM models m "
                        "JOIN providers p ON p.id = m.provider_id").fetchall()
    return {(slug, model_id): (digest, row_id) for slug, model_id, digest, row_id in rows}


def staged(conn) -> dict[tuple[str, str], str]:
    """The staged catalogs as every reader reads them: staged rows with pending changes laid over (migration 0013)."""
    rows = conn.execute("SELECT provider_slug, model_id, content_hash FROM staged_catalogs").fetchall()
    return {(slug, model_id): digest for slug, model_id, digest in rows}


def true_counts(conn) -> tuple[int, int]:
    return conn.execute("SELECT (SELECT count(*) FROM providers), (SELECT count(*) FROM models)").fetchone()


def mutate(rng: random.Random, prices: dict[str, float], next_id: list[int]) -> dict[str, float]:
    """A new fetch of the catalog: a few models added, removed and repriced (sometimes nothing)."""
    new = dict(prices)
    for model_id in rng.sample(sorted(new), k=min(len(new), rng.randint(0, 3))):
        del new[model_id]
    for model_id in rng.sample(sorted(new), k=min(len(new), rng.randint(0, 4))):
        new[model_id] = round(new[model_id] + rng.choice([0.5, 1.25, 3.0]), 6)
    for _ in range(rng.randint(0, 3)):
        next_id[0] += 1
        new[f"model-{next_id[0]}"] = 1.0
    return new


@pytest.mark.parametrize("seed", range(6))
def test_every_refresh_publishes_exactly_the_staged_catalogs_whatever_came_between(database_url, seed):
    """Random sequences of stages, refreshes, flushes, restores and resets. After every refresh the
    table holds exactly the staged catalogs; rows the refresh did not change keep their ids; the
    delta path is taken whenever it may be, and never when the rows are not what it was based on."""
    rng = random.Random(seed)
    db.apply_migrations(database_url)
    next_id = [0]
    prices = {spec.slug: {f"model-{i}": 1.0 + i for i in range(40)} for spec in SPECS}
    next_id[0] = 100
    delta_refreshes = 0
    with db.connect(database_url) as conn:
        for spec in SPECS:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices[spec.slug]), "seed")
        assert db.refresh_models_table(conn, SPECS, "first").delta_providers == []  # a first load is whole
        for step in range(30):
            op = rng.choices(["stage", "refresh", "flush_models", "restore", "reset"], weights=[6, 4, 1, 1, 1])[0]
            run_id = f"s{seed}-{step}"
            if op == "stage":
                spec = rng.choice(SPECS)
                prices[spec.slug] = mutate(rng, prices[spec.slug], next_id)
                frame = catalog(spec.slug, prices[spec.slug])
                db.stage_provider_catalog(conn, spec, frame, run_id)
                assert {k[1]: v for k, v in staged(conn).items() if k[0] == spec.slug} == dict(
                    zip(frame["model_id"], frame["content_hash"])), (seed, step, "staged")
                continue
            before = published(conn)
            if op == "refresh":
                counted_before = true_counts(conn)
                result = db.refresh_models_table(conn, SPECS, run_id)
                # the counts the audit row and the run report, computed from what the refresh counted and wrote
                assert (result.before, result.after) == (counted_before, true_counts(conn)), (seed, step, "counts")
                delta_refreshes += bool(result.delta_providers)
                per_provider = {}
                for slug, _ in published(conn):
                    per_provider[slug] = per_provider.get(slug, 0) + 1
                assert {k: v for k, v in result.rows_per_provider.items() if v} == per_provider
            elif op == "flush_models":
                db.flush_models(conn, run_id)
                assert published(conn) == {}
                continue
            elif op == "restore":
                backups = [r[0] for r in conn.execute("SELECT id FROM backups")]
                if not backups:
                    continue
                db.restore_backup(conn, rng.choice(backups), run_id)
                continue
            else:
                db.reset_models_table(conn, SPECS, run_id)
            after = published(conn)
            assert {key: digest for key, (digest, _) in after.items()} == staged(conn), (seed, step, op)
            if op == "refresh":
                kept = {key for key in after if key in before and before[key][0] == after[key][0]}
                assert all(after[key][1] == before[key][1] for key in kept), (seed, step, "ids moved")
    assert delta_refreshes > 0, "the delta path was never taken"


def test_a_one_percent_change_is_applied_from_the_changed_ids_alone(database_url):
    db.apply_migrations(database_url)
    spec = SPECS[0]
    prices = {f"model-{i:04d}": 1.0 for i in range(1000)}
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "first")
        db.refresh_models_table(conn, [spec], "first")
        ids_before = {k: v[1] for k, v in published(conn).items()}
        changed = {m: 2.0 for m in list(prices)[::100]}  # 10 of 1000
        prices.update(changed)
        del prices["model-0001"]
        prices["model-new"] = 5.0
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "second")
        with psycopg.ClientCursor(conn) as cur:
            pending = cur.execute("SELECT count(*) FROM provider_catalog_changes").fetchone()[0]
        assert pending == len(changed) + 2  # the repriced, the removed and the added ids, nothing else
        result = db.refresh_models_table(conn, [spec], "second")
        assert result.delta_providers == [spec.slug]
        assert (result.updated, result.deleted, result.inserted) == (
            {spec.slug: len(changed)}, {spec.slug: 1}, {spec.slug: 1})
        after = published(conn)
        assert {k: v[0] for k, v in after.items()} == staged(conn)
        assert all(after[k][1] == row_id for k, row_id in ids_before.items() if k in after)
        history = dict(conn.execute("SELECT changes[1], count(*) FROM model_history WHERE run_id = 'second' "
                                    "GROUP BY 1").fetchall())
        assert history == {"price_changed": len(changed), "removed": 1, "added": 1}
        # applied, the changes stay listed while they are laid over the staged rows (12 of 1000: not folded,
        # migration 0013); a re-sync with one more change writes that one
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, {**prices, "model-0002": 9.0}), "third")
        assert conn.execute("SELECT count(*) FROM provider_catalog_changes").fetchone()[0] == len(changed) + 3
        again = db.refresh_models_table(conn, [spec], "third")
        assert again.rows_written == 1 and again.delta_providers == [spec.slug]


def staged_rows(conn, slug: str, source: str = "staged_catalogs") -> list[tuple]:
    """Every column of the provider's staged catalog (`source`: as readers read it, or a table's rows), as
    Python values, in model_id order."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {source} WHERE provider_slug = %s ORDER BY model_id",
                        (slug,)).fetchall()
    return [tuple(float(v) if col.endswith("per_mtok") else v for col, v in zip(COLUMNS, row)) for row in rows]


def frame_rows(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(None if v is pd.NA else v for v in row)
            for row in frame.sort_values("model_id").astype(object).itertuples(index=False, name=None)]


def test_a_changed_catalog_is_staged_column_for_column(database_url):
    """A re-stage sends only the changed rows (listed as changes, then staged from them by the server): the
    staged catalog is still exactly the one sent, every column, for the next full refresh and the checks."""
    db.apply_migrations(database_url)
    spec = SPECS[1]
    prices = {f"model-{i:03d}": 1.0 for i in range(50)}
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "first")
        prices.update({"model-007": 2.5, "model-new": 3.0})
        del prices["model-011"]
        frame = catalog(spec.slug, prices)
        new = frame["model_id"].isin(["model-007", "model-new"])
        frame.loc[new, "model_name"] = ["Model Seven (repriced)", "Brand New"]
        frame.loc[new, "context_length"] = pd.array([131072, pd.NA], dtype="Int64")
        frame.loc[new, "modality"] = "image"
        frame.loc[new, "is_free"] = True
        frame.loc[new, "quantization"] = "fp8"
        frame.loc[new, "release_stage"] = "beta"
        frame.loc[new, "metadata"] = pd.Series([{"id": "model-007", "tags": ["a", "é"]}, {"nested": {"k": None}}],
                                               index=frame.index[new])
        frame.loc[new, "raw_name"] = ["Vendor: Model 7", None]
        frame.loc[new, "name_steps"] = pd.Series([["strip_company_prefix", "flatten_brackets"], []], index=frame.index[new])
        result = db.stage_provider_catalog(conn, spec, frame, "second")
        assert result.changed
        pending = conn.execute("SELECT count(*) FROM provider_catalog_changes WHERE provider_slug = %s",
                               (spec.slug,)).fetchone()[0]
        assert pending == 3  # staged through the changes: the repriced, the removed and the added id
        assert staged_rows(conn, spec.slug) == frame_rows(frame)


def raw_rows(conn, slug: str) -> list[tuple]:
    """The provider's partition of provider_catalogs as stored: where each row version sits and who wrote it."""
    partition = conn.execute("SELECT staging_partition(%s)", (slug,)).fetchone()[0]
    return conn.execute(f"SELECT ctid::text, xmin::text, model_id, content_hash FROM {partition} ORDER BY ctid").fetchall()


def published_hashes(conn, slug: str) -> dict[str, str]:
    return {model_id: digest for (s, model_id), (digest, _) in published(conn).items() if s == slug}


def hashes(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["model_id"], frame["content_hash"]))


def first_sync(conn, spec, prices: dict[str, float]) -> list[tuple]:
    """Stage the catalog and refresh from it (a first load); the provider's staged rows as stored."""
    db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "first")
    db.refresh_models_table(conn, [spec], "first")
    return raw_rows(conn, spec.slug)


def pending_changes(conn, slug: str) -> int:
    return conn.execute("SELECT count(*) FROM pending_catalog_changes WHERE provider_slug = %s", (slug,)).fetchone()[0]


def test_a_re_stage_rewrites_no_staged_row_and_every_reader_reads_its_changes(database_url):
    """A re-stage lists its changes and leaves the staged rows as they are (migration 0013): the catalog that
    readers read (the truth check, the refresh's delta and whole paths, the plan) is the staged rows with the
    pending changes laid over them, column for column."""
    db.apply_migrations(database_url)
    spec = SPECS[0]
    prices = {f"model-{i:04d}": 1.0 + i for i in range(1000)}
    with db.connect(database_url) as conn:
        stored = first_sync(conn, spec, prices)
        prices.update({m: 0.5 for m in list(prices)[3::100]})  # 10 repriced
        del prices["model-0004"]
        prices["model-new"] = 7.0
        frame = catalog(spec.slug, prices)
        assert db.stage_provider_catalog(conn, spec, frame, "second").changed
        assert raw_rows(conn, spec.slug) == stored  # not one staged row deleted, moved or rewritten
        assert pending_changes(conn, spec.slug) == 12
        assert staged_rows(conn, spec.slug) == frame_rows(frame)
        assert db.last_good_facts(conn, spec.slug) == {m: (8192, p, p * 2) for m, p in prices.items()}
        [plan] = db.plan_refresh(conn, [spec]).per_provider
        assert (plan["added"], plan["removed"], plan["changed"]) == (1, 1, 10)
        result = db.refresh_models_table(conn, [spec], "second")
        assert result.delta_providers == [spec.slug]
        assert published_hashes(conn, spec.slug) == hashes(frame)
        db.flush_models(conn, "flush")  # the next refresh reads the whole catalog: rows and pending changes merged
        result = db.refresh_models_table(conn, [spec], "after-flush")
        assert result.delta_providers == [] and result.inserted == {spec.slug: len(prices)}
        assert published_hashes(conn, spec.slug) == hashes(frame)


def test_pending_changes_are_folded_into_the_staged_rows_once_they_outnumber_a_tenth_of_the_catalog(database_url):
    """Changes stay pending while they are at most a tenth of the catalog (stage_catalog.FOLD_FRACTION); the
    stage that passes it folds them into the staged rows: the latest change of each id wins, a removed id is
    gone, an id removed and listed again is back. Changes applied by a refresh and folded are then pruned."""
    db.apply_migrations(database_url)
    spec = SPECS[1]
    prices = {f"model-{i:03d}": 1.0 + i for i in range(100)}
    with db.connect(database_url) as conn:
        stored = first_sync(conn, spec, prices)
        prices.update({"model-001": 50.0, "model-002": 50.0, "model-003": 50.0})
        del prices["model-004"], prices["model-005"]
        prices["model-new-a"] = 3.0
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "second")  # 6 changes: pending
        assert raw_rows(conn, spec.slug) == stored and pending_changes(conn, spec.slug) == 6
        result = db.refresh_models_table(conn, [spec], "second")
        assert result.delta_providers == [spec.slug] and result.rows_written == 6

        prices.update({"model-001": 60.0, "model-004": 4.5, "model-010": 9.5, "model-011": 9.5})  # 001 again, 004 back
        del prices["model-new-a"], prices["model-012"]
        frame = catalog(spec.slug, prices)
        db.stage_provider_catalog(conn, spec, frame, "third")  # 6 + 6 > 10: folded
        assert pending_changes(conn, spec.slug) == 0
        assert staged_rows(conn, spec.slug, conn.execute("SELECT staging_partition(%s)", (spec.slug,)).fetchone()[0]) \
            == staged_rows(conn, spec.slug) == frame_rows(frame)
        result = db.refresh_models_table(conn, [spec], "third")
        assert result.delta_providers == [spec.slug]
        assert (result.updated, result.deleted, result.inserted) == (
            {spec.slug: 3}, {spec.slug: 2}, {spec.slug: 1})  # 001, 010, 011; new-a, 012; 004
        assert published_hashes(conn, spec.slug) == hashes(frame)

        prices["model-020"] = 0.25
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "fourth")
        assert conn.execute("SELECT count(*) FROM provider_catalog_changes WHERE provider_slug = %s",
                            (spec.slug,)).fetchone()[0] == 1  # applied and folded: pruned


# models is partitioned per provider (migration 0008): its rows, statistics and scans are its partitions'.
PARTITIONS = "SELECT inhrelid FROM pg_inherits WHERE inhparent = 'models'::regclass"


def models_seq_scans(conn) -> int:
    """How many times `models` was scanned sequentially (pg_stat_user_tables), this backend's counts flushed."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")  # answered after the backend went idle, i.e. after the forced flush
    with psycopg.connect(conn.info.dsn, autocommit=True) as reader:
        return reader.execute(f"SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relid IN ({PARTITIONS})").fetchone()[0]


@pytest.mark.parametrize("reload", ["refresh", "reset"])
def test_a_reload_into_a_vacuumed_empty_table_does_not_rescan_it_per_model(database_url, reload):
    """After a flush, autovacuum leaves `models` with statistics that say it is empty. A reload that
    planned its "is this model new" check as a scan of models per staged model reread the growing table
    for every row: quadratic, hours at a million models. Each reload scans each partition of models (the
    old and the new providers' after a reset) a handful of times."""
    db.apply_migrations(database_url)
    per_provider = 400
    with db.connect(database_url, autocommit=True) as conn:
        for spec in SPECS:
            prices = {f"model-{i:04d}": 1.0 + i for i in range(per_provider)}
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices), "first")
        db.refresh_models_table(conn, SPECS, "first")
        db.flush_models(conn, "flush")
        conn.execute("VACUUM ANALYZE models")  # what autovacuum does after the flush
        assert conn.execute(f"SELECT max(relpages), max(reltuples) FROM pg_class WHERE oid IN ({PARTITIONS})").fetchone() == (0, 0)
        before = models_seq_scans(conn)
        if reload == "refresh":
            result = db.refresh_models_table(conn, SPECS, "reload")
        else:
            result = db.reset_models_table(conn, SPECS, "reload")[1]
        scans = models_seq_scans(conn) - before
        partitions = len(conn.execute(PARTITIONS).fetchall())
        assert sum(result.inserted.values()) == per_provider * len(SPECS)
        assert scans < 15 * partitions, (f"the reload scanned the {partitions} partitions of models {scans} times "
                                          f"for {per_provider * len(SPECS)} models")


# Text as PostgreSQL stores it: any code point but NUL and the lone surrogates (catalog.encodable and
# catalog.storable keep both out of a catalog before it is staged).
STORABLE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
HOSTILE = ['"', "\\", ",", "{}", "{", "NULL", "null", " padded ", "tab\there", "new\nline", "cr\rlf", "\\N",
           "é 🚀", '\\"', "}", "a,b", ""]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(steps=HOSTILE, meta={s: s for s in HOSTILE})
@given(steps=st.lists(st.sampled_from(HOSTILE) | STORABLE_TEXT, max_size=6),
       meta=st.dictionaries(STORABLE_TEXT, STORABLE_TEXT | st.lists(STORABLE_TEXT, max_size=3), max_size=4))
def test_name_steps_and_metadata_are_staged_exactly_as_sent(database_url, steps, meta):
    """The text[] and jsonb columns are encoded by modelsync (array literal, JSON text), not by psycopg's
    adapters: whatever their strings hold (quotes, backslashes, commas, braces, "NULL", tabs, newlines,
    astral characters), staging stores exactly the lists and documents of the catalog, on the whole-catalog
    copy of a first stage and on the changes of a re-stage."""
    db.apply_migrations(database_url)
    spec = SPECS[2]
    with db.connect(database_url) as conn:
        with conn.transaction():  # each example starts with nothing staged: the first stage copies whole
            conn.execute("DELETE FROM provider_catalogs WHERE provider_slug = %s", (spec.slug,))
            conn.execute("DELETE FROM provider_catalog_versions WHERE provider_slug = %s", (spec.slug,))
        frame = catalog(spec.slug, {"model-a": 1.0, "model-b": 2.0})
        frame["name_steps"] = pd.Series([steps, list(reversed(steps))])
        frame["metadata"] = pd.Series([meta, {"wrapped": meta}])
        db.stage_provider_catalog(conn, spec, frame, "whole")
        assert staged_rows(conn, spec.slug) == frame_rows(frame)
        changed = catalog(spec.slug, {"model-a": 1.0, "model-b": 2.5})  # model-b's content moved: a delta
        changed["name_steps"] = pd.Series([steps, steps + ["after"]])
        changed["metadata"] = pd.Series([meta, {"list": [meta, steps]}])
        assert db.stage_provider_catalog(conn, spec, changed, "delta").changed
        assert staged_rows(conn, spec.slug) == frame_rows(changed)


def test_a_catalog_longer_than_an_encoding_step_is_staged_exactly(database_url, monkeypatch):
    """copy_rows encodes a catalog a step at a time (COPY_CHUNK_ROWS): every step's rows arrive, the last partial
    one included, on a first stage and on a re-stage of its changes."""
    monkeypatch.setattr(stage_catalog, "COPY_CHUNK_ROWS", 7)
    db.apply_migrations(database_url)
    frame = catalog(SPECS[0].slug, {f"model-{i:04d}": 1.0 + i for i in range(50)})
    changed = catalog(SPECS[0].slug, {f"model-{i:04d}": 1.0 + i + (i % 3 == 0) for i in range(3, 60)})
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, SPECS[0], frame, "first")
        assert staged_rows(conn, SPECS[0].slug) == frame_rows(frame)
        db.stage_provider_catalog(conn, SPECS[0], changed, "second")
        assert staged_rows(conn, SPECS[0].slug) == frame_rows(changed)


def test_a_change_reverted_before_the_refresh_writes_nothing(database_url):
    """A price that moved in one stage and moved back in the next, both before a refresh: the listed changes
    are the row as published, so the delta path updates nothing and logs no history for it."""
    db.apply_migrations(database_url)
    spec = SPECS[2]
    prices = {f"model-{i:03d}": 1.0 + i for i in range(200)}
    with db.connect(database_url) as conn:
        first_sync(conn, spec, prices)
        ids = {k: v[1] for k, v in published(conn).items()}
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, {**prices, "model-007": 99.0}), "moved")
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, {**prices, "model-008": 98.0}), "back")
        result = db.refresh_models_table(conn, [spec], "back")
        assert result.delta_providers == [spec.slug]
        assert (result.updated, result.inserted, result.deleted) == ({spec.slug: 1}, {}, {})  # model-008 only
        assert published_hashes(conn, spec.slug) == hashes(catalog(spec.slug, {**prices, "model-008": 98.0}))
        assert {k: v[1] for k, v in published(conn).items()} == ids
        assert conn.execute("SELECT model_id FROM model_history WHERE run_id = 'back'").fetchall() == [("model-008",)]
