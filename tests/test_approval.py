"""Destructive jobs need a one-time code made with the admin secret, which itself is never stored anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
import psycopg
import pytest
import redis as redis_lib

from modelsync_pipeline import approval
from modelsync_pipeline.definitions import defs

from .pipeline import approval_for, resources, step_failures
from .test_cli import REPO_ROOT
from .test_admin import audit_rows, run_admin, snapshot


def test_codes_are_bound_to_the_secret_the_job_the_arguments_and_a_time_window(admin_secret):
    code = approval.issue(admin_secret, "flush_providers", {"provider_count": 37}, now=1_000_000)
    assert approval.verify(admin_secret, code, "flush_providers", {"provider_count": 37}, now=1_000_100)
    refusals = {
        "another secret": lambda: approval.verify("x" * 32, code, "flush_providers", {"provider_count": 37}, now=1_000_100),
        "another job": lambda: approval.verify(admin_secret, code, "flush_models", {}, now=1_000_100),
        "other arguments": lambda: approval.verify(admin_secret, code, "flush_providers", {"provider_count": 36}, now=1_000_100),
        "expired": lambda: approval.verify(admin_secret, code, "flush_providers", {"provider_count": 37}, now=1_000_601),
        "from the future": lambda: approval.verify(admin_secret, code, "flush_providers", {"provider_count": 37}, now=999_000),
        "malformed": lambda: approval.verify(admin_secret, "not-a-code", "flush_providers", {"provider_count": 37}),
        "no secret": lambda: approval.verify(None, code, "flush_providers", {"provider_count": 37}),
        "a short secret": lambda: approval.verify("short", code, "flush_providers", {"provider_count": 37}),
    }
    for what, attempt in refusals.items():
        with pytest.raises(approval.ApprovalRefused):
            attempt()
            pytest.fail(f"a code was accepted with {what}")


def _flush(synced_url, redis_url, code=None):
    config = {"confirm": "DELETE_ALL_MODELS"}
    if code is not None:
        config["approval"] = code
    return run_admin("flush_models", synced_url, redis_url, config)


def test_every_wrong_code_is_refused_audited_and_changes_nothing(synced, redis_url, admin_secret, monkeypatch):
    before = snapshot(synced)
    expired = approval.issue(admin_secret, "flush_models", {}, now=time.time() - 3600)
    cases = {
        "": "config approval is empty",
        "garbage": "not a code printed by",
        approval_for("flush_providers", {"provider_count": -1}): "not valid for flush_models",
        approval.issue("another-secret-of-32-characters!", "flush_models", {}): "not valid for flush_models",
        expired: "expired",
    }
    for code, reason in cases.items():
        result = _flush(synced, redis_url, code)
        assert not result.success and reason in step_failures(result)["models_table"], code
        assert snapshot(synced) == before
        assert audit_rows(synced)[-1]["outcome"] == "refused" and reason in audit_rows(synced)[-1]["error"]

    # a code for the other arguments of a job bound to arguments
    code = approval_for("restore_backup", {"backup_id": 1})
    result = run_admin("restore_backup", synced, redis_url, {"backup_id": 2, "confirm": "RESTORE", "approval": code})
    assert not result.success and snapshot(synced) == before

    # no secret configured where the job runs: refused, saying how to configure it
    monkeypatch.delenv(approval.SECRET_ENV)
    result = _flush(synced, redis_url, "1.2.3")
    assert "need the admin secret MODELSYNC_ADMIN_TOKEN" in step_failures(result)["models_table"]
    assert snapshot(synced) == before


def test_a_code_is_accepted_once(synced, redis_url):
    code = approval_for("flush_models")
    assert _flush(synced, redis_url, code).success
    assert sync_again(synced, redis_url)
    before = snapshot(synced)
    replay = _flush(synced, redis_url, code)
    assert not replay.success and "already used" in step_failures(replay)["models_table"]
    assert snapshot(synced) == before
    # Other spellings of the same code: int() reads each as the same time, so each would have been "new".
    issued_at, rest = code.split(".", 1)
    arabic = "".join(chr(0x0660 + int(d)) for d in issued_at)
    for spelling in (f"0{code}", f"00{code}", f"{arabic}.{rest}", f"+{code}", f" {code}\n"):
        replay = _flush(synced, redis_url, spelling)
        assert not replay.success, spelling
        failure = step_failures(replay)["models_table"]
        assert "already used" in failure or "not a code printed by" in failure, (spelling, failure)
    assert snapshot(synced) == before


def test_the_fingerprint_is_of_the_code_not_of_its_spelling(admin_secret):
    code = approval.issue(admin_secret, "flush_models", {})
    assert approval.verify(admin_secret, f"  {code}\n", "flush_models", {}) == approval.verify(admin_secret, code, "flush_models", {})
    for spelling in (f"0{code}", f"+{code}", "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in code[:3]) + code[3:]):
        with pytest.raises(approval.ApprovalRefused, match="not a code printed by"):
            approval.verify(admin_secret, spelling, "flush_models", {})


def sync_again(database_url, redis_url) -> bool:
    from .pipeline import sync

    return sync(database_url, redis_url).success


def test_a_reset_needs_its_own_code(synced, redis_url):
    from .pipeline import sync

    before = snapshot(synced)
    result = sync(synced, redis_url, mode="reset", approval=approval_for("flush_models"))
    assert not result.success
    # refused before fetching: not after fetching and staging every provider
    message = step_failures(result)["fetch_provider_catalogs"]
    assert "not valid for reset_and_resync" in message and message.endswith("nothing was fetched")
    assert "models_table" not in step_failures(result)
    assert not result.get_asset_materialization_events()
    assert snapshot(synced) == before
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT action, outcome FROM audit_log ORDER BY id DESC LIMIT 1").fetchone() == (
            "reset_and_resync", "refused")
        assert conn.execute("SELECT count(*) FROM sync_attempts WHERE run_id = %s", (result.run_id,)).fetchone()[0] == 0


def test_a_reset_with_a_used_code_is_refused_before_fetching(synced, redis_url):
    from .pipeline import sync

    code = approval_for("reset_and_resync")
    assert sync(synced, redis_url, mode="reset", approval=code).success
    result = sync(synced, redis_url, mode="reset", approval=code)
    assert not result.success
    assert "already used" in step_failures(result)["fetch_provider_catalogs"]
    assert not result.get_asset_materialization_events()


def test_the_secret_is_never_stored_or_logged(tmp_path, database_url, redis_url, admin_secret, capfd):
    """Approved and refused jobs on a persistent Dagster instance; then search every store for the secret."""
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        assert dg.materialize(list(defs.assets), resources=resources(database_url, redis_url),
                              instance=instance).success
        for config in ({"confirm": "DELETE_ALL_MODELS", "approval": approval_for("flush_models")},
                       {"confirm": "DELETE_ALL_MODELS", "approval": "wrong"},
                       {"confirm": "DELETE_ALL_MODELS"}):
            defs.resolve_job_def("flush_models").execute_in_process(
                run_config=config,
                resources=resources(database_url, redis_url), instance=instance, raise_on_error=False)
        approve = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "approve", "flush_models"],
                                 cwd=REPO_ROOT, env=os.environ, capture_output=True, text=True, timeout=60)
        assert approve.returncode == 0
        logs = [entry.user_message for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        run_configs = [str(run.run_config) for run in instance.get_runs()]

    secret = admin_secret
    out, err = capfd.readouterr()
    assert secret not in out + err + approve.stdout + approve.stderr
    assert not any(secret in text for text in logs + run_configs)
    for path in (tmp_path / "dagster").rglob("*"):  # run storage and event log (sqlite files), compute logs
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    with psycopg.connect(database_url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
        for table in tables:
            hit = conn.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', (f"%{secret}%",)).fetchone()
            assert hit == (0,), table
    client = redis_lib.Redis.from_url(redis_url)
    for key in client.scan_iter(count=1000):
        assert secret.encode() not in key
        kind = client.type(key)
        value = (client.get(key) if kind == b"string" else str(client.zrange(key, 0, -1) if kind == b"zset" else
                 client.smembers(key) if kind == b"set" else client.hgetall(key)).encode())
        assert secret.encode() not in (value or b"")


def test_a_code_whose_write_failed_and_rolled_back_can_be_used_again(synced, redis_url, monkeypatch):
    """A flush that failed inside its transaction changed nothing, yet its code was used up: the operator
    needed a new one to retry."""
    code = approval_for("flush_models")
    before = snapshot(synced)
    monkeypatch.setenv("MODELSYNC_FAULT", "flush_models:after_delete=raise")
    failed = _flush(synced, redis_url, code)
    assert not failed.success and "not used up" in step_failures(failed)["models_table"]
    assert snapshot(synced) == before
    monkeypatch.delenv("MODELSYNC_FAULT")
    assert _flush(synced, redis_url, code).success  # the same code, once
    replay = _flush(synced, redis_url, code)
    assert not replay.success and "already used" in step_failures(replay)["models_table"]


@pytest.mark.parametrize("job,where", [("flush_models", "`approval: <code>` at the top of the job's config"),
                                       ("reset_and_resync", "`ops: {models_table: {config: {approval: <code>}}}`")])
def test_approve_says_where_the_code_goes_in_the_job_config(admin_secret, job, where):
    """reset_and_resync is models_table in mode reset: its code goes under the asset's config, and a top-level
    `approval` (what the hint said for every job) failed with a Dagster traceback."""
    approve = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "approve", job],
                             cwd=REPO_ROOT, env=os.environ, capture_output=True, text=True, timeout=60)
    assert approve.returncode == 0, approve.stderr
    assert f"put it in the run config as {where}" in approve.stderr


@pytest.mark.parametrize("job,args", [("restore_backup", {"backup_id": 3}), ("flush_providers", {"provider_count": 37}),
                                      ("flush_models", {})])
def test_the_command_an_empty_approval_names_makes_a_code_the_job_accepts(admin_secret, job, args):
    """The hint said `make approve J=restore_backup`, which refuses: restore and flush_providers codes are bound
    to an argument the command must be given too."""
    with pytest.raises(approval.ApprovalRefused) as refused:
        approval.verify(admin_secret, "", job, args)
    command = str(refused.value).split("run `", 1)[1].split("`", 1)[0]
    assert command.startswith(f"modelsync approve {job}")
    made = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", *command.split()[1:]], cwd=REPO_ROOT,
                          env={**os.environ, approval.SECRET_ENV: admin_secret}, capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    assert approval.verify(admin_secret, made.stdout.strip(), job, args)
    options = command.split(job, 1)[1].strip()
    assert f"make approve J={job}" + (f' A="{options}"' if options else "") in str(refused.value)
