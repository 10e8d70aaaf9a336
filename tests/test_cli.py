"""`modelsync run` (what `make run` calls): progress, a summary, exit codes, one run history in PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG

from .test_pipeline import expected_counts

REPO_ROOT = Path(__file__).resolve().parent.parent


def _groq_one_model_fewer(replay_dir) -> dict:
    """Groq's recorded payload in `replay_dir` less its last model (a new catalog for the next run); the payload."""
    records = json.loads((replay_dir / "groq.json").read_text())
    records["data"] = records["data"][:-1]
    (replay_dir / "groq.json").write_text(json.dumps(records))
    return records


def run_cli(tmp_path, database_url, redis_url, *args, **env):
    environ = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **env}
    return subprocess.run(
        [sys.executable, "-m", "modelsync_pipeline.cli", "run", "--state-dir", str(tmp_path / "state"), *args],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300,
    )


def test_run_prints_progress_and_a_summary_and_records_the_run(tmp_path, database_url, redis_url):
    proc = run_cli(tmp_path, database_url, redis_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "database: PostgreSQL" in out and "[DATABASE_URL]" in out
    assert "cache:    Redis" in out and "[REDIS_URL]" in out
    for slug, count in expected_counts().items():
        assert f"  {slug}: fetching " in out
        # the fetch's time and the checks' and stage's, told apart: a large catalog's checks took 53 s after a
        # fetch of 2.55 s, and the line said "staged in 2.55 s"
        assert re.search(rf"^  {re.escape(slug)}: \d+ records?, {count} models? staged \(changed\); fetched in "
                         r"\d+\.\d\d s, checked and staged in \d+\.\d\d s$", out, re.M), slug
        assert ": 1 records," not in out and ", 1 models staged" not in out
        assert any(line.split()[:2] == [slug, str(count)] for line in out.splitlines()), f"{slug} missing from summary"
        assert any(line.split(None, 2) == [slug, str(count), f"new catalog; written to the table: {count} added"]
                   for line in out.split("summary\n")[1].splitlines()), slug
    assert f"total {sum(expected_counts().values())}" in " ".join(out.split())
    assert f"{sum(expected_counts().values())} models" in out.split("cache:")[-1]
    # Dagster's own run storage is the same PostgreSQL (dagster.yaml), so `make ui` shows this run.
    with psycopg.connect(database_url) as conn:
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs").fetchall()]
    assert statuses == ["SUCCESS"]


def test_failing_provider_exits_1_names_it_and_publishes_the_rest(tmp_path, database_url, redis_url, replay_dir):
    (replay_dir / "groq.status").write_text("503")
    (replay_dir / "openai.json").write_text('{"object": "list", "data": []}')
    proc = run_cli(tmp_path, database_url, redis_url, MODELSYNC_REPLAY_DIR=str(replay_dir))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "groq" in out and "FAILED at fetch: HTTP 503" in out
    assert "openai" in out and "empty model list" in out
    assert "sync_all:" in out and "publish_catalog" not in out  # the others were published in the same run
    # Dagster's engine warning about the failed providers' unyielded checks (their internal output names) is the
    # event log's, not the terminal's: it read like a bug (dagster-io/dagster#28461)
    assert "did not yield or return expected outputs" not in out + proc.stderr
    with psycopg.connect(database_url) as conn:
        published = dict(conn.execute(
            "SELECT p.slug, count(*) FROM models m JOIN providers p ON p.id = m.provider_id GROUP BY 1").fetchall())
    expected = {k: v for k, v in expected_counts().items() if k not in ("groq", "openai")}
    assert published == expected


def test_the_summary_names_a_catalog_staged_that_the_table_step_did_not_write(tmp_path, synced, redis_url,
                                                                            replay_dir):
    """The summary said "staged" both for a catalog that was published and for one the failed table step left
    in staging, and a provider's first catalog left that way was not in the summary at all."""
    records = _groq_one_model_fewer(replay_dir)  # a new catalog: one model fewer
    proc = run_cli(tmp_path, synced, redis_url, "--providers", "groq,cerebras", MODELSYNC_REPLAY_DIR=str(replay_dir),
                   MODELSYNC_FAULT="refresh:before_commit=raise")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = {line.split()[0]: line.split(None, 2)[2] for line in proc.stdout.split("summary\n")[1].splitlines()
             if line.startswith("  ") and len(line.split()) > 2}
    assert lines["groq"].startswith("new catalog, staged but NOT in the table"), lines["groq"]
    assert lines["cerebras"].startswith("unchanged"), lines["cerebras"]  # the table already held it
    assert "NOT" not in lines["cerebras"]
    assert lines["openrouter"] == "not synced in this run"

    proc = run_cli(tmp_path, synced, redis_url, "--providers", "groq", MODELSYNC_REPLAY_DIR=str(replay_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    groq = next(line for line in proc.stdout.split("summary\n")[1].splitlines() if line.split()[:1] == ["groq"])
    # Staged before, written now: the catalog is unchanged, the table is not.
    assert groq.split(None, 2)[1:] == [str(len(records["data"])), "unchanged; written to the table: 1 removed"]


def test_a_step_failing_after_the_table_and_cache_were_published_is_exit_1_not_2(tmp_path, synced, redis_url,
                                                                               replay_dir):
    """The status step failed (its connection terminated) after this run wrote the table and switched the cache:
    exit 2 said "the table or the cache could not be refreshed" of both refreshed. It is a step that failed
    outside them after the catalogs were published: 1."""
    _groq_one_model_fewer(replay_dir)  # a new catalog, so the run publishes a version of its own
    proc = run_cli(tmp_path, synced, redis_url, MODELSYNC_REPLAY_DIR=str(replay_dir),
                   MODELSYNC_FAULT="status:read=raise")
    run_id = _run_id(proc.stdout)
    assert f"-{run_id[:8]}, " in proc.stdout.split("cache: version ", 1)[1], proc.stdout  # readers are on it
    assert "FAILED catalog_status" in proc.stdout, proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_a_table_written_and_a_cache_not_published_says_how_to_publish_it(tmp_path, synced, redis_url, replay_dir):
    """The table's write committed and the run failed after it (here its cache step; a connection lost just after
    the COMMIT failed the table step itself): readers stayed on the previous catalog, and the summary named a
    failed step without saying that the table already held the new catalog, nor how to publish it."""
    _groq_one_model_fewer(replay_dir)
    proc = run_cli(tmp_path, synced, redis_url, "--providers", "groq", MODELSYNC_REPLAY_DIR=str(replay_dir),
                   MODELSYNC_FAULT="cache:before_switch=raise")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the cache does not yet: materialize models_cache (or run publish_catalog" in proc.stdout, proc.stdout


def test_a_catalog_another_run_staged_after_this_ones_table_step_is_not_called_unwritten(tmp_path, synced, redis_url,
                                                                                         replay_dir):
    """A run whose table step wrote its catalogs said "staged but NOT in the table (the table step did not write
    it)" of each provider another run had staged a newer catalog for since: the summary compared the table with
    the latest catalog staged, whoever staged it."""
    go = tmp_path / "continue"
    first = _started_until_fault(tmp_path, synced, redis_url, MODELSYNC_FAULT="write:after_commit=wait",
                                 MODELSYNC_FAULT_CONTINUE=str(go))
    try:
        _groq_one_model_fewer(replay_dir)  # a newer catalog, staged by a second run that does not write it
        second = run_cli(tmp_path / "second", synced, redis_url, "--providers", "groq",
                         MODELSYNC_REPLAY_DIR=str(replay_dir), MODELSYNC_FAULT="refresh:before_commit=raise")
        assert second.returncode == 2, second.stdout + second.stderr
        go.touch()
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out + err
    groq = next(line for line in out.split("summary\n")[1].splitlines() if line.split()[:1] == ["groq"])
    assert "another run has staged a newer catalog since, not yet in the table" in groq, groq
    assert "the table step did not write it" not in groq, groq


def test_a_first_catalog_the_table_step_did_not_write_is_in_the_summary(tmp_path, database_url, redis_url):
    proc = run_cli(tmp_path, database_url, redis_url, "--providers", "groq",
                   MODELSYNC_FAULT="refresh:before_commit=raise")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    groq = [line for line in proc.stdout.split("summary\n")[1].splitlines() if line.split()[:1] == ["groq"]]
    assert len(groq) == 1 and groq[0].split(None, 2)[1:] == [
        "0", "new catalog, staged but NOT in the table (the table step did not write it; publish_catalog does)"]


def test_a_database_that_does_not_exist_is_not_called_unreachable(database_url, monkeypatch):
    """The server answers "database ... does not exist"; psycopg gives that no SQLSTATE, and it was reported as
    "PostgreSQL is unreachable", which sends an operator to the network."""
    from modelsync_pipeline.cli import _database_problem
    from modelsync_pipeline.urls import redact_url

    missing = database_url.rsplit("/", 1)[0] + "/modelsync_no_such_database"
    monkeypatch.setenv("DATABASE_URL", missing)
    with pytest.raises(psycopg.OperationalError) as failed:
        psycopg.connect(missing)
    assert _database_problem(failed.value) == (f"PostgreSQL answered but refused the session ({redact_url(missing)}): "
                                               'database "modelsync_no_such_database" does not exist')


def test_a_statement_postgresql_refused_is_not_called_unreachable(monkeypatch):
    import psycopg

    from modelsync_pipeline.cli import _database_problem

    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@db.example:5432/d")
    timeout = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    assert _database_problem(timeout) == ("PostgreSQL failed a statement (postgresql://u:***@db.example:5432/d): "
                                          "QueryCanceled: canceling statement due to statement timeout")
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert _database_problem(wrapped).startswith("PostgreSQL is unreachable (postgresql://u:***@db.example:5432/d)")
    assert _database_problem(ValueError("not PostgreSQL's")) is None


def test_a_run_whose_step_failed_never_exits_0(tmp_path, database_url, redis_url, replay_dir):
    """A step that fails outside the table and the cache (here the provider step, whose failure record the
    database refuses) fails the run: exit 1 when the catalogs staged before it were published after it, else 2,
    and the summary names the step, even when the database kept no trace of the providers' attempts."""
    from modelsync_pipeline import db

    db.apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("""
            CREATE FUNCTION refuse_fetch_failures() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.outcome = 'fetch_failed' THEN RAISE EXCEPTION 'sync_attempts refuses (test)'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_fetch_failures BEFORE INSERT ON sync_attempts
            FOR EACH ROW EXECUTE FUNCTION refuse_fetch_failures();""")
    (replay_dir / "groq.status").write_text("503")
    proc = run_cli(tmp_path, database_url, redis_url, MODELSYNC_REPLAY_DIR=str(replay_dir))
    out = proc.stdout
    assert proc.returncode in (1, 2), out + proc.stderr
    assert "FAILED fetch_provider_catalogs: " in out and "sync_attempts refuses (test)" in out
    assert (proc.returncode == 1) == ("publishing the catalogs that were staged" in out)


def test_a_run_whose_process_was_killed_is_marked_failed_not_left_started(tmp_path, database_url, redis_url):
    """Killed mid-run, `modelsync run` leaves its run STARTED (no launcher watches the process), and such runs
    held the queue's concurrent-run slots forever. The next CLI run (or the sensor) marks it failed."""
    from .faults import kill_at

    script = "import sys; from modelsync_pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["run", "--state-dir", str(tmp_path / "state"), "--providers", "groq"]
    environ = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        kill_at("refresh:before_commit", script, args, tmp_path)

    def statuses():
        with psycopg.connect(database_url) as conn:
            return [r[0] for r in conn.execute("SELECT status FROM runs ORDER BY create_timestamp").fetchall()]

    assert statuses() == ["STARTED"]
    proc = run_cli(tmp_path, database_url, redis_url, "--providers", "groq")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "was left unfinished by a killed or stopped modelsync run: marked failed" in proc.stdout
    assert statuses() == ["FAILURE", "SUCCESS"]


@pytest.mark.parametrize("args,env,said", [
    (["--providers", "groq,nope"], {}, "unknown provider(s): 'nope'; known: openrouter"),
    ([], {"MODELSYNC_SOURCE": "lve"}, "MODELSYNC_SOURCE (or --source) must be one of replay, live, not 'lve'"),
], ids=["provider", "source"])
def test_a_mistake_in_what_was_asked_is_one_line_and_exit_2_before_anything_starts(tmp_path, args, env, said):
    """A typo in MODELSYNC_SOURCE started the servers, then ended in a traceback and exit 1 ("some provider
    failed"). Nothing is started: the state folder is not even made."""
    proc = run_cli(tmp_path, "postgresql://root@127.0.0.1:1/x", "redis://127.0.0.1:1/0", *args, **env)
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "state").exists()


_SETTINGS = [
    ("MODELSYNC_LOCK_WAIT_SECONDS=abc", "MODELSYNC_LOCK_WAIT_SECONDS must be a number of seconds above 0, not 'abc'"),
    ("MODELSYNC_CACHE_PREFIX=bad prefix!", "MODELSYNC_CACHE_PREFIX must be 1-64 letters"),
    ("MODELSYNC_CADENCE_FILE=/nonexistent/cadence.yaml", "(MODELSYNC_CADENCE_FILE): FileNotFoundError"),
]
_REPLAY_SETTING = ("MODELSYNC_REPLAY_DIR=/nonexistent/replay",
                   "MODELSYNC_REPLAY_DIR is '/nonexistent/replay', which is no directory")


@pytest.mark.parametrize(("command", "setting", "said"), [
    *(("run", *setting) for setting in [*_SETTINGS, _REPLAY_SETTING]), *(("status", *setting) for setting in _SETTINGS)
])
def test_a_setting_that_does_not_read_is_one_line_before_anything_starts(tmp_path, setting, said, command):
    """A lock wait of "abc" failed the table step after every provider was staged, and the summary then ended in a
    traceback, exit 1 ("some provider failed"); a bad cache prefix or a missing cadence file was a traceback too,
    and a replay folder that is not there answered every provider "HTTP 404 ... no recorded payload"."""
    name, _, value = setting.partition("=")
    args = ["run", "--providers", "groq", "--state-dir", str(tmp_path / "state")] if command == "run" else ["status"]
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", *args], cwd=REPO_ROOT, timeout=120,
                          env={**os.environ, name: value, "DATABASE_URL": "postgresql://root@127.0.0.1:1/x",
                               "REDIS_URL": "redis://127.0.0.1:1/0"}, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"modelsync {command}: ") and said in proc.stderr, proc.stderr
    assert not (tmp_path / "state").exists()  # nothing was started


def test_explain_names_an_unknown_provider_rather_than_a_missing_model():
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "explain", "openruoter", "x/y"], cwd=REPO_ROOT,
                          env={**os.environ, "DATABASE_URL": "postgresql://root@127.0.0.1:1/x"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown provider(s): 'openruoter'; known: openrouter" in proc.stderr


def test_an_unreachable_database_is_one_clear_line_and_exit_2_for_every_command(tmp_path, redis_url):
    """Nothing listens on port 1: each command says so in one line, without the password, and exits 2 (the
    table could not be refreshed), not 1 (some provider failed) after a traceback."""
    dead = "postgresql://root:s3cret-pw@127.0.0.1:1/modelsync"
    commands = {
        "run": ["run", "--state-dir", str(tmp_path / "state"), "--providers", "groq"],
        "status": ["status"],
        "explain": ["explain", "groq", "llama-3.1-8b-instant"],
    }
    for command, args in commands.items():
        proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", *args], cwd=REPO_ROOT, timeout=120,
                              env={**os.environ, "DATABASE_URL": dead, "REDIS_URL": redis_url},
                              capture_output=True, text=True)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert f"modelsync {command}: PostgreSQL is unreachable (postgresql://root:***@127.0.0.1:1/modelsync)" in proc.stderr
        assert "Traceback" not in proc.stderr and "s3cret-pw" not in proc.stdout + proc.stderr, command


@pytest.mark.parametrize("password", ["Sup3rSecret%zz", "p@ss%w:rd"])
def test_a_database_url_the_driver_cannot_parse_is_named_without_its_password(tmp_path, redis_url, password):
    """An unencoded "%" in the password: psycopg quotes the token it could not read ("Sup3rSecret%zz", "ss%w"),
    and every command printed it beside the masked URL."""
    url = f"postgresql://hunt:{password}@127.0.0.1:1/modelsync"
    for args in (["status"], ["explain", "groq", "x"]):
        proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", *args], cwd=REPO_ROOT, timeout=120,
                              env={**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url},
                              capture_output=True, text=True)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2 and "percent-encoded" in output, output
        parts = [password[i:i + 4] for i in range(len(password) - 3)]
        assert not [part for part in parts if part in output], output


@pytest.mark.parametrize("url, shown", [
    ("redis://u:S3cret#PW@127.0.0.1:6391/0", "is not one redis-py can read"),
    ("redis://:S3cretPW@127.0.0.1:63x1/0", "is not one redis-py can read"),
    ("redis://:S3cretPW@127.0.0.1:6391/abc", "names database 'abc', which is no number"),
])
def test_the_summary_names_a_redis_url_it_cannot_read_without_a_traceback_or_the_password(monkeypatch, url, shown):
    """The run's summary read the cache with redis.Redis.from_url and caught only Redis's errors: a URL it could not
    parse ended the command with a traceback quoting part of the password ("as 'S3cret'"), exit 1, no summary. A
    database path that is no number was dropped by redis-py, and the cache went to database 0."""
    from modelsync_pipeline.cli import _cache_summary

    monkeypatch.setenv("REDIS_URL", url)
    summary = _cache_summary()
    assert summary.startswith("unreachable (ValueError: ") and shown in summary, summary
    assert "S3cret" not in summary


def test_explain_traces_a_name_back_to_its_raw_upstream_value(synced):
    database_url = synced  # a full sync (the run itself is test_run_prints_progress_...'s)
    with psycopg.connect(database_url) as conn:
        run_id = conn.execute(
            "SELECT sync_run_id FROM models WHERE model_id = 'deepseek/deepseek-prover-v2:free'").fetchone()[0]

    def explain(*args):
        return subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "explain", *args], cwd=REPO_ROOT,
                              env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)

    by_id = explain("openrouter", "deepseek/deepseek-prover-v2:free")
    assert by_id.returncode == 0, by_id.stderr
    assert "raw value   'DeepSeek: DeepSeek Prover V2 (free)'" in by_id.stdout
    assert "rule        name: a name field the provider sends (this provider's name source: `name`" in by_id.stdout
    assert "strip_company_prefix" in by_id.stdout and "free_flag" in by_id.stdout
    assert f"written by  run {run_id}" in by_id.stdout

    by_name = explain("cerebras", "Llama 3.1 8B")
    assert "cerebras / llama3.1-8b" in by_name.stdout and "derived from the model id" in by_name.stdout

    missing = explain("openrouter", "no/such-model")
    assert missing.returncode == 1 and "no model 'no/such-model'" in missing.stderr


def test_explain_finds_an_id_whose_accents_are_written_apart_by_its_composed_spelling(synced):
    """A provider may send an id in NFD ("e" + a combining acute): it looks the same as the "é" an operator types
    or pastes, and explain answered "no model" for it."""
    import unicodedata

    written_apart = unicodedata.normalize("NFD", "mistral-éclair-7b")
    with psycopg.connect(synced, autocommit=True) as conn:
        conn.execute("UPDATE models SET model_id = %s WHERE id = (SELECT m.id FROM models m JOIN providers p "
                     "ON p.id = m.provider_id WHERE p.slug = 'groq' ORDER BY m.id LIMIT 1)", (written_apart,))
    found = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "explain", "groq", "mistral-éclair-7b"],
                           cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": synced}, capture_output=True, text=True,
                           timeout=120)
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"groq / {written_apart}" in found.stdout


def test_explain_names_the_run_that_wrote_a_row_its_changes_and_a_model_no_longer_listed(tmp_path, synced, redis_url,
                                                                                        replay_dir):
    """explain said "written by" the run that staged a row (`models.sync_run_id`): a run whose table step failed,
    when a later run wrote it, and the first sync's run after a reset. A renamed model showed only its new name, a
    removed one ended in "no model", and a provider the registry no longer lists was an "unknown provider"."""
    spec = PROVIDERS_BY_SLUG["together"]
    items = recorded_items(spec, replay_dir)
    renamed, removed = items[0]["id"], items[-1]["id"]
    with psycopg.connect(synced) as conn:
        old_name = conn.execute("SELECT model_name FROM models WHERE model_id = %s", (renamed,)).fetchone()[0]
    items[0]["display_name"] = "Renamed Model Zeta"
    (replay_dir / spec.recorded).write_text(json.dumps(spec.envelope(items[:-1], {})))

    def run_id(proc):
        assert "runs: " in proc.stdout, proc.stdout + proc.stderr
        return _run_id(proc.stdout)

    named = run_cli(tmp_path, synced, redis_url, "--providers", "together", MODELSYNC_REPLAY_DIR=str(replay_dir),
                    MODELSYNC_FAULT="refresh:before_commit=raise")
    assert named.returncode == 2, named.stdout + named.stderr
    written = run_cli(tmp_path, synced, redis_url, "--providers", "together", MODELSYNC_REPLAY_DIR=str(replay_dir))
    assert written.returncode == 0, written.stdout + written.stderr

    def explain(*args):
        return subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "explain", *args], cwd=REPO_ROOT,
                              env={**os.environ, "DATABASE_URL": synced}, capture_output=True, text=True, timeout=120)

    out = explain("together", renamed)
    assert out.returncode == 0, out.stderr
    assert f"written by  run {run_id(written)} at " in out.stdout, out.stdout
    assert (f"named by    run {run_id(named)} (it fetched, named and checked this content; a later run wrote it)"
            in out.stdout)
    assert f"run {run_id(written)}: renamed (model_name {old_name!r} -> 'Renamed Model Zeta';" in out.stdout, out.stdout
    assert ": added" in out.stdout  # the first sync's entry, below the rename

    gone = explain("together", removed)
    assert gone.returncode == 1 and f"no model {removed!r} of provider 'together'" in gone.stderr
    assert f"together / {removed}  (not in the models table)" in gone.stdout, gone.stdout
    assert f"run {run_id(written)}: removed" in gone.stdout, gone.stdout

    with psycopg.connect(synced) as conn:  # a release that dropped xai from the registry: its rows stay published
        conn.execute("UPDATE providers SET slug = 'retired-provider' WHERE slug = 'xai'")
        model_id = conn.execute("SELECT m.model_id FROM models m JOIN providers p ON p.id = m.provider_id "
                                "WHERE p.slug = 'retired-provider' LIMIT 1").fetchone()[0]
    retired = explain("retired-provider", model_id)
    assert retired.returncode == 0 and f"retired-provider / {model_id}" in retired.stdout, retired.stderr
    assert "unknown provider" in explain("never-a-provider", model_id).stderr


def test_status_prints_the_sql_report(synced):
    database_url = synced
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    counts = expected_counts()
    total, known = sum(counts.values()), len(counts)
    assert f"providers {known} (with models {known}, without 0); models {total} (active {total})" in proc.stdout
    listed = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[2:] if len(line.split()) > 1}
    assert {slug: listed.get(slug) for slug in counts} == {slug: str(n) for slug, n in counts.items()}
    assert "by modality: text" in proc.stdout


def test_status_names_a_stale_provider_and_since_when(synced):
    """A provider whose last good catalog is older than its max age (cadence.yaml) is flagged STALE."""
    database_url = synced
    with psycopg.connect(database_url) as conn:  # openrouter's last good fetch was 5 hours ago (max age 3 h)
        conn.execute("UPDATE sync_attempts SET attempted_at = now() - interval '5 hours' "
                     "WHERE provider_slug = 'openrouter'")
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert "STALE since" in lines["openrouter"] and "(max age 3 h)" in lines["openrouter"]
    assert "STALE" not in lines["groq"]
    assert "stale (last good catalog older than its max age in cadence.yaml): openrouter" in proc.stdout


def test_step_failures_names_the_innermost_error_of_each_failed_step():
    """The reason `modelsync run` prints for a failed step: the error the step raised, not Dagster's wrapper;
    our own error classes without their dotted name, any other class kept (it says what went wrong)."""
    import dagster as dg

    from modelsync_pipeline.cli import step_failures
    from modelsync_pipeline.writes import WriteRefused

    @dg.asset
    def refused():
        raise WriteRefused("flush_models needs confirm: DELETE_ALL_MODELS")

    @dg.asset
    def broken():
        raise KeyError("metadata")

    @dg.asset
    def fine():
        return 1

    result = dg.materialize([refused, broken, fine], raise_on_error=False)
    assert step_failures(result) == {
        "refused": "flush_models needs confirm: DELETE_ALL_MODELS",
        "broken": "KeyError: 'metadata'",
    }


def _started_until_fault(tmp_path, database_url, redis_url, **env) -> subprocess.Popen:
    """`modelsync run --providers groq` started, returned once it stands at the fault point `env` names (its
    MODELSYNC_FAULT_READY file written); the caller ends it."""
    import time

    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-m", "modelsync_pipeline.cli", "run", "--state-dir", str(tmp_path / "s"),
                             "--providers", "groq"], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                            "MODELSYNC_FAULT_READY": str(ready), **env})
    deadline = time.monotonic() + 180
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    return proc


def _interrupted_at_fault(tmp_path, database_url, redis_url, **env) -> tuple[subprocess.Popen, str, str]:
    """`modelsync run --providers groq` stopped with SIGINT (Ctrl-C) where it stands at the fault point `env` names:
    the process, its output and its errors."""
    import signal

    proc = _started_until_fault(tmp_path, database_url, redis_url, **env)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, out, err


def _run_id(stdout: str) -> str:
    """The first run id of a `modelsync run` summary's "runs:" line."""
    return stdout.split("runs: ", 1)[1].split()[0].rstrip(",")


def test_ctrl_c_stops_the_run_and_publishes_nothing_after_it(tmp_path, synced, redis_url):
    """Ctrl-C during the refresh went on to publish what was staged in a second run (publish_catalog): the
    operator asked to stop. It stops, says so, leaves the table as it was, and exits 130."""
    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*), max(updated_at) FROM models").fetchone()
    proc, out, err = _interrupted_at_fault(tmp_path, database_url, redis_url,
                                           MODELSYNC_FAULT="refresh:before_delete=pause")
    assert proc.returncode == 130, out + err
    assert "INTERRUPTED (Ctrl-C)" in out and "publishing the catalogs that were staged" not in out
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*), max(updated_at) FROM models").fetchone() == before
        assert conn.execute("SELECT pipeline_name FROM runs").fetchall() == [("sync_all",)]  # no publish run


def test_ctrl_c_just_after_the_table_committed_is_audited_and_said_as_it_is(tmp_path, synced, redis_url, replay_dir):
    """Ctrl-C between the table's COMMIT and its audit row: the change stood with no audit row (the next row's
    counts before did not follow the last one's after), and the summary said "the table and cache hold what they
    held before the interrupted step" of a table the run had changed."""
    import redis

    from modelsync_pipeline import cache

    _groq_one_model_fewer(replay_dir)  # a new catalog: the refresh removes one model
    live = redis.Redis.from_url(redis_url).get(cache.CURRENT_KEY)
    proc, out, err = _interrupted_at_fault(tmp_path, synced, redis_url, MODELSYNC_FAULT="write:after_commit=wait",
                                           MODELSYNC_FAULT_CONTINUE=str(tmp_path / "never"),
                                           MODELSYNC_REPLAY_DIR=str(replay_dir))
    assert proc.returncode == 130, out + err
    assert "INTERRUPTED (Ctrl-C) after this run wrote the table" in out and "hold what they held" not in out, out
    run_id = _run_id(out)
    with psycopg.connect(synced) as conn:
        audited = conn.execute("SELECT outcome, models_after, details->>'stopped' FROM audit_log WHERE run_id = %s",
                               (run_id,)).fetchall()
        models = conn.execute("SELECT count(*) FROM models").fetchone()[0]
    assert [(outcome, after) for outcome, after, _ in audited] == [("succeeded", models)], audited
    assert audited[0][2].startswith("after its commit"), audited
    assert redis.Redis.from_url(redis_url).get(cache.CURRENT_KEY) == live  # nothing published after the interrupt


def test_an_interrupt_something_swallowed_still_stops_the_run_before_it_writes(tmp_path, synced, redis_url,
                                                                             replay_dir):
    """Ctrl-C landing where code catches everything (an optional import's bare `except:`) never reached Dagster:
    `modelsync run` went on, published the table and the cache, and exited 0. The catalog stays staged, nothing
    is written after the interrupt, and the run says it was interrupted (130)."""
    import redis

    from modelsync_pipeline import cache

    _groq_one_model_fewer(replay_dir)  # a new catalog, which a run that went on would publish
    client = redis.Redis.from_url(redis_url)
    with psycopg.connect(synced) as conn:
        before = conn.execute("SELECT count(*), max(updated_at) FROM models").fetchone()
    live = client.get(cache.CURRENT_KEY)
    proc = run_cli(tmp_path, synced, redis_url, "--providers", "groq", MODELSYNC_REPLAY_DIR=str(replay_dir),
                   MODELSYNC_FAULT="fetch:submitted=interrupt_swallowed")
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "INTERRUPTED (Ctrl-C)" in proc.stdout
    groq = next(line for line in proc.stdout.split("summary\n")[1].splitlines() if line.split()[:1] == ["groq"])
    assert "new catalog, staged but NOT in the table" in groq  # staged before the interrupt was known
    with psycopg.connect(synced) as conn:
        assert conn.execute("SELECT count(*), max(updated_at) FROM models").fetchone() == before
        assert conn.execute("SELECT pipeline_name FROM runs").fetchall() == [("sync_all",)]  # no publish run
    assert client.get(cache.CURRENT_KEY) == live


def test_the_command_exits_when_a_step_left_a_thread_pool_open(tmp_path):
    """A step Dagster abandons at an interrupt leaves its thread pool open: its idle workers wait for work for
    ever. The command joined them before running threading's exit callbacks, which wake them, and hung."""
    script = (
        "import concurrent.futures\n"
        "from modelsync_pipeline import cli\n"
        "def main():\n"
        "    global pool\n"
        "    pool = concurrent.futures.ThreadPoolExecutor(2)\n"
        "    pool.submit(print, 'worked').result()\n"
        "    return 0\n"
        "cli.main = main\n"
        "cli.console_main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "worked\n"), proc.stderr


def test_a_sigterm_before_a_run_is_a_stop_as_ctrl_c_is(tmp_path):
    """SIGTERM in the first seconds (imports, the servers' start) ended `modelsync run` by its default action: status
    -15, no word, where Ctrl-C in the same place is one line and 130."""
    import signal
    import time

    ready = tmp_path / "ready"
    script = ("import time\n"
              "from modelsync_pipeline import cli\n"
              "def main():\n"
              f"    open({str(ready)!r}, 'w').close()\n"
              "    time.sleep(60)\n"
              "cli.main = main\n"
              "cli.console_main()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, (proc.returncode, err)
    assert err.strip() == "modelsync: interrupted (Ctrl-C); nothing after the interrupt was written"


def test_ctrl_c_outside_a_run_is_one_line_and_130(tmp_path):
    script = ("from modelsync_pipeline import cli\n"
              "def main():\n"
              "    raise KeyboardInterrupt\n"
              "cli.main = main\n"
              "cli.console_main()\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "modelsync: interrupted (Ctrl-C); nothing after the interrupt was written"


def test_a_read_only_database_is_one_line_and_exit_2_not_dagsters_traceback(tmp_path, synced, redis_url):
    """Dagster's run storage (SQLAlchemy over psycopg2) failing a statement printed 69 lines of traceback and
    exited 1, which reads as "some provider failed, the rest published"."""
    database_url = synced
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    proc = run_cli(tmp_path, database_url, redis_url, "--providers", "groq")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "read-only transaction" in proc.stderr, proc.stderr
    assert "modelsync run: PostgreSQL failed a statement" in proc.stderr
    assert "point DATABASE_URL at the primary" in proc.stderr, proc.stderr


def test_a_key_value_connection_string_never_shows_its_password():
    """`status` and `explain` quoted a libpq key=value DATABASE_URL whole, password and all; `run` ended in a
    traceback."""
    dsn = "host=127.0.0.1 port=1 dbname=x user=root password=Pa55wordLeak"
    for args in (["status"], ["explain", "groq", "x"], ["run", "--providers", "groq"]):
        proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", *args], cwd=REPO_ROOT, timeout=120,
                              env={**os.environ, "DATABASE_URL": dsn, "REDIS_URL": "redis://127.0.0.1:1/0"},
                              capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "Pa55wordLeak" not in proc.stdout + proc.stderr and "password=***" in proc.stderr, (args, proc.stderr)


def test_status_says_when_a_staged_catalog_is_not_yet_in_the_table(tmp_path, synced, redis_url, replay_dir):
    """After a run that staged a new catalog and did not write it (killed, or its table step failed), status showed
    "last attempt: staged" beside the older catalog's model count, as if that count were the staged catalog's."""
    _groq_one_model_fewer(replay_dir)
    proc = run_cli(tmp_path, synced, redis_url, "--providers", "groq", MODELSYNC_REPLAY_DIR=str(replay_dir),
                   MODELSYNC_FAULT="refresh:before_commit=raise")
    assert proc.returncode == 2, proc.stdout + proc.stderr

    def status() -> dict[str, str]:
        out = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT, timeout=120,
                             env={**os.environ, "DATABASE_URL": synced}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  ") and line.split()}

    lines = status()
    assert "a newer catalog is staged, NOT yet in the table" in lines["groq"], lines["groq"]
    assert "NOT yet in the table" not in lines["cerebras"], lines["cerebras"]
    again = run_cli(tmp_path, synced, redis_url, "--providers", "groq", MODELSYNC_REPLAY_DIR=str(replay_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "NOT yet in the table" not in status()["groq"]


def test_status_into_a_reader_that_goes_away_is_no_traceback(synced):
    """`make status | head` ended in a BrokenPipeError traceback."""
    proc = subprocess.run(f"'{sys.executable}' -m modelsync_pipeline.cli status | true; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": synced}, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_status_of_an_empty_catalog_says_how_to_fill_it(database_url):
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True)
    assert proc.returncode == 0 and "no catalog yet: `make run` syncs every provider" in proc.stdout, proc.stderr


def test_status_flags_a_provider_the_registry_no_longer_lists(synced):
    """A provider removed from the registry, or renamed to a new slug, keeps its rows published (a refresh never
    touches it again): status said nothing of it."""
    database_url = synced
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE providers SET slug = 'groq-retired' WHERE slug = 'groq'")
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "status"], cwd=REPO_ROOT,
                          env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert "NOT IN REGISTRY" in lines["groq-retired"] and "STALE" not in lines["groq-retired"]
    assert "NOT IN REGISTRY" not in lines["openrouter"]
    assert ("not in the provider registry (removed or renamed; their models are still published until a "
            "reset_and_resync): groq-retired") in proc.stdout


def test_explain_without_its_arguments_says_how_to_call_it():
    """`make explain` with no P and M printed "unknown provider(s): ''" and the list of slugs."""
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.cli", "explain", "", ""], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: make explain P=<provider slug> M=<model id") and "unknown" not in proc.stderr


@pytest.mark.parametrize("error, reason", [
    # The server refused the session and said nothing after FATAL: the line still ends in a reason.
    (psycopg.OperationalError('connection to server at "127.0.0.1", port 5432 failed: FATAL:  '),
     'connection to server at "127.0.0.1", port 5432 failed: FATAL:'),
    (psycopg.OperationalError("connection failed: FATAL:  role \"nobody\" does not exist\nsecond line"),
     'role "nobody" does not exist'),
    (psycopg.OperationalError(""), "OperationalError"),  # no text at all: its class
])
def test_a_database_problem_is_one_line_with_a_reason_whatever_the_error_says(monkeypatch, error, reason):
    from modelsync_pipeline.cli import _database_problem

    monkeypatch.setenv("DATABASE_URL", "postgresql://modelsync:secret@db.example:5432/catalog")
    line = _database_problem(error)
    assert line.endswith(f": {reason}") and "\n" not in line
    assert "secret" not in line and "db.example" in line


def test_a_storage_connection_the_server_closed_mid_run_is_replaced_not_a_failed_run(tmp_path, synced, redis_url):
    """PostgreSQL restarted (or idle_session_timeout) while a run waited: the run published the table and the cache,
    then its next event went out on the pooled connection the server had closed, and the command ended "PostgreSQL
    is unreachable", exit 2, its run recorded as FAILURE. The pool checks a connection before it hands it out."""
    go = tmp_path / "continue"
    proc = _started_until_fault(tmp_path, synced, redis_url, MODELSYNC_FAULT="write:after_commit=wait",
                                MODELSYNC_FAULT_CONTINUE=str(go))
    try:
        with psycopg.connect(synced, autocommit=True) as admin:  # every other session of the database ends
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
                                  ).fetchone()[0]
        go.touch()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ended > 0
    assert proc.returncode == 0, out + err
    assert "PostgreSQL is unreachable" not in out + err and "\n  models_cache: " in out, out + err


def test_the_dagster_home_of_a_state_folder_is_never_read_half_written(tmp_path):
    """Each `modelsync run` copied dagster.yaml into the state folder's DAGSTER_HOME in place (truncated, then
    written): another run of the same folder starting meanwhile read it empty, and Dagster then kept that run's
    history in SQLite, apart from the shared PostgreSQL (or failed on a partial file)."""
    import threading

    from modelsync_pipeline.cli import _prepare_dagster_home

    whole = (REPO_ROOT / "modelsync_pipeline" / "dagster.yaml").read_text()
    home = _prepare_dagster_home(tmp_path)
    done, seen = threading.Event(), set()

    def rewrite():
        for _ in range(300):
            _prepare_dagster_home(tmp_path)
        done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    while not done.is_set():
        seen.add((home / "dagster.yaml").read_text())
    writer.join()
    assert seen == {whole}, [len(text) for text in seen]
