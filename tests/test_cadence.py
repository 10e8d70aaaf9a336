"""cadence.yaml: per-provider cadence and max age, schedules from it, and errors that name the entry."""

from __future__ import annotations

import datetime as dt

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
