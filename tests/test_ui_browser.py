"""The Dagster UI as an operator uses it, in a real browser against `make ui` on loopback.

One UI per module (it takes ~15 s to load), on its own database, the session's Redis and a private copy of
the recorded payloads that each test edits for its own provider. A baseline sync through the CLI
(`python -m modelsync_pipeline.cli run`, same run storage) comes first, so the UI has history and the tables
have rows. Each test leaves a screenshot under .modelsync/artifacts/ui/<test name>.png.

What Dagster 1.13's UI offers, found by driving it: the asset pages' Materialize menu has no "with
downstream" entry; a node's context menu on the lineage graph has "Show downstream graph", whose
"Materialize all" materializes the asset and everything downstream of it. That is the path used here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import psycopg
import pytest
import redis
import yaml

from modelsync_pipeline import cache
from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.local.services import sqlalchemy_url
from modelsync_pipeline.providers.http import RECORDED_DIR
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

from .conftest import TEST_ADMIN_SECRET, flushed_redis, scratch_database
from .test_pipeline import cached_rows, table_rows
from .ui_browser import (ARTIFACTS, REPO_ROOT, DagsterUI, chromium_executable, edges_into, lineage_showing, set_keys,
                         sync_playwright)

RUN_TIMEOUT_MS = 120_000
GROQ = PROVIDERS_BY_SLUG["groq"]
OPENROUTER = PROVIDERS_BY_SLUG["openrouter"]


# --- fixtures: one UI, one database, one replay dir, one browser per module -------------------------------


@pytest.fixture(scope="module")
def ui_database(servers):
    with scratch_database(servers, "modelsync_ui") as url:
        yield url


@pytest.fixture(scope="module")
def ui_redis(servers):
    with flushed_redis(servers.redis_url) as url:
        yield url


@pytest.fixture(scope="module")
def ui_replay_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("ui_replay") / "recorded"
    shutil.copytree(RECORDED_DIR, target)
    return target


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory, ui_database, ui_redis, ui_replay_dir):
    state = tmp_path_factory.mktemp("ui_state")
    env = {**os.environ, "DATABASE_URL": ui_database, "REDIS_URL": ui_redis, "MODELSYNC_SOURCE": "replay",
           "MODELSYNC_REPLAY_DIR": str(ui_replay_dir), "MODELSYNC_ADMIN_TOKEN": TEST_ADMIN_SECRET,
           "DAGSTER_PG_URL": sqlalchemy_url(ui_database)}
    env.pop("DAGSTER_HOME", None)
    baseline = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "run", "--state-dir", str(state)],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert baseline.returncode == 0, f"baseline sync failed:\n{baseline.stdout[-3000:]}\n{baseline.stderr[-3000:]}"
    ui = DagsterUI(state, env)
    try:
        seconds = ui.wait_until_loaded()
        print(f"make ui ready on {ui.url} in {seconds:.1f} s")
        yield ui
    finally:
        ui.stop()


@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, dagster_ui, request):
    """A fresh page on the UI; the screenshot of where the test ended is saved whatever the outcome."""
    context = browser.new_context(base_url=dagster_ui.url, viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        context.close()


# --- what the tests read and write outside the browser ---------------------------------------------------


def _records(replay_dir, spec) -> tuple[dict | list, list]:
    payload = json.loads((replay_dir / spec.recorded).read_text())
    return payload, payload["data"] if isinstance(payload, dict) else payload


def _write(replay_dir, spec, payload) -> None:
    (replay_dir / spec.recorded).write_text(json.dumps(payload, indent=2))


def _provider_rows(database_url: str, slug: str) -> dict[str, tuple]:
    """{model_id: (model_name, context_length, sync_run_id)} of one provider in `models` joined to `providers`."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT m.model_id, m.model_name, m.context_length, m.sync_run_id "
            "FROM models m JOIN providers p ON p.id = m.provider_id WHERE p.slug = %s", (slug,)).fetchall()
    return {model_id: rest for model_id, *rest in rows}


def _counts(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM providers), (SELECT count(*) FROM models)").fetchone()


def _launched_run_id(page) -> str:
    """The run id from the "Launched run" toast's View link."""
    from playwright.sync_api import expect

    toast = page.get_by_text("Launched run")
    expect(toast).to_be_visible()
    href = page.get_by_role("link", name="View", exact=True).get_attribute("href")
    match = re.search(r"/runs/([0-9a-f-]{36})", href or "")
    assert match, f"the launch toast links to {href!r}, not to a run"
    return match.group(1)


def _open_run_and_wait(page, run_id: str, status: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text(run_id[:8]).first).to_be_visible()
    expect(page.get_by_text(status, exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)


# --- the four scenarios -------------------------------------------------------------------------------------------


def test_materializing_one_provider_with_downstream_publishes_its_new_catalog(page, ui_database, ui_redis,
                                                                              ui_replay_dir):
    from playwright.sync_api import expect

    before = _provider_rows(ui_database, GROQ.slug)
    assert before, "the baseline sync left no groq models"
    client = redis.Redis.from_url(ui_redis, decode_responses=True)
    old_version = cache.current_version(client)

    # groq's new catalog: one model more, and a context length that doubled (inside the truth guard's 10x)
    payload, records = _records(ui_replay_dir, GROQ)
    changed = next(r for r in records if r.get("active") is not False and r["id"] in before)
    changed["context_window"] = changed["context_window"] * 2
    added = {**changed, "id": "modelsync-ui-probe-8b", "context_window": 65536}
    records.append(added)
    _write(ui_replay_dir, GROQ, payload)
    expected = build_catalog(GROQ, records).set_index("model_id")

    page.goto("/asset-groups")
    page.get_by_label("Search and filter assets").focus()  # the query box (a CodeMirror editor)
    page.keyboard.type(f'key:"{GROQ.asset_name}"')
    page.keyboard.press("Enter")
    page.get_by_text(GROQ.asset_name, exact=True).last.click(button="right")
    page.get_by_role("menuitem", name=re.compile("Show downstream graph")).click()
    expect(page).to_have_url(re.compile(re.escape(f"key%3A%22{GROQ.asset_name}%22%2B")))
    page.get_by_role("button", name=re.compile(r"Materialize all$")).click()
    run_id = _launched_run_id(page)

    _open_run_and_wait(page, run_id, "Success")
    for asset in ("models_table", "models_cache"):
        page.goto(f"/assets/{asset}?view=events")
        expect(page.get_by_text(f"Materialized in run {run_id[:8]}")).to_be_visible()  # the screenshot: models_cache

    after = _provider_rows(ui_database, GROQ.slug)
    assert set(after) == set(expected.index) == set(before) | {added["id"]}
    for model_id, (name, context, _) in after.items():
        want = expected.at[model_id, "context_length"]
        assert (name, context) == (expected.at[model_id, "model_name"], None if pd.isna(want) else int(want)), model_id
    assert after[added["id"]][2] == run_id and after[changed["id"]][2] == run_id  # written by the UI's run
    assert after[changed["id"]][1] == before[changed["id"]][1] * 2

    assert cache.current_version(client) != old_version
    cached = {model_id: row for (slug, model_id), row in cached_rows(client).items() if slug == GROQ.slug}
    table = {model_id: row for (slug, model_id), row in table_rows(ui_database).items() if slug == GROQ.slug}
    assert cached == table
    assert cached[added["id"]]["context_length"] == 65536
    client.close()


def test_a_catalog_that_breaks_the_contract_fails_its_check_with_the_offending_rows(page, dagster_ui, ui_database, ui_replay_dir):
    from playwright.sync_api import expect

    before = _provider_rows(ui_database, OPENROUTER.slug)
    payload, records = _records(ui_replay_dir, OPENROUTER)
    # The naming rule leaves no name the contract refuses (tests/test_naming.py): what a payload can still break
    # is an id. Two records claim the first one, under different names.
    records[1]["id"] = records[0]["id"]
    _write(ui_replay_dir, OPENROUTER, payload)
    derived = build_catalog(OPENROUTER, records)
    expected = {(r.model_id, r.raw_name, r.model_name, r.name_rule)
                for r in derived.itertuples() if r.model_id == records[0]["id"]}
    assert len(expected) == 2

    page.goto(f"/assets/{OPENROUTER.asset_name}")
    page.get_by_role("button", name=re.compile(r"Materialize$")).click()
    run_id = _launched_run_id(page)
    _open_run_and_wait(page, run_id, "Success")

    page.goto(f"/assets/{OPENROUTER.asset_name}?view=checks")
    check = page.get_by_title("catalog_contract", exact=True).first.locator("xpath=..")  # name + its status
    expect(check).to_contain_text("Failed")
    check.click()
    expect(page.get_by_text("Evaluation result").locator("xpath=..")).to_contain_text("Failed")
    page.get_by_text("[Show Markdown]").first.click()  # offending_rows, the first markdown value of the check
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("offending_rows")
    header = dialog.get_by_role("columnheader").all_inner_texts()
    assert {"model_id", "raw_name", "model_name", "rule"} <= set(header), header
    shown = [dict(zip(header, row.get_by_role("cell").all_inner_texts()))
             for row in dialog.get_by_role("row").all() if row.get_by_role("cell").count()]
    offending = [r for r in shown if r["model_id"] == records[0]["id"]]
    assert {(r["model_id"], r["raw_name"], r["model_name"], r["rule"]) for r in offending} == expected, shown
    assert {r["check"] for r in offending} == {"unique_provider_model_id"}, offending

    assert _provider_rows(ui_database, OPENROUTER.slug) == before  # the blocked catalog wrote nothing


def test_a_destructive_job_without_its_approval_code_is_refused_from_the_launchpad(page, dagster_ui, ui_database):
    from playwright.sync_api import expect

    providers_before, models_before = _counts(ui_database)
    assert providers_before and models_before
    config = yaml.safe_load((REPO_ROOT / "config" / "flush_providers.yaml").read_text())
    # Everything an operator must type, right, except the one-time code.
    assert set_keys(config, {"confirm": "DELETE_EVERYTHING", "provider_count": providers_before,
                             "dry_run": False, "approval": ""}) == 4, config
    launchpad_yaml = yaml.safe_dump(config, sort_keys=False)

    page.goto("/jobs")
    page.get_by_role("link", name=re.compile(r"\bflush_providers\b")).first.click()
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()
    if page.get_by_role("tab", name="Launchpad").count():  # an op job: the Launchpad tab
        page.get_by_role("tab", name="Launchpad").click()
        launchpad, launch = page, page.get_by_role("button", name=re.compile(r"Launch Run$"))
    else:  # an asset job: the Materialize menu's "Open launchpad" opens it in a dialog
        materialize_all = page.get_by_role("button", name=re.compile(r"Materialize all$"))
        materialize_all.locator("xpath=ancestor::span[1]/following-sibling::span[1]//button").click()  # its menu
        page.get_by_role("menuitem", name="Open launchpad").click()
        launchpad = page.get_by_role("dialog")
        launch = launchpad.get_by_role("button", name=re.compile(r"Materialize$"))
    editor = launchpad.locator(".CodeMirror").first
    expect(editor).to_contain_text("dry_run")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(launchpad_yaml)  # as pasted
    expect(editor).to_contain_text("DELETE_EVERYTHING")
    launch.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)

    _open_run_and_wait(page, run_id, "Failure")
    refusal = page.get_by_text(re.compile(r"\brefused\b.*\bapproval\b", re.S)).first  # the step's failure
    expect(refusal).to_be_visible()
    message = refusal.inner_text()
    assert "refused" in message and "approval" in message, message
    assert _counts(ui_database) == (providers_before, models_before)


def test_the_lineage_graph_shows_providers_to_staging_to_table_to_cache(page, dagster_ui):
    from playwright.sync_api import expect

    page.goto(f"/assets/{GROQ.asset_name}?view=lineage")
    page.get_by_role("button", name="Downstream").click()
    page.get_by_role("button", name="All", exact=True).click()
    chain = {(GROQ.asset_name, "provider_catalogs"), ("provider_catalogs", "models_table"),
             ("models_table", "models_cache")}
    names, edges = lineage_showing(page, chain)
    assert {GROQ.asset_name, "provider_catalogs", "models_table", "models_cache"} <= names, names
    assert chain <= edges, edges
    assert ("models_table", "catalog_status") in edges and (GROQ.asset_name, "models_table") not in edges

    page.goto("/assets/models_cache")
    upstream = page.get_by_text("Upstream assets", exact=True).locator("xpath=..").get_by_role("link")
    expect(upstream).to_have_count(1)
    expect(upstream).to_have_attribute("href", "/assets/models_table")

    page.goto("/assets/models_cache?view=lineage")
    page.get_by_role("button", name="Upstream").click()
    page.get_by_role("button", name="All", exact=True).click()
    publish = {("provider_catalogs", "models_table"), ("models_table", "models_cache")}
    names, edges = lineage_showing(page, publish)
    assert publish <= edges, edges
    assert edges_into(page, "provider_catalogs") == len(PROVIDERS)  # every provider asset feeds the staging asset
