"""models is partitioned per provider (migration 0008): a provider's first load is built into a new table and
attached without blocking readers; a killed first load leaves nothing behind; partitions of deleted providers
are dropped; a database migrated from the unpartitioned table keeps every row, id and backup. Real PostgreSQL."""

from __future__ import annotations

import shutil
import time

import psycopg
import pytest

from modelsync_pipeline import db
from modelsync_pipeline.db import migrate, refresh_models
from modelsync_pipeline.providers.registry import PROVIDERS

from .faults import kill_at
from .test_bulk_path import PARTITIONS, catalog, published

SPECS = PROVIDERS[:3]
FINGERPRINT = ("SELECT count(*), md5(string_agg(provider || model_id || content_hash, ',' ORDER BY provider, model_id)) "
               "FROM catalog_rows")

# A refresh of the first three providers in a fresh process, so the test can stop it and SIGKILL it.
_REFRESH = """
import sys
from modelsync_pipeline import db
from modelsync_pipeline.db import refresh_models
from modelsync_pipeline.providers.registry import PROVIDERS
refresh_models.HISTORY_BATCH_MIN_ROWS = 1  # its 'added' rows are attached as a batch of model_history too
with db.connect(sys.argv[1]) as conn:
    db.refresh_models_table(conn, PROVIDERS[:3], "killed-first-load")
"""


def prices(n: int, start: float = 1.0) -> dict[str, float]:
    return {f"model-{i:04d}": start + i for i in range(n)}


def load(conn, specs, models_each: int, run_id: str = "first") -> None:
    """Stage a catalog of `models_each` models for each provider, then refresh (their first load)."""
    for spec in specs:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(models_each)), run_id)
    db.refresh_models_table(conn, specs, run_id)


def partitions(conn) -> dict[str, tuple[list[str], int]]:
    """Each attached partition of models: (its index definitions' columns, its foreign keys)."""
    rows = conn.execute(
        f"SELECT c.relname, (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY 1) FROM pg_index i "
        f"                   WHERE i.indrelid = c.oid), "
        f"       (SELECT count(*) FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f') "
        f"FROM pg_class c WHERE c.oid IN ({PARTITIONS}) ORDER BY 1").fetchall()
    return {name: ([d.split(" USING ")[1] for d in defs or []], fks) for name, defs, fks in rows}


HISTORY_PARTITIONS = "SELECT inhrelid FROM pg_inherits WHERE inhparent = 'model_history'::regclass"


def beside_connections(conn, timeout: float = 10.0) -> int:
    """The refresh's second connections (refresh_models.BESIDE_APPLICATION) still open after up to `timeout`
    seconds: a backend leaves pg_stat_activity a moment after its client closed the connection, not at once."""
    deadline = time.monotonic() + timeout
    while True:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = %s", (refresh_models.BESIDE_APPLICATION,)).fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def history_partitions(conn) -> dict[str, tuple[list[str], int]]:
    """Each partition of model_history: (its index definitions, from USING on), its row count."""
    names = [r[0] for r in conn.execute(f"SELECT relname FROM pg_class WHERE oid IN ({HISTORY_PARTITIONS}) ORDER BY 1")]
    return {
        name: (
            sorted(r[0].split(" USING ")[1] for r in conn.execute(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass", (name,))),
            conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0],
        )
        for name in names
    }


def provider_ids(conn) -> dict[str, int]:
    return dict(conn.execute("SELECT slug, id FROM providers").fetchall())


def test_a_first_load_is_attached_as_the_providers_partition_without_blocking_readers(database_url, tmp_path):
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        load(conn, SPECS[:2], 50)
        old = conn.execute(FINGERPRINT).fetchone()
        ids = published(conn)
        db.stage_provider_catalog(conn, SPECS[2], catalog(SPECS[2].slug, prices(70)), "second")
        layout = partitions(conn)
        history = conn.execute("SELECT * FROM model_history ORDER BY id").fetchall()
        history_rows = len(history)
        history_layout = history_partitions(conn)
    assert len(layout) == 2 and history_rows == 100

    def reader_sees_the_old_catalog_at_once():
        with psycopg.connect(database_url, autocommit=True) as reader:
            # the refresh has attached the new partition and holds its lock on models until COMMIT
            locks = {mode for (mode,) in reader.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'models'::regclass AND granted "
                "AND pid <> pg_backend_pid()")}
            assert "ShareUpdateExclusiveLock" in locks, locks
            history_locks = {mode for (mode,) in reader.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'model_history'::regclass AND granted "
                "AND pid <> pg_backend_pid()")}
            assert "ShareUpdateExclusiveLock" in history_locks, history_locks  # its history batch is attached
            reader.execute("SET lock_timeout = '200ms'")  # a blocked read fails instead of waiting
            assert reader.execute(FINGERPRINT).fetchone() == old
            with reader.transaction():
                assert reader.execute("SELECT count(*) FROM models").fetchone()[0] == 100
                # the new 'added' rows are attached to model_history too (migration 0010), without blocking
                assert reader.execute("SELECT count(*) FROM model_history").fetchone()[0] == history_rows

    kill_at("refresh:before_commit", _REFRESH, [database_url], tmp_path, reader_sees_the_old_catalog_at_once)
    with db.connect(database_url) as conn:
        assert conn.execute(FINGERPRINT).fetchone() == old
        assert partitions(conn) == layout
        assert conn.execute("SELECT to_regclass('models_building')").fetchone()[0] is None
        assert conn.execute("SELECT to_regclass('model_history_building')").fetchone()[0] is None
        assert conn.execute("SELECT * FROM model_history ORDER BY id").fetchall() == history
        assert history_partitions(conn) == history_layout
        # the 'added' rows were built and committed by the refresh's second connection (migration 0011), but
        # never attached: readers do not see them, and the next refresh drops them
        assert conn.execute("SELECT to_regclass('model_history_loading')").fetchone()[0] is not None

        result = db.refresh_models_table(conn, SPECS, "second")
        assert result.inserted == {SPECS[2].slug: 70}
        assert conn.execute("SELECT to_regclass('model_history_loading')").fetchone()[0] is None
        new_id = provider_ids(conn)[SPECS[2].slug]
        layout = partitions(conn)
        assert layout[f"models_p{new_id}"] == (
            ["btree (id, provider_id)", "btree (provider_id, model_id)"], 1), layout
        assert all(value == layout[f"models_p{new_id}"] for value in layout.values())
        assert {k: v for k, v in published(conn).items() if k[0] != SPECS[2].slug} == ids  # the others untouched
        history = conn.execute("SELECT count(*) FROM model_history WHERE run_id = 'second' AND changes = "
                               "ARRAY['added']").fetchone()[0]
        assert history == 70
        # the attached partition enforces the unique key of models
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute("INSERT INTO models (provider_id, model_id, model_name, modality, name_rule, sync_run_id, "
                         "content_hash) VALUES (%s, 'model-0001', 'x', 'text', 'id', 'r', 'h')", (new_id,))


# The same refresh, with every first load's partition built by the second connection (BesideBuilder).
_REFRESH_BESIDE = _REFRESH.replace("with db.connect", "refresh_models.split_loads = lambda loads: ([], list(loads))\n"
                                                      "with db.connect")
LOADING_TABLES = "SELECT relname FROM pg_class WHERE relname LIKE 'models\\_loading\\_%' OR relname LIKE '%building' " \
                 "OR relname = 'model_history_loading' ORDER BY 1"


@pytest.mark.parametrize("then", ["refresh", "reset"])
def test_partitions_built_beside_a_refresh_that_was_killed_are_never_seen_and_are_dropped(database_url, tmp_path, then,
                                                                                          monkeypatch):
    """The second connection commits the partitions it built (and the history batch) just before the refresh
    attaches them; a refresh killed after that leaves them committed but never attached. Readers never see
    them, and the next write that builds partitions, a refresh or a reset, drops them first (a reset failed on
    the history batch's name until 2026-11-28, as only the refresh dropped it)."""
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        for spec in SPECS[:2]:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(40)), "staged")

    def nothing_is_published():
        with psycopg.connect(database_url, autocommit=True) as reader:
            assert reader.execute("SELECT count(*) FROM catalog_rows").fetchone()[0] == 0

    kill_at("refresh:before_commit", _REFRESH_BESIDE, [database_url], tmp_path, nothing_is_published)
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
        assert partitions(conn) == {}
        left = [r[0] for r in conn.execute(LOADING_TABLES)]
        assert len(left) == 3 and "model_history_loading" in left, left  # two partitions and the batch, committed
        assert all(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] == 40 for t in left if t.startswith("models_"))

        monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 1)  # built beside again, under the same names
        if then == "refresh":
            result = db.refresh_models_table(conn, SPECS[:2], "again")
        else:
            result = db.reset_models_table(conn, SPECS[:2], "again")[1]
        assert result.inserted == {spec.slug: 40 for spec in SPECS[:2]}
        assert [r[0] for r in conn.execute(LOADING_TABLES)] == []
        assert conn.execute("SELECT count(*) FROM catalog_rows").fetchone()[0] == 80
        assert len(partitions(conn)) == 2


@pytest.mark.parametrize("history", ["built by the refresh", "built beside it"])
def test_a_first_load_with_a_duplicate_id_fails_whole_and_leaves_no_table(database_url, monkeypatch, history):
    """Staging is unique per (provider, model id) by the catalog checks; if a duplicate got there anyway,
    the partition's unique index refuses it at attach, the refresh fails and nothing is published. When a
    second connection builds the history rows (a batch, migration 0011), the refresh finds first that staging
    holds more rows than its version says, and stops that connection too."""
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 1 if history == "built beside it" else 10_000)
    db.apply_migrations(database_url)
    spec = SPECS[0]
    with db.connect(database_url) as conn:
        db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(20)), "first")
        conn.execute("INSERT INTO provider_catalogs SELECT * FROM provider_catalogs WHERE model_id = 'model-0003'")
        if history == "built beside it":
            error = pytest.raises(RuntimeError, match=f"staged catalog of {spec.slug} has 21 rows but its version says 20")
        else:
            error = pytest.raises(psycopg.errors.UniqueViolation, match="model-0003")
        with error:
            db.refresh_models_table(conn, [spec], "first")
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM model_history").fetchone()[0] == 0
        assert partitions(conn) == {}
        for table in ("models_building", "model_history_building", "model_history_loading"):
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None, table
        assert beside_connections(conn) == 0


def test_partitions_of_deleted_providers_are_dropped_unless_a_reader_holds_models(database_url):
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        load(conn, SPECS, 30)
        first = set(partitions(conn))
        db.reset_models_table(conn, SPECS, "reset")  # new provider ids: each catalog built into a new partition
        after_reset = set(partitions(conn))
        assert len(after_reset) == 6 and first < after_reset
        assert {f"models_p{i}" for i in provider_ids(conn).values()} == after_reset - first

        with psycopg.connect(database_url) as reader:  # a long read holds models (and every partition)
            reader.execute("SELECT count(*) FROM models").fetchone()
            db.refresh_models_table(conn, SPECS, "while-reading")  # does not wait for it, nor fail
            assert set(partitions(conn)) == after_reset
        db.refresh_models_table(conn, SPECS, "after-reading")
        assert set(partitions(conn)) == after_reset - first
        assert len(published(conn)) == 90


def test_a_restore_recreates_the_partitions_of_providers_gone_since_the_backup(database_url):
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        load(conn, SPECS, 25)
        before = conn.execute("SELECT catalog_tables_checksum()").fetchone()[0]
        backup = db.flush_providers(conn, "flush").backup
        db.refresh_models_table(conn, [], "cleanup")  # drops the flushed providers' partitions
        assert partitions(conn) == {}
        db.restore_backup(conn, backup.id, "restore")
        assert conn.execute("SELECT catalog_tables_checksum()").fetchone()[0] == before
        assert len(partitions(conn)) == 3


def apply_migrations_before(database_url: str, first_left_out: str, tmp_path, monkeypatch) -> None:
    """Bring the database to the schema as it was before migration `first_left_out` (e.g. "0008"); the next
    apply_migrations (after monkeypatch.undo() or setting MIGRATIONS_DIR back) applies the rest."""
    before = tmp_path / f"migrations-before-{first_left_out}"
    before.mkdir()
    for path in sorted(db.MIGRATIONS_DIR.glob("*.sql")):
        if path.stem < first_left_out:
            shutil.copy(path, before)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", before)
    db.apply_migrations(database_url)


def test_a_database_migrated_from_the_unpartitioned_table_keeps_rows_ids_and_backups(database_url, tmp_path, monkeypatch):
    apply_migrations_before(database_url, "0008", tmp_path, monkeypatch)
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'models'").fetchone()[0] == "r"
        conn.execute("INSERT INTO providers (id, name, slug, base_url) VALUES (4, 'A', 'a', 'u'), (9, 'B', 'b', 'u')")
        conn.execute("INSERT INTO models (id, provider_id, model_id, model_name, modality, name_rule, sync_run_id, "
                     "content_hash) SELECT i, 4 + 5 * (i % 2), 'm' || i, 'M ' || i, 'text', 'id', 'r', md5(i::text) "
                     "FROM generate_series(1, 40) i")
        conn.execute("SELECT setval('models_id_seq', 40)")
        with conn.transaction():
            backup = db.take_backup(conn, "before-0008", "test")
        rows = conn.execute("SELECT * FROM models ORDER BY id").fetchall()
        checksum = conn.execute("SELECT catalog_tables_checksum()").fetchone()[0]

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", db.MIGRATIONS_DIR)
    assert db.apply_migrations(database_url) == [p.stem for p in sorted(db.MIGRATIONS_DIR.glob("*.sql"))
                                                 if p.stem >= "0008"]
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'models'").fetchone()[0] == "p"
        assert set(partitions(conn)) == {"models_p4", "models_p9"}
        assert conn.execute("SELECT * FROM models ORDER BY id").fetchall() == rows
        assert conn.execute("SELECT catalog_tables_checksum()").fetchone()[0] == checksum
        assert {r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'models'::regclass")} >= {
            "models_pkey", "models_provider_id_model_id_key", "models_provider_id_fkey"}
        new_id = conn.execute("INSERT INTO models (provider_id, model_id, model_name, modality, name_rule, sync_run_id, "
                              "content_hash) VALUES (4, 'new', 'N', 'text', 'id', 'r', 'h') RETURNING id").fetchone()[0]
        assert new_id == 41  # the same sequence goes on
        db.restore_backup(conn, backup.id, "restore")  # a backup taken before the migration restores exactly
        assert conn.execute("SELECT * FROM models ORDER BY id").fetchall() == rows
        assert conn.execute("SELECT catalog_tables_checksum()").fetchone()[0] == checksum
