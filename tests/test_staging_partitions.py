"""Staging (provider_catalogs) is partitioned per provider (migration 0012): a provider's first stage copies its
catalog into a new unindexed table, builds the row-key index once and attaches it, without blocking readers, a
refresh or other providers' stages; a killed first stage leaves no table; later stages write into the partition;
a database staged before the migration keeps every staged row and its delta path. Real PostgreSQL."""

from __future__ import annotations

import dataclasses
import re

import psycopg
import psycopg.sql
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modelsync_pipeline import db
from modelsync_pipeline.db import migrate, stage_catalog
from modelsync_pipeline.db.statements import statements
from modelsync_pipeline.providers.registry import PROVIDERS

from .faults import kill_at
from .test_bulk_path import catalog, frame_rows, hashes, published, published_hashes, staged_rows
from .test_partitions import apply_migrations_before, prices

SPECS = PROVIDERS[:3]

# The first stage of SPECS[2], in a fresh process, so the test can stop it inside its transaction and SIGKILL it.
_FIRST_STAGE = """
import sys
from modelsync_pipeline import db
from modelsync_pipeline.providers.registry import PROVIDERS
from tests.test_bulk_path import catalog
with db.connect(sys.argv[1]) as conn:
    db.stage_provider_catalog(conn, PROVIDERS[2], catalog(PROVIDERS[2].slug, {f"model-{i:04d}": 1.0 + i for i in range(300)}), "killed")
"""


def staging_partitions(conn) -> dict[str, tuple[str, list[str]]]:
    """Each partition of provider_catalogs: (its bound, its index definitions from USING on)."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), "
        "       (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY 1) FROM pg_index i WHERE i.indrelid = c.oid) "
        "FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid "
        "WHERE h.inhparent = 'provider_catalogs'::regclass ORDER BY 1").fetchall()
    return {name: (bound, [d.split(" USING ")[1] for d in defs or []]) for name, bound, defs in rows}


def staging_tables(conn) -> list[str]:
    """Every table whose name starts like a staging partition, attached or not."""
    return [r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'provider\\_catalogs\\_%' AND relkind = 'r' ORDER BY 1")]


def row_key_index(conn) -> list[str]:
    """The parent's row-key index (migration 0007), as every partition must have it."""
    return [conn.execute("SELECT pg_get_indexdef('provider_catalogs_row_key_idx'::regclass)").fetchone()[0]
            .split(" USING ")[1]]


def partition_name(conn, slug: str) -> str:
    return conn.execute("SELECT staging_partition(%s)", (slug,)).fetchone()[0]


def test_a_first_stage_is_attached_as_the_providers_partition_without_blocking_anyone(database_url, tmp_path):
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        for spec in SPECS[:2]:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(50)), "first")
        db.refresh_models_table(conn, SPECS, "first")
        layout = staging_partitions(conn)
        assert layout == {partition_name(conn, s.slug): (f"FOR VALUES IN ('{s.slug}')", row_key_index(conn))
                          for s in SPECS[:2]}
    changed = catalog(SPECS[0].slug, prices(50, start=2.0))

    def others_go_on():
        # the first stage of SPECS[2] has copied its catalog and attached its partition, and holds its locks
        with psycopg.connect(database_url, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")  # blocked, a statement fails instead of waiting
            assert other.execute("SELECT count(*) FROM provider_catalogs").fetchone()[0] == 100
            assert db.stage_provider_catalog(other, SPECS[0], changed, "beside").changed  # another provider's stage
            result = db.refresh_models_table(other, SPECS, "beside")  # and a refresh
            assert result.delta_providers == [SPECS[0].slug]
            assert {slug for slug, _ in published(other)} == {s.slug for s in SPECS[:2]}

    kill_at("stage:after_copy", _FIRST_STAGE, [database_url], tmp_path, others_go_on)
    with db.connect(database_url) as conn:
        assert staging_partitions(conn) == layout  # no partition, and no table, left by the killed stage
        assert staging_tables(conn) == sorted(layout)
        assert conn.execute("SELECT count(*) FROM provider_catalogs WHERE provider_slug = %s",
                            (SPECS[2].slug,)).fetchone()[0] == 0
        assert staged_rows(conn, SPECS[0].slug) == frame_rows(changed)

        # the same first stage, not killed, then a later one of the same provider, written into its partition
        frame = catalog(SPECS[2].slug, prices(300))
        db.stage_provider_catalog(conn, SPECS[2], frame, "again")
        assert staging_partitions(conn)[partition_name(conn, SPECS[2].slug)] == (
            f"FOR VALUES IN ('{SPECS[2].slug}')", row_key_index(conn))
        assert staged_rows(conn, SPECS[2].slug) == frame_rows(frame)
        frame = catalog(SPECS[2].slug, {**prices(290), "model-9999": 5.0, "model-0003": 8.5})
        db.stage_provider_catalog(conn, SPECS[2], frame, "later")
        assert staged_rows(conn, SPECS[2].slug) == frame_rows(frame)
        assert len(staging_partitions(conn)) == 3 and len(staging_tables(conn)) == 3
        result = db.refresh_models_table(conn, SPECS, "later")
        assert result.inserted[SPECS[2].slug] == 291
        assert {k[1]: v[0] for k, v in published(conn).items() if k[0] == SPECS[2].slug} == dict(
            zip(frame["model_id"], frame["content_hash"]))


def test_a_catalog_listed_out_of_order_is_staged_whole_and_exactly(database_url):
    """The stage copies a whole catalog in model_id order (for the refresh's index builds): a provider that lists
    its models in any order still has exactly its catalog staged and published."""
    db.apply_migrations(database_url)
    frame = catalog(SPECS[0].slug, {f"m-{i:05d}": 1.0 + i for i in range(0, 2000, 7)})
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert not shuffled["model_id"].is_monotonic_increasing
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, SPECS[0], shuffled, "shuffled")
        assert staged_rows(conn, SPECS[0].slug) == frame_rows(frame)
        db.refresh_models_table(conn, SPECS[:1], "shuffled")
        ordered = conn.execute("SELECT model_id FROM models ORDER BY id").fetchall()
        assert [r[0] for r in ordered] == sorted(frame["model_id"])  # ids follow model_id on a first load


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slugs=st.lists(st.text(min_size=1, max_size=90).filter(lambda s: "\x00" not in s), min_size=2, max_size=6,
                      unique=True))
@example(slugs=["a-b", "a_b", "A-B", "a--b", "a.b"])
@example(slugs=["x" * 90, "x" * 89 + "y"])
def test_every_slug_has_a_partition_name_of_its_own(database_url, slugs):
    """Partition names are identifiers PostgreSQL keeps whole (63 bytes) and never quotes, and distinct slugs
    get distinct names, whatever characters or length a slug has."""
    db.apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        names = [partition_name(conn, slug) for slug in slugs]
    assert len(set(names)) == len(names), dict(zip(slugs, names))
    for name in names:
        assert re.fullmatch(r"provider_catalogs_[a-z0-9_]{0,24}_[0-9a-f]{8}", name), name
        assert len(name.encode()) <= 63


def test_a_provider_with_an_unusual_slug_is_staged_into_its_partition(database_url):
    db.apply_migrations(database_url)
    spec = dataclasses.replace(SPECS[0], slug="Acme.AI — Ünïcode/Provider with a rather long slug")
    frame = catalog(spec.slug, prices(20))
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, frame, "odd")
        assert staged_rows(conn, spec.slug) == frame_rows(frame)
        assert staging_partitions(conn)[partition_name(conn, spec.slug)][0] == f"FOR VALUES IN ('{spec.slug}')"


def stage_as_before_0012(conn, frame, run_id: str) -> None:
    """A first stage as the code before migration 0012 wrote it: the rows copied into the one staging table,
    and the version with the catalog's checksum and row keys."""
    with conn.transaction():
        copy_into(conn, "provider_catalogs", frame, run_id)
        record_version_as_before_0013(conn, frame, run_id)


def copy_into(conn, table: str, frame, run_id: str) -> None:
    """The frame's rows copied into `table` with the stage's own COPY statement and encoder."""
    copy_sql = psycopg.sql.SQL(statements("stage_catalog")["copy"]).format(psycopg.sql.Identifier(table))
    with conn.cursor().copy(copy_sql) as copy:
        for values in stage_catalog.copy_rows(frame, run_id):
            copy.write_row(values)


def record_version_as_before_0013(conn, frame, run_id: str) -> None:
    conn.execute("INSERT INTO provider_catalog_versions (provider_slug, run_id, validated_at, row_count, checksum, row_keys) "
                 "VALUES (%s, %s, now(), %s, %s, %s)",
                 (frame["provider_slug"].iloc[0], run_id, len(frame), stage_catalog.catalog_checksum(frame),
                  stage_catalog.row_keys(frame).tobytes()))


def test_a_database_staged_before_the_migration_keeps_every_staged_row_and_its_delta_path(database_url, tmp_path,
                                                                                         monkeypatch):
    apply_migrations_before(database_url, "0012", tmp_path, monkeypatch)
    frames = {spec.slug: catalog(spec.slug, prices(40 + 10 * n)) for n, spec in enumerate(SPECS[:2])}
    with db.connect(database_url) as conn:
        for spec in SPECS[:2]:
            stage_as_before_0012(conn, frames[spec.slug], "before")
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'provider_catalogs'").fetchone()[0] == "r"
        staged = {spec.slug: staged_rows(conn, spec.slug, "provider_catalogs") for spec in SPECS[:2]}

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", db.MIGRATIONS_DIR)
    assert "0012_staging_partition_per_provider" in db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'provider_catalogs'").fetchone()[0] == "p"
        assert staging_partitions(conn) == {partition_name(conn, s.slug): (f"FOR VALUES IN ('{s.slug}')", row_key_index(conn))
                                            for s in SPECS[:2]}
        assert {spec.slug: staged_rows(conn, spec.slug) for spec in SPECS[:2]} == staged
        assert conn.execute("SELECT to_regclass('provider_catalogs_unpartitioned')").fetchone()[0] is None
        db.refresh_models_table(conn, SPECS[:2], "first")  # (the refresh reads staging as migration 0013 has it)
        ids = published(conn)

        # the next stage compares with the staged keys and the refresh takes the delta path, ids kept
        changed = catalog(SPECS[0].slug, {**prices(40), "model-0001": 99.0})
        db.stage_provider_catalog(conn, SPECS[0], changed, "after")
        assert staged_rows(conn, SPECS[0].slug) == frame_rows(changed)
        result = db.refresh_models_table(conn, SPECS[:2], "after")
        assert result.delta_providers == [SPECS[0].slug] and result.updated == {SPECS[0].slug: 1}
        after = published(conn)
        assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in ids.items()}
        # and a provider staged for the first time after the migration gets its own partition
        db.stage_provider_catalog(conn, SPECS[2], catalog(SPECS[2].slug, prices(5)), "after")
        assert len(staging_partitions(conn)) == 3


def test_changes_listed_before_migration_0013_are_not_laid_over_the_staged_rows(database_url, tmp_path, monkeypatch):
    """Before migration 0013 a stage wrote its changes into the staged rows, and a catalog replaced whole later
    left the earlier changes listed. The migration counts every listed change as folded: the staged catalog
    reads as the staged rows, not with stale changes laid over them."""
    apply_migrations_before(database_url, "0013", tmp_path, monkeypatch)
    frame = catalog(SPECS[0].slug, prices(30))
    slug = SPECS[0].slug
    with db.connect(database_url) as conn, conn.transaction():
        partition = conn.execute("SELECT create_staging_partition(%s)", (slug,)).fetchone()[0]
        copy_into(conn, partition, frame, "whole")
        conn.execute("SELECT attach_staging_partition(%s)", (slug,))
        record_version_as_before_0013(conn, frame, "whole")
        # listed by earlier stages, superseded by the whole catalog above
        conn.execute("INSERT INTO provider_catalog_changes (provider_slug, model_id, removed) VALUES (%s, 'model-0002', true)",
                     (slug,))
        conn.execute("INSERT INTO provider_catalog_changes (provider_slug, model_id, model_name, modality, is_free, metadata, "
                     "name_rule, name_steps, sync_run_id, content_hash) "
                     "VALUES (%s, 'model-0005', 'Stale', 'text', false, '{}', 'id', '{}', 'old', 'stale')", (slug,))

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", db.MIGRATIONS_DIR)
    assert "0013_staged_changes_overlay" in db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        assert staged_rows(conn, slug) == staged_rows(conn, slug, partition) == frame_rows(frame)
        db.refresh_models_table(conn, SPECS[:1], "first")
        assert published_hashes(conn, slug) == hashes(frame)


def test_changes_listed_before_migration_0007_send_the_refresh_down_the_full_path(database_url, tmp_path, monkeypatch):
    """A release before migration 0007 listed only the ids a stage changed; 0007 gave the list each change's row,
    and the ids listed before it read as changed rows with every column NULL. A catalog staged by such a release
    and not yet refreshed (its run killed, or its table step failed) then failed every refresh after the upgrade
    on the delta path ('null value in column "model_name" of relation "refresh_changed"'), every provider's, for
    as long as the provider's fetch failed. Its refresh takes the full path instead and re-bases."""
    apply_migrations_before(database_url, "0007", tmp_path, monkeypatch)
    spec = SPECS[0]
    old = catalog(spec.slug, prices(30))
    new = catalog(spec.slug, {**{k: v for k, v in prices(30).items() if k != "model-0003"}, "model-0005": 99.0,
                              "model-0100": 7.0})
    with db.connect(database_url) as conn, conn.transaction():
        # refreshed to `old` by that release: its rows in models, the delta's base its checksum
        provider_id = conn.execute("INSERT INTO providers (name, slug, base_url, published_checksum) "
                                   "VALUES ('A', %s, 'u', %s) RETURNING id",
                                   (spec.slug, stage_catalog.catalog_checksum(old))).fetchone()[0]
        copy_into(conn, "provider_catalogs", old, "old")
        conn.execute("INSERT INTO models (provider_id, model_id, model_name, context_length, input_price_per_mtok, "
                     "output_price_per_mtok, modality, is_free, metadata, raw_name, name_rule, name_steps, sync_run_id, "
                     "content_hash) SELECT %s, model_id, model_name, context_length, input_price_per_mtok, "
                     "output_price_per_mtok, modality, is_free, metadata, raw_name, name_rule, name_steps, sync_run_id, "
                     "content_hash FROM provider_catalogs", (provider_id,))
        conn.execute("INSERT INTO provider_catalog_delta VALUES (%s, %s, 0)", (spec.slug, stage_catalog.catalog_checksum(old)))
        # then `new` staged, its changed ids listed, and no refresh
        conn.execute("DELETE FROM provider_catalogs")
        copy_into(conn, "provider_catalogs", new, "new")
        conn.execute("INSERT INTO provider_catalog_versions (provider_slug, run_id, row_count, checksum) VALUES (%s, 'new', %s, %s)",
                     (spec.slug, len(new), stage_catalog.catalog_checksum(new)))
        for model_id in ("model-0003", "model-0005", "model-0100"):
            conn.execute("INSERT INTO provider_catalog_changes (provider_slug, model_id) VALUES (%s, %s)", (spec.slug, model_id))
        ids = {m: i for m, i in conn.execute("SELECT model_id, id FROM models")}

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", db.MIGRATIONS_DIR)
    assert "0007_staged_catalog_keys" in db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        result = db.refresh_models_table(conn, [spec], "after")  # the provider's fetch failed: no stage first
        assert result.delta_providers == []
        assert published_hashes(conn, spec.slug) == hashes(new)
        kept = {m: i for (_, m), (_, i) in published(conn).items() if m not in ("model-0005", "model-0100")}
        assert kept == {m: i for m, i in ids.items() if m not in ("model-0003", "model-0005")}

        # the version staged before 0007 has no row keys: the next stage replaces it whole (full path again), and
        # the one after lists its changes with their rows and takes the delta path, ids kept
        for n, price in enumerate((8.0, 9.0)):
            newer = catalog(spec.slug, {**{k: v for k, v in prices(30).items() if k != "model-0003"}, "model-0005": 99.0,
                                        "model-0100": price})
            db.stage_provider_catalog(conn, spec, newer, f"newer-{n}")
            result = db.refresh_models_table(conn, [spec], f"newer-{n}")
            assert published_hashes(conn, spec.slug) == hashes(newer)
        assert result.delta_providers == [spec.slug] and result.updated == {spec.slug: 1}
        assert {m: i for (_, m), (_, i) in published(conn).items() if m in kept} == kept
