"""model_history is partitioned by batch (migration 0010): the 'added' rows of a refresh's first loads are built
into a partition of their own, every other change goes to model_history_changes; readers see one table, and
model_as_of answers across both. A database migrated from the plain table keeps every row and id. Real
PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelsync_pipeline import db
from modelsync_pipeline.db import migrate, refresh_models
from modelsync_pipeline.providers.registry import PROVIDERS

from .test_bulk_path import catalog
from .test_partitions import apply_migrations_before, beside_connections, history_partitions, load, partitions, prices

SPECS = PROVIDERS[:2]
INDEXES = ["btree (id)", "btree (provider_slug, model_id, changed_at)", "btree (run_id)"]


def test_first_loads_log_their_added_rows_into_a_batch_and_changes_into_model_history_changes(database_url, monkeypatch):
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 50)  # these first loads have 80 rows
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        load(conn, SPECS, 40)
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 0), "model_history_b1": (INDEXES, 80)}
        loaded_at = conn.execute("SELECT max(changed_at) FROM model_history").fetchone()[0]
        assert conn.execute("SELECT model_as_of(%s, 'model-0003', %s)", (SPECS[0].slug, loaded_at)).fetchone()[0] \
            == conn.execute("SELECT model_snapshot(m) FROM models m JOIN providers p ON p.id = m.provider_id "
                            "WHERE p.slug = %s AND m.model_id = 'model-0003'", (SPECS[0].slug,)).fetchone()[0]
        before_load = conn.execute("SELECT min(changed_at) - interval '1 second' FROM model_history").fetchone()[0]
        conn.commit()

        # a later sync of one provider: a price changed, an id left, an id came; all logged as changes
        changed = prices(40)
        changed["model-0003"] += 10
        del changed["model-0004"]
        changed["model-new"] = 1.0
        db.stage_provider_catalog(conn, SPECS[0], catalog(SPECS[0].slug, changed), "second")
        db.refresh_models_table(conn, SPECS, "second")
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 3), "model_history_b1": (INDEXES, 80)}
        kinds = dict(conn.execute("SELECT model_id, changes FROM model_history WHERE run_id = 'second'").fetchall())
        assert kinds == {"model-0003": ["price_changed"], "model-0004": ["removed"], "model-new": ["added"]}
        # "what did model X look like at T", across both partitions
        as_of = conn.execute("SELECT model_as_of(%s, 'model-0003', %s)", (SPECS[0].slug, loaded_at)).fetchone()[0]
        assert float(as_of["input_price_per_mtok"]) == 4.0  # before the change: prices(40) starts at 1.0
        assert conn.execute("SELECT model_as_of(%s, 'model-0003', %s)",
                            (SPECS[0].slug, before_load)).fetchone()[0] is None  # not loaded yet
        assert conn.execute("SELECT model_as_of(%s, 'model-0004', now())", (SPECS[0].slug,)).fetchone()[0] is None

        # a reset rebuilds every provider: its 'added' rows are the next batch
        db.reset_models_table(conn, SPECS, "reset")
        layout = history_partitions(conn)
        assert layout["model_history_b2"] == (INDEXES, 80) and layout["model_history_changes"][1] > 3
        ids = [r[0] for r in conn.execute("SELECT id FROM model_history ORDER BY changed_at, id")]
        assert len(ids) == len(set(ids))  # one sequence for every partition


ADDED_ROWS = """
SELECT h.model_row_id, m.id, h.changed_at, m.created_at
FROM model_history h
JOIN providers p ON p.slug = h.provider_slug
LEFT JOIN models m ON m.provider_id = p.id AND m.model_id = h.model_id
WHERE h.changes = ARRAY['added'] AND h.run_id = %s
"""


# Who builds each first load's partition of models: the refresh's own connection, the second one, or one each.
SPLITS = {
    "by the refresh": lambda loads: (list(loads), []),
    "beside it": lambda loads: ([], list(loads)),
    "one each": lambda loads: (list(loads[:1]), list(loads[1:])),
}

CONSTRAINTS = """
SELECT c.relname, array_agg(k.conname || ' ' || k.contype::text ORDER BY k.conname)
FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid
WHERE c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'models'::regclass)
GROUP BY c.relname
"""


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("restage", ["folded", "pending"])
def test_added_rows_built_beside_the_refresh_point_at_their_models_rows(database_url, monkeypatch, restage, split):
    """The second connection (migration 0011) numbers each provider's staged rows as the refresh numbers its
    models rows, in model id order, from the same snapshot, whichever connection builds a provider's partition.
    The provider's catalog is re-staged by its changes before its first refresh: folded into its staged rows (5
    changes of 40, more than a tenth: the changed rows sit at the end of the table, out of id order), or laid
    over them as pending changes (2 of 40, migration 0013), so that numbering by where the rows sit would pair
    ids wrongly. A partition the second connection built is one like the others once attached: the same
    indexes and constraints under the same names, the foreign key enforced."""
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 50)
    monkeypatch.setattr(refresh_models, "split_loads", SPLITS[split])
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        for spec in SPECS:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(40)), "staged")
        changed = prices(40)
        for model_id in ("model-0001", "model-0017", "model-0030") if restage == "folded" else ("model-0017",):
            changed[model_id] += 5
        if restage == "folded":
            del changed["model-0009"]
        changed["model-0000-new"] = 3.0
        db.stage_provider_catalog(conn, SPECS[0], catalog(SPECS[0].slug, changed), "restaged")
        pending = conn.execute("SELECT count(*) FROM pending_catalog_changes WHERE provider_slug = %s",
                               (SPECS[0].slug,)).fetchone()[0]
        staged = [r[0] for r in conn.execute("SELECT model_id FROM provider_catalogs WHERE provider_slug = %s "
                                             "ORDER BY ctid", (SPECS[0].slug,))]
        if restage == "folded":
            assert pending == 0 and staged != sorted(staged)  # the changed rows sit at the end of the table
        else:
            assert pending == 2 and "model-0000-new" not in staged

        result = db.refresh_models_table(conn, SPECS, "first")
        assert result.inserted == {SPECS[0].slug: len(changed), SPECS[1].slug: 40}
        assert {(s, m): h for s, m, h in conn.execute(
            "SELECT p.slug, m.model_id, m.content_hash FROM models m JOIN providers p ON p.id = m.provider_id")} == {
            (s, m): h for s, m, h in conn.execute("SELECT provider_slug, model_id, content_hash FROM staged_catalogs")}
        added = conn.execute(ADDED_ROWS, ("first",)).fetchall()
        assert len(added) == 40 + len(changed)
        assert [(row_id, changed_at) for row_id, _, changed_at, _ in added] == \
            [(model_row, created_at) for _, model_row, _, created_at in added]  # its row, at the same moment
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 0), "model_history_b1": (INDEXES, 40 + len(changed))}
        assert beside_connections(conn) == 0
        ids = {slug: i for slug, i in conn.execute("SELECT slug, id FROM providers")}
        assert partitions(conn) == {f"models_p{i}": (["btree (id, provider_id)", "btree (provider_id, model_id)"], 1)
                                    for i in ids.values()}
        shapes = {tuple(c.replace(name, "models_p#") for c in constraints)  # each partition's, its own name left out
                  for name, constraints in conn.execute(CONSTRAINTS)}
        assert len(shapes) == 1 and {"models_p#_pkey p", "models_p#_provider_id_model_id_key u",
                                     "models_provider_id_fkey f"} <= set(*shapes), shapes
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'models\\_loading\\_%'").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute("INSERT INTO models (provider_id, model_id, model_name, modality, name_rule, sync_run_id, "
                         "content_hash) VALUES (%s, 'model-0001', 'x', 'text', 'id', 'r', 'h')", (ids[SPECS[1].slug],))
        conn.execute("DELETE FROM providers WHERE slug = %s", (SPECS[1].slug,))  # the foreign key cascades
        assert conn.execute("SELECT count(*) FROM models WHERE provider_id = %s", (ids[SPECS[1].slug],)).fetchone()[0] == 0


@pytest.mark.parametrize("split", ["by the refresh", "one each"])
def test_a_failing_history_connection_fails_the_refresh_whole(database_url, monkeypatch, split):
    """The second connection fails after building its tables (the history batch, and a partition when one is
    handed to it): the refresh fails whole, nothing of it is left (the tables roll back with that connection),
    and the next refresh loads everything."""
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 1)
    monkeypatch.setattr(refresh_models, "split_loads", SPLITS[split])
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        for spec in SPECS:
            db.stage_provider_catalog(conn, spec, catalog(spec.slug, prices(30)), "staged")
        monkeypatch.setenv("MODELSYNC_FAULT", "refresh:history_batch_built=raise")
        with pytest.raises(RuntimeError, match="building the first loads' history rows and partitions beside the "
                                               "refresh failed: fault injected at refresh:history_batch_built"):
            db.refresh_models_table(conn, SPECS, "failed")
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM providers").fetchone()[0] == 0
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 0)}
        assert conn.execute("SELECT to_regclass('model_history_loading')").fetchone()[0] is None  # rolled back
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'models\\_loading\\_%' "
                            "OR relname = 'models_building'").fetchone()[0] == 0

        monkeypatch.delenv("MODELSYNC_FAULT")
        assert db.refresh_models_table(conn, SPECS, "again").inserted == {spec.slug: 30 for spec in SPECS}
        assert len(conn.execute(ADDED_ROWS, ("again",)).fetchall()) == 60


def test_small_first_loads_add_no_partition_their_rows_join_the_changes(database_url, monkeypatch):
    """A new provider with a few models must not add a partition that every history query visits."""
    monkeypatch.setattr(refresh_models, "HISTORY_BATCH_MIN_ROWS", 81)
    db.apply_migrations(database_url)
    with db.connect(database_url) as conn:
        load(conn, SPECS, 40)  # 80 'added' rows: one fewer than a batch
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 80)}
        assert conn.execute("SELECT to_regclass('model_history_building')").fetchone()[0] is None
        rows = conn.execute("SELECT provider_slug, model_id, changes, run_id FROM model_history").fetchall()
        assert sorted(rows) == sorted((spec.slug, model_id, ["added"], "first") for spec in SPECS for model_id in prices(40))


def test_a_database_migrated_from_the_plain_history_table_keeps_its_rows_and_ids(database_url, tmp_path, monkeypatch):
    apply_migrations_before(database_url, "0010", tmp_path, monkeypatch)
    columns = "id, run_id, changed_at, provider_slug, model_id, model_row_id, changes, old_values, new_values"
    with db.connect(database_url) as conn:
        conn.execute("INSERT INTO model_history (run_id, changed_at, provider_slug, model_id, model_row_id, changes, "
                     "old_values) SELECT 'r' || (i % 3), now() - (50 - i) * interval '1 day', 'p', 'm' || (i % 7), i, "
                     "ARRAY['updated'], jsonb_build_object('i', i, 'created_at', now() - interval '100 days') "
                     "FROM generate_series(1, 50) i")
        rows = conn.execute(f"SELECT {columns} FROM model_history ORDER BY id").fetchall()
        as_of = conn.execute("SELECT model_as_of('p', 'm3', now() - interval '20 days')").fetchone()[0]

    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", db.MIGRATIONS_DIR)
    assert db.apply_migrations(database_url)[0] == "0010_history_partition_per_load"
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'model_history'").fetchone()[0] == "p"
        assert history_partitions(conn) == {"model_history_changes": (INDEXES, 50)}
        assert conn.execute(f"SELECT {columns} FROM model_history ORDER BY id").fetchall() == rows
        assert conn.execute("SELECT model_as_of('p', 'm3', now() - interval '20 days')").fetchone()[0] == as_of
        new_id = conn.execute("INSERT INTO model_history (run_id, provider_slug, model_id, changes) "
                              "VALUES ('n', 'p', 'm', ARRAY['added']) RETURNING id").fetchone()[0]
        assert new_id == 51  # the same sequence goes on


def _finish(own: list[dict], beside: list[dict], everything: list[dict]) -> tuple[float, float]:
    """When each connection would finish, by the costs split_loads weighs."""
    rows = lambda loads: sum(load["rows"] for load in loads)  # noqa: E731
    return (refresh_models.COST_FILL_AND_ATTACH * rows(own) + refresh_models.COST_ATTACH_BUILT * rows(beside),
            refresh_models.COST_HISTORY_BESIDE * rows(everything) + refresh_models.COST_FILL_BESIDE * rows(beside))


def test_a_first_load_of_many_catalogs_is_split_between_the_two_connections():
    loads = [{"slug": f"p{i}", "rows": 100_000} for i in range(10)]
    own, beside = refresh_models.split_loads(loads)
    assert 1 <= len(beside) <= 3, (len(own), len(beside))  # the history batch is most of the second's work
    assert own + beside != loads and sorted(own + beside, key=lambda load: load["slug"]) == loads
    assert own == [load for load in loads if load in own] and beside == [load for load in loads if load in beside]
    own_finish, beside_finish = _finish(own, beside, loads)
    assert abs(own_finish - beside_finish) < refresh_models.COST_FILL_AND_ATTACH * 100_000
    # one small catalog is not worth handing over: the second connection has its history rows to write
    assert refresh_models.split_loads(loads[:1]) == (loads[:1], [])


@given(st.lists(st.integers(min_value=0, max_value=2_000_000), max_size=40))
def test_splitting_the_first_loads_never_makes_them_finish_later(sizes):
    """Every load is built once, by one connection, and by the costs weighed the two finish no later than if
    the refresh's connection built every partition itself (and the second only the history batch)."""
    loads = [{"slug": f"p{i}", "rows": n} for i, n in enumerate(sizes)]
    own, beside = refresh_models.split_loads(loads)
    assert sorted(load["slug"] for load in own + beside) == sorted(load["slug"] for load in loads)
    assert max(_finish(own, beside, loads)) <= max(_finish(loads, [], loads)) + 1e-6
