"""The admin jobs: confirmations, backups and exact restores, the audit log, history, plans, the shrink guard."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import psycopg
import pytest

from modelsync_pipeline.definitions import defs
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG
from modelsync_pipeline.resources import PostgresResource

from .pipeline import approval_for, provider_failures, providers, resources, step_failures, sync
from .test_failures import _shrink
from .test_pipeline import cached_rows, counts_by_provider, expected_counts, table_rows


def run_admin(job: str, database_url, redis_url, config: dict | None = None, tags=None, retention=None, instance=None):
    res = resources(database_url, redis_url)
    if retention is not None:
        res["postgres"] = PostgresResource(database_url=database_url, backup_retention=retention)
    if config is not None and job != "sync_providers" and "approval" not in config:
        bound = {key: config[key] for key in ("provider_count", "backup_id") if key in config}
        if job == "flush_providers":
            bound.setdefault("provider_count", -1)
        config = {**config, "approval": approval_for(job, bound)}
    run_config = config if config is not None else {}
    return defs.resolve_job_def(job).execute_in_process(
        run_config=run_config, resources=res, raise_on_error=False, tags=tags or {}, instance=instance)


def snapshot(database_url) -> tuple:
    with psycopg.connect(database_url) as conn:
        providers = conn.execute("SELECT * FROM providers ORDER BY id").fetchall()
        models = conn.execute("SELECT * FROM models ORDER BY id").fetchall()
    return providers, models


def audit_rows(database_url) -> list[dict]:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("SELECT action, outcome, dry_run, models_before, models_after, backup_id, error, launched_by FROM audit_log ORDER BY id")
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


@pytest.mark.parametrize("confirm", ["", "delete_all_models", "DELETE_ALL_MODELS "])
def test_flush_models_without_the_exact_confirmation_is_refused(synced, redis_url, confirm):
    before = snapshot(synced)
    result = run_admin("flush_models", synced, redis_url, {"confirm": confirm})
    assert not result.success
    message = step_failures(result)["models_table"]
    assert "flush_models refused, nothing was changed" in message and "'DELETE_ALL_MODELS'" in message
    assert snapshot(synced) == before
    assert audit_rows(synced)[-1]["outcome"] == "refused" and "DELETE_ALL_MODELS" in audit_rows(synced)[-1]["error"]


def test_flush_models_backs_up_deletes_audits_and_republishes_the_cache(synced, redis_url, redis_client):
    result = run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"})
    assert result.success, step_failures(result)
    assert table_rows(synced) == {}
    assert cached_rows(redis_client) == {}
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"], last["models_before"], last["models_after"]) == (
        "flush_models", "succeeded", sum(expected_counts().values()), 0)
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT model_count, reason FROM backups WHERE id = %s", (last["backup_id"],)).fetchone() == (
            sum(expected_counts().values()), "flush_models")
        removed = conn.execute("SELECT count(*) FROM model_history WHERE 'removed' = ANY(changes)").fetchone()[0]
    assert removed == sum(expected_counts().values())
    # the change is a materialization of models_table (its history shows it); only models_cache published the cache
    table = result.asset_materializations_for_node("models_table")
    assert [(m.metadata["action"].value, m.metadata["models_after"].value) for m in table] == [("flush_models", 0)]
    assert table[0].metadata["backup_id"].value == last["backup_id"]
    assert [m.metadata["row_count"].value for m in result.asset_materializations_for_node("models_cache")] == [0]
    assert {e.step_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"} == {
        "models_table", "models_cache"}
    # staged catalogs survive a flush: publishing reloads them
    assert sync(synced, redis_url, selection=[dg.AssetKey("models_table"), dg.AssetKey("models_cache")]).success
    assert counts_by_provider(synced) == expected_counts()


def test_flush_providers_needs_both_confirmations(synced, redis_url):
    before = snapshot(synced)
    count = len(before[0])
    for config, missing in [({"confirm": "DELETE_EVERYTHING"}, "provider_count must be the current provider count"),
                            ({"confirm": "nope", "provider_count": count}, "'DELETE_EVERYTHING'"),
                            ({"confirm": "DELETE_EVERYTHING", "provider_count": count + 1}, f"count {count}")]:
        result = run_admin("flush_providers", synced, redis_url, config)
        assert not result.success and missing in step_failures(result)["models_table"]
        assert snapshot(synced) == before
    result = run_admin("flush_providers", synced, redis_url, {"confirm": "DELETE_EVERYTHING", "provider_count": count})
    assert result.success, step_failures(result)
    assert snapshot(synced) == ([], [])
    assert [r["outcome"] for r in audit_rows(synced)[-4:]] == ["refused", "refused", "refused", "succeeded"]


def test_a_refusal_says_everything_missing_at_once_and_the_code_to_make(synced, redis_url, admin_secret):
    """A wrong provider_count and an empty approval reported only the count; mended, the run was refused
    again for the code, whose hint named the wrong count's command."""
    before = snapshot(synced)
    count = len(before[0])
    result = run_admin("flush_providers", synced, redis_url,
                       {"confirm": "DELETE_EVERYTHING", "provider_count": -1, "approval": ""})
    message = step_failures(result)["models_table"]
    assert f"provider_count must be the current provider count {count} (got -1)" in message
    assert f"`modelsync approve flush_providers --provider-count {count}`" in message
    assert snapshot(synced) == before


def test_restore_reproduces_the_backup_exactly_and_is_itself_backed_up(synced, redis_url, redis_client, replay_dir):
    before = snapshot(synced)
    count = len(before[0])
    assert run_admin("flush_providers", synced, redis_url, {"confirm": "DELETE_EVERYTHING", "provider_count": count}).success
    backup_id = audit_rows(synced)[-1]["backup_id"]
    # the world moves on after the flush: a new sync with a smaller catalog
    _shrink(replay_dir, "openai", 5)
    assert sync(synced, redis_url, replay_dir, force=True).success
    handed_out = snapshot(synced)  # ids readers were given between the flush and the restore

    refused = run_admin("restore_backup", synced, redis_url, {"backup_id": backup_id})
    assert not refused.success and "'RESTORE'" in step_failures(refused)["models_table"]
    result = run_admin("restore_backup", synced, redis_url, {"backup_id": backup_id, "confirm": "RESTORE"})
    assert result.success, step_failures(result)
    assert snapshot(synced) == before  # same rows, same ids
    # models_table's checksum is the one models_cache compares with, as after any other write: the restore's detail
    # (the tables as backups hash them) overwrote it, and an operator read a cache that matched as one that did not
    table_meta, cache_meta = (result.asset_materializations_for_node(node)[-1].metadata
                              for node in ("models_table", "models_cache"))
    assert table_meta["checksum"].value == cache_meta["checksum"].value
    assert cache_meta["matches_table"].value is True
    with psycopg.connect(synced) as conn:
        expected = conn.execute("SELECT checksum FROM backups WHERE id = %s", (backup_id,)).fetchone()[0]
        assert conn.execute("SELECT catalog_tables_checksum()").fetchone()[0] == expected
        pre_restore = conn.execute("SELECT model_count FROM backups WHERE reason = %s", (f"before restore of backup {backup_id}",)).fetchone()
        assert pre_restore is not None  # the restore backed up what it replaced
        # new rows get ids past the restored ones, and past every id handed out since the backup: a sequence set
        # back to the backup's highest id would give a new model the id readers knew as another's
        next_id = conn.execute("SELECT nextval(pg_get_serial_sequence('models', 'id'))").fetchone()[0]
        assert next_id > max(r[0] for r in before[1] + handed_out[1])
        next_provider = conn.execute("SELECT nextval(pg_get_serial_sequence('providers', 'id'))").fetchone()[0]
        assert next_provider > max(r[0] for r in before[0] + handed_out[0])
    assert cached_rows(redis_client) == table_rows(synced)
    assert audit_rows(synced)[-1]["action"] == "restore_backup"


def test_restore_of_a_missing_backup_is_refused(synced, redis_url):
    result = run_admin("restore_backup", synced, redis_url, {"backup_id": 999999, "confirm": "RESTORE"})
    assert "backup 999999 does not exist" in step_failures(result)["models_table"]


def test_backups_are_pruned_by_retention(synced, redis_url):
    for _ in range(4):
        assert run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"}, retention=2).success
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT count(*) FROM backups").fetchone()[0] == 2
        assert conn.execute("SELECT count(DISTINCT backup_id) FROM backup_models").fetchone()[0] <= 2


def test_the_oldest_kept_backup_can_be_restored(synced, redis_url):
    """Retention 3, backups 1, 2, 3: restoring the oldest must not prune it with its own pre-restore backup."""
    for _ in range(3):
        assert run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"}, retention=3).success
    with psycopg.connect(synced) as conn:
        kept = [r[0] for r in conn.execute("SELECT id FROM backups ORDER BY id")]
        oldest_models = conn.execute("SELECT model_count FROM backups WHERE id = %s", (kept[0],)).fetchone()[0]
    assert len(kept) == 3 and oldest_models == sum(expected_counts().values())
    result = run_admin("restore_backup", synced, redis_url, {"backup_id": kept[0], "confirm": "RESTORE"}, retention=3)
    assert result.success, step_failures(result)
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == oldest_models
        assert kept[0] in [r[0] for r in conn.execute("SELECT id FROM backups")]


def test_a_cache_that_does_not_match_after_an_admin_write_is_refused_and_says_so(
        synced, redis_url, redis_client, monkeypatch):
    from modelsync_pipeline import cache

    version_before = cache.current_version(redis_client)

    def mismatch(*args, **kwargs):
        raise cache.CacheMismatch("cache version x does not match the table: `all` holds 3 models, the snapshot 0")

    monkeypatch.setattr(cache, "_verify", mismatch)
    result = run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"})
    assert not result.success
    assert "models_table" not in step_failures(result)              # the flush committed, as models_table's
    message = step_failures(result)["models_cache"]                 # only models_cache publishes the cache
    assert "the new cache version was refused" in message and "stays committed" in message
    assert "does not match the table" in message and "CacheMismatch" not in message.split(":")[0]
    assert table_rows(synced) == {}                                 # the flush itself committed
    assert cache.current_version(redis_client) == version_before    # readers stay on the previous version


def test_destructive_jobs_refuse_to_run_from_a_schedule_or_sensor(synced, redis_url):
    before = snapshot(synced)
    for tags in ({"dagster/schedule_name": "daily_sync"}, {"dagster/sensor_name": "publish_after_partial_sync"}):
        result = run_admin("flush_models", synced, redis_url, {"confirm": "DELETE_ALL_MODELS"}, tags=tags)
        assert "never run from a schedule or a sensor" in step_failures(result)["models_table"]
    assert snapshot(synced) == before


def test_dry_runs_write_nothing(synced, redis_url, replay_dir):
    _shrink(replay_dir, "mistral", 40)
    assert sync(synced, redis_url, replay_dir, selection=[providers("mistral")[0]]).success  # staged only
    before = snapshot(synced)
    result = sync(synced, redis_url, replay_dir, selection=[dg.AssetKey("models_table")], dry_run=True)
    assert result.success
    assert snapshot(synced) == before
    observation = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][0]
    meta = observation.event_specific_data.asset_observation.metadata
    assert meta["removed"].value == 13 and meta["added"].value == 0
    assert "mistral" in meta["samples"].value
    for job, config in [("flush_models", {"confirm": "DELETE_ALL_MODELS", "dry_run": True})]:
        planned = run_admin(job, synced, redis_url, config)
        assert planned.success
        observed = [e.event_specific_data.asset_observation.metadata for e in planned.all_events
                    if e.event_type_value == "ASSET_OBSERVATION"][0]
        # each count named: the UI showed `would_leave: [37, 0]`
        assert (observed["would_leave_providers"].value, observed["would_leave_models"].value) == (len(before[0]), 0)
    assert snapshot(synced) == before
    assert [r["outcome"] for r in audit_rows(synced)[-2:]] == ["planned", "planned"]


def test_reset_and_resync_reloads_in_one_transaction_with_new_ids(synced, redis_url, redis_client):
    before = table_rows(synced)
    result = sync(synced, redis_url, mode="reset")
    assert result.success, step_failures(result)
    after = table_rows(synced)
    strip = lambda rows: {k: {f: v for f, v in r.items() if f not in ("id", "updated_at", "sync_run_id")} for k, r in rows.items()}  # noqa: E731
    assert strip(after) == strip(before)
    assert {r["id"] for r in after.values()}.isdisjoint({r["id"] for r in before.values()})
    assert cached_rows(redis_client) == after
    assert audit_rows(synced)[-1]["action"] == "reset_and_resync" and audit_rows(synced)[-1]["backup_id"]


def test_history_records_every_change_and_answers_as_of(synced, redis_url, replay_dir):
    time_before = dt.datetime.now(dt.timezone.utc)
    spec = PROVIDERS_BY_SLUG["groq"]
    path = replay_dir / spec.recorded
    payload = json.loads(path.read_text())
    records = payload["data"]
    old = {r["id"]: dict(r) for r in records}
    records[1]["context_window"] = 65536                       # context changed
    records[2]["id"] = "gemma2-9b-it-renamed"                  # removed + added
    removed_id = records.pop(3)["id"]                          # removed
    path.write_text(json.dumps(payload))
    result = sync(synced, redis_url, replay_dir, selection=providers("groq"))
    assert result.success, step_failures(result)
    with psycopg.connect(synced) as conn:
        rows = conn.execute("SELECT model_id, changes, old_values->>'context_length', new_values->>'context_length' "
                            "FROM model_history WHERE provider_slug = 'groq' AND run_id = %s ORDER BY model_id",
                            (result.run_id,)).fetchall()
        history = {r[0]: r for r in rows}
        assert history[records[1]["id"]][1:] == (["context_changed"], str(old[records[1]["id"]]["context_window"]), "65536")
        assert history["gemma2-9b-it-renamed"][1] == ["added"]
        assert history["gemma2-9b-it"][1] == ["removed"] and history[removed_id][1] == ["removed"]
        assert len(rows) == 4
        # what did it look like before this run?
        as_of = conn.execute("SELECT model_as_of('groq', %s, %s)", (records[1]["id"], time_before)).fetchone()[0]
        assert as_of["context_length"] == old[records[1]["id"]]["context_window"]
        assert conn.execute("SELECT model_as_of('groq', %s, now())", (records[1]["id"],)).fetchone()[0]["context_length"] == 65536
        assert conn.execute("SELECT model_as_of('groq', %s, now())", (removed_id,)).fetchone()[0] is None
        assert conn.execute("SELECT model_as_of('groq', 'gemma2-9b-it-renamed', %s)", (time_before,)).fetchone()[0] is None
        # an unchanged re-sync adds no history
        count = conn.execute("SELECT count(*) FROM model_history").fetchone()[0]
    assert sync(synced, redis_url, replay_dir).success
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT count(*) FROM model_history").fetchone()[0] == count


def test_shrunken_catalog_is_held_back_unless_forced(synced, redis_url, replay_dir):
    before = table_rows(synced)
    _shrink(replay_dir, "deepinfra", 20)  # 60 -> 20: lost two thirds
    result = sync(synced, redis_url, replay_dir)
    assert list(provider_failures(result)) == ["deepinfra_catalog"]
    assert "shrank from 60 to 20" in provider_failures(result)["deepinfra_catalog"]
    assert result.success  # the others were published in the same run; deepinfra kept its 60
    assert table_rows(synced) == before
    assert sync(synced, redis_url, replay_dir, selection=providers("deepinfra"), force=True).success
    assert counts_by_provider(synced)["deepinfra"] == 20


def test_status_report_and_providers_only_sync(synced, redis_url):
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("DELETE FROM providers WHERE slug = 'groq'")  # cascades to its models
    plan = run_admin("sync_providers", synced, redis_url, {"dry_run": True})
    assert plan.success and not plan.asset_materializations_for_node("models_table")
    assert audit_rows(synced)[-1]["outcome"] == "planned"
    providers_only = run_admin("sync_providers", synced, redis_url)
    assert providers_only.success
    [change] = providers_only.asset_materializations_for_node("models_table")
    assert change.metadata["action"].value == "sync_providers" and change.metadata["providers_added"].value == "1"
    assert audit_rows(synced)[-1]["action"] == "sync_providers"
    assert sync(synced, redis_url, selection=[dg.AssetKey("models_table")]).success  # groq's staged catalog reloads
    result = sync(synced, redis_url, selection=[dg.AssetKey("catalog_status")])
    assert result.success
    meta = result.asset_materializations_for_node("catalog_status")[0].metadata
    assert meta["models"].value == sum(expected_counts().values())
    assert meta["providers"].value == len(expected_counts()) and meta["without_models"].value == 0
    assert "openrouter" in meta["per_provider"].value
    with psycopg.connect(synced) as conn:
        by_modality = dict(conn.execute("SELECT modality, count(*) FROM models GROUP BY 1").fetchall())
    assert meta["per_modality"].value == by_modality


def test_a_reset_in_which_a_provider_failed_fails_whole_and_changes_nothing(synced, redis_url, replay_dir):
    """A reset reloads from this run's catalogs only: one provider failing fails it whole, audited; it never
    turns into a refresh of the others."""
    before = snapshot(synced)
    (replay_dir / "groq.status").write_text("503")
    code = approval_for("reset_and_resync")
    result = sync(synced, redis_url, replay_dir, mode="reset", approval=code)
    assert not result.success
    assert list(provider_failures(result)) == ["groq_catalog"]
    message = step_failures(result)["models_table"]
    assert "reset_and_resync failed whole, nothing was flushed" in message and "groq failed at fetch" in message
    assert snapshot(synced) == before
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == ("reset_and_resync", "failed") and "groq" in last["error"]

    # The outage ends: the code that approved a reset which wrote nothing still approves one, once.
    (replay_dir / "groq.status").unlink()
    assert sync(synced, redis_url, replay_dir, mode="reset", approval=code).success
    assert audit_rows(synced)[-1]["outcome"] == "succeeded"
    again = sync(synced, redis_url, replay_dir, mode="reset", approval=code)
    assert not again.success and "already used" in step_failures(again)["fetch_provider_catalogs"]  # before fetching


@pytest.mark.parametrize("selection", [["models_table"], ["models_table", "models_cache"], ["groq_catalog", "models_table"]],
                         ids=["table-alone", "re-executed-from-the-table", "one-provider"])
def test_a_reset_that_did_not_fetch_every_provider_in_its_run_fails_whole(synced, redis_url, replay_dir, selection):
    """A reset re-executed from its failed table step (or the table launched alone in reset mode) fetches
    nothing: it would flush everything and reload last run's catalogs under new ids. It fails whole, audited,
    naming what was not fetched."""
    before = snapshot(synced)
    result = sync(synced, redis_url, replay_dir, selection=[dg.AssetKey(key) for key in selection], mode="reset")
    assert not result.success
    message = step_failures(result)["models_table"]
    assert "reset_and_resync failed whole, nothing was flushed" in message
    if "groq_catalog" in selection:  # named, a few at a time
        assert f"{len(PROVIDERS) - 1} providers were not fetched in this run: openrouter, " in message, message
        assert "groq" not in message.split("not fetched in this run: ")[1]
    else:  # nothing fetched: said once, with what to do, not once per provider (1,575 characters of them)
        assert "no provider was fetched in this run (a re-execution from models_table" in message, message
        assert "launch reset_and_resync anew, whole" in message and len(message) < 600, message
    assert snapshot(synced) == before
    last = audit_rows(synced)[-1]
    assert (last["action"], last["outcome"]) == ("reset_and_resync", "failed")
    assert "fetched in this run" in last["error"]


def test_a_catalog_staged_while_a_reset_runs_is_loaded_or_left_for_the_next_refresh(synced, tmp_path, monkeypatch):
    """The reset stands after loading the rows; meanwhile a changed groq catalog is staged and committed. Either
    way the reset goes, the refresh after it must bring groq's rows to the staged catalog: never rows of the
    old catalog marked published as the new one (which every later refresh would take as done)."""
    import threading
    import time

    from modelsync_pipeline import db
    from modelsync_pipeline.catalog import build_catalog
    from modelsync_pipeline.providers.http import recorded_items
    from modelsync_pipeline.providers.registry import PROVIDERS

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    ready, go_on = tmp_path / "ready", tmp_path / "continue"
    monkeypatch.setenv("MODELSYNC_FAULT", "reset:after_insert=wait")
    monkeypatch.setenv("MODELSYNC_FAULT_READY", str(ready))
    monkeypatch.setenv("MODELSYNC_FAULT_CONTINUE", str(go_on))
    errors = []

    def reset():
        try:
            with db.connect(database_url, autocommit=True) as conn:
                db.reset_models_table(conn, PROVIDERS, "reset-run")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    spec = PROVIDERS_BY_SLUG["groq"]
    changed = build_catalog(spec, recorded_items(spec)[:-2])  # two models left the catalog upstream
    resetting = threading.Thread(target=reset)
    resetting.start()
    deadline = dt.datetime.now() + dt.timedelta(seconds=60)
    while not ready.exists():
        assert dt.datetime.now() < deadline and resetting.is_alive(), errors
        time.sleep(0.02)
    with db.connect(database_url, autocommit=True) as conn:
        db.stage_provider_catalog(conn, spec, changed, "stage-run")  # commits while the reset stands
    go_on.write_text("go")
    resetting.join(timeout=120)
    assert not errors, errors

    monkeypatch.delenv("MODELSYNC_FAULT")
    with db.connect(database_url, autocommit=True) as conn:
        db.refresh_models_table(conn, PROVIDERS, "refresh-run")
        rows = {r[0] for r in conn.execute(
            "SELECT m.model_id FROM models m JOIN providers p ON p.id = m.provider_id WHERE p.slug = 'groq'")}
    assert rows == set(changed["model_id"])


def test_a_write_queued_behind_another_audits_the_counts_it_found_not_the_ones_before_the_queue(
        synced, tmp_path, monkeypatch):
    """A refresh launched while a flush_models holds the lock waits for it; its audit row's "before" is the
    flushed table it then wrote to (0 models), not the full one it saw while waiting."""
    import threading
    import time

    from modelsync_pipeline import db, writes
    from modelsync_pipeline.providers.registry import PROVIDERS

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    full = sum(expected_counts().values())
    ready, go_on = tmp_path / "ready", tmp_path / "continue"
    monkeypatch.setenv("MODELSYNC_FAULT", "flush_models:after_delete=wait")
    monkeypatch.setenv("MODELSYNC_FAULT_READY", str(ready))
    monkeypatch.setenv("MODELSYNC_FAULT_CONTINUE", str(go_on))
    errors = []

    def in_thread(write):
        def run():
            try:
                with db.connect(database_url, autocommit=True) as conn:
                    write(conn)
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                errors.append(exc)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    flushing = in_thread(lambda conn: db.flush_models(conn, "flush-run"))
    while not ready.exists():
        assert flushing.is_alive(), errors
        time.sleep(0.02)
    refreshing = in_thread(lambda conn: writes.write_catalog(
        conn, writes.WriteRequest(mode="refresh", run_id="refresh-run", launched_by="test"), PROVIDERS))
    with psycopg.connect(database_url, autocommit=True) as watcher:
        while not watcher.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]:
            assert refreshing.is_alive(), errors
            time.sleep(0.02)
    go_on.write_text("go")
    flushing.join(timeout=60)
    refreshing.join(timeout=120)
    assert not errors, errors
    refresh = [r for r in audit_rows(database_url) if r["action"] == "refresh"][-1]
    assert (refresh["outcome"], refresh["models_before"], refresh["models_after"]) == ("succeeded", 0, full)
