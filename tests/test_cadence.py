"""cadence.yaml: per-provider cadence and max age, schedules from it, and errors that name the entry."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from modelsync_pipeline.cadence import Cadence, CadenceError, load_cadence, stale_since
from modelsync_pipeline.definitions import defs


def test_the_shipped_cadence_syncs_openrouter_hourly_and_the_others_daily():
    default, cadence = load_cadence()
    assert default == Cadence("0 4 * * *", 26.0)
    assert cadence["openrouter"] == Cadence("0 0-3,5-23 * * *", 3.0) and cadence["groq"] == default
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["sync_openrouter_schedule"].cron_schedule == "0 0-3,5-23 * * *"  # not at 04:00: daily_sync syncs it then
    assert schedules["daily_sync"].job_name == "sync_all"
    job = defs.resolve_job_def("sync_openrouter")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= {
        "openrouter_catalog", "provider_catalogs", "models_table", "models_cache"}
    assert "groq_catalog" not in {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    # no destructive job is ever scheduled
    assert {s.job_name for s in defs.schedules} <= {"sync_all", "sync_openrouter"}


@pytest.mark.parametrize(("text", "message"), [
    ("default: {cron: '0 4 * * *', max_age_hours: 26}\nproviders: {nope: {cron: '0 * * * *', max_age_hours: 1}}",
     r"unknown provider\(s\) nope"),
    ("default: {cron: '0 4 * *', max_age_hours: 26}", "cron must have 5 fields"),
    ("default: {cron: '0 4 * * *', max_age_hours: 0}", "max_age_hours must be a positive number"),
    ("providers: {}", "default: expected"),
    # plain YAML keeps the second entry of a key given twice: this provider's 3 h limit was silently dropped
    ("default: {cron: '0 4 * * *', max_age_hours: 26}\nproviders:\n"
     "  openrouter: {cron: '0 * * * *', max_age_hours: 3}\n"
     "  openrouter: {cron: '0 5 * * *', max_age_hours: 30}", r"'openrouter' is given twice \(line 4\)"),
    ("- default\n- providers", "expected a mapping with default and providers"),  # was an AttributeError
    # a ValueError and an OverflowError from timedelta before
    ("default: {cron: '0 4 * * *', max_age_hours: .nan}", "max_age_hours must be a positive number"),
    ("default: {cron: '0 4 * * *', max_age_hours: .inf}", "max_age_hours must be a positive number"),
    ("default: {cron: '0 4 * * *', max_age_hours: 26}\nproviders: {? [groq, xai] : {cron: '0 5 * * *'}}",
     r"a key that is a list, \['groq', 'xai'\] \(line 2\)"),  # was a TypeError: unhashable type
])
def test_a_wrong_cadence_file_names_the_entry(tmp_path, text, message):
    path = tmp_path / "cadence.yaml"
    path.write_text(text)
    with pytest.raises(CadenceError, match=message) as err:
        load_cadence(path)
    assert str(path) in str(err.value)


def test_stale_since():
    cadence = Cadence("0 * * * *", 3.0)
    now = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)
    assert stale_since(cadence, now - dt.timedelta(hours=2), now) is None
    assert stale_since(cadence, now - dt.timedelta(hours=5), now) == (
        "STALE since 2026-11-26T10:00:00+00:00 (max age 3 h)")
    assert stale_since(cadence, None, now) == "STALE: never synced"


def test_every_provider_asset_declares_its_freshness():
    specs = {spec.key.to_user_string(): spec for asset in defs.assets for spec in asset.specs}
    assert specs["openrouter_catalog"].freshness_policy.fail_window.to_timedelta() == dt.timedelta(hours=3)
    assert specs["groq_catalog"].freshness_policy.fail_window.to_timedelta() == dt.timedelta(hours=26)


def _schedules_of_a_code_location_loaded_with(cadence_file) -> dict[str, str]:
    """{schedule: cron} of the code location as a fresh process loads it with MODELSYNC_CADENCE_FILE (the
    file is read when the code location loads, so not in this test's process, which has loaded it already)."""
    code = ("import json; from modelsync_pipeline.definitions import defs; "
            "print(json.dumps({s.name: s.cron_schedule for s in defs.schedules}))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MODELSYNC_CADENCE_FILE": str(cadence_file)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_daily_sync_runs_at_the_default_cron_of_the_cadence_file(tmp_path):
    """Retuning the default in cadence.yaml moves daily_sync (it stayed at 04:00 whatever the file said), and a
    provider whose cron is the default's, however spaced, is synced by daily_sync alone, not also by a schedule
    of its own at the same minute."""
    path = tmp_path / "cadence.yaml"
    path.write_text("default: {cron: '30 6 * * *', max_age_hours: 26}\n"
                    "providers:\n"
                    "  groq: {cron: '30  06 * * *', max_age_hours: 12}\n"
                    "  openrouter: {cron: '0 * * * *', max_age_hours: 3}\n")
    assert load_cadence(path)[1]["groq"] == Cadence("30 6 * * *", 12.0)
    assert _schedules_of_a_code_location_loaded_with(path) == {
        "daily_sync": "30 6 * * *", "sync_openrouter_schedule": "0 * * * *"}


def test_an_anchor_shared_between_entries_is_no_duplicate(tmp_path):
    path = tmp_path / "cadence.yaml"
    path.write_text("default: &daily {cron: '0 4 * * *', max_age_hours: 26}\n"
                    "providers: {groq: {<<: *daily, max_age_hours: 12}}\n")
    assert load_cadence(path)[1]["groq"] == Cadence("0 4 * * *", 12.0)


@pytest.mark.parametrize(("cron", "entry"), [("61 * * * *", "providers.openrouter"), ("0 0 30 2 *", "default")])
def test_a_cron_dagster_cannot_schedule_fails_the_load_naming_the_file_and_entry(tmp_path, cron, entry):
    """A minute 61 or February 30 passed the file's own checks and failed the load with Dagster's words about
    a schedule, naming neither the file nor the entry; `make run` then ended in that traceback."""
    path = tmp_path / "cadence.yaml"
    provider = f"'{cron}'" if entry != "default" else "'0 * * * *'"
    default = f"'{cron}'" if entry == "default" else "'0 4 * * *'"
    path.write_text(f"default: {{cron: {default}, max_age_hours: 26}}\n"
                    f"providers: {{openrouter: {{cron: {provider}, max_age_hours: 3}}}}\n")
    code = "import modelsync_pipeline.definitions"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MODELSYNC_CADENCE_FILE": str(path)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"modelsync_pipeline.cadence.CadenceError: {path}: {entry}: cron '{cron}' is no cron Dagster can schedule "
        "(5 fields, each in range, a day that exists in its month)")
