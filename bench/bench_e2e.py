"""Benchmark: a whole sync end to end, against providers that each take `--latency` seconds to answer.

Every provider is served by the loopback fake server (`tests/fake_providers.py`) at `--latency` seconds per
request (default 0.5), and reached through the production client (`MODELSYNC_SOURCE=live`,
`MODELSYNC_<SLUG>_BASE_URL`). Each figure is printed beside its baseline or its goal, measured in the same run:

  (a) `python -m modelsync_pipeline.cli run` in a fresh process on a fresh scratch database (a cold first
      sync: modelsync's migrations and Dagster's storage tables are created by the run), beside the
      "Dagster floor": a fresh process that materializes two trivial assets (`a`, `b(a)`) on the same kind
      of instance (DAGSTER_HOME with the package's dagster.yaml, run storage in PostgreSQL via DAGSTER_PG_URL),
      also on a fresh scratch database. Goal: (a) <= 2x the floor.
  (b) the fetch phase alone, in-process: `ProviderApi(source="live").fetch_records` for every provider in a
      ThreadPoolExecutor of `max_concurrency` workers, as `fetch_provider_catalogs` does. Goal: <= 1.5 s,
      printed beside the serial sum N x latency and the best a pool of that size can do at that latency.
  (c) `sync_all` launched with the GraphQL `launchRun` mutation (as the UI's Launchpad does) on a
      `dagster-webserver` and a `dagster-daemon` (the queued run coordinator of dagster.yaml), from the
      launch to SUCCESS. Goal: <= 1.5x (a).
  (d) one provider hung (fault "hang", never answers) beside the others at `--latency`, its deadline set to
      `--deadline` seconds. No environment variable sets ProviderApi.deadline_seconds, so this runs
      in-process with `dagster.materialize` (every asset, as `sync_all` selects them) on the same kind of
      instance; the others must be published. Goal: <= deadline + (a).
  (e) the peak RSS of (a)'s process: ru_maxrss of that one child from wait4(2), beside the floor's. The
      parent is kept small until then (no dagster import), because on Linux a child's ru_maxrss also
      counts the parent's size at the fork/exec that started it.

Also printed: the 10 largest cumulative entries of `python -X importtime -c "import modelsync_pipeline.definitions"`.

    .venv/bin/python bench/bench_e2e.py                    # latency 0.5 s, deadline 2 s
    .venv/bin/python bench/bench_e2e.py --latency 0.2 --skip-ui

Uses DATABASE_URL / REDIS_URL when set, else embedded servers (state dir .modelsync/bench_e2e). Each measured
case gets its own scratch database (created and dropped) and, on the embedded Redis, its own flushed Redis
database; on a given REDIS_URL, a cache key prefix of its own (MODELSYNC_CACHE_PREFIX), its keys deleted after. Timings are printed, never asserted. Every process started here (webserver, daemon, their code
servers and run workers) carries a marker variable and is killed by pid at the end if still alive.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

# Light imports only before (a) and the floor (see (e)): no dagster, pandas or pandera in this process yet.
from modelsync_pipeline import cache  # noqa: E402
from modelsync_pipeline.local import services  # noqa: E402
from modelsync_pipeline.providers.registry import PROVIDERS  # noqa: E402
from modelsync_pipeline.urls import redact_url  # noqa: E402
from tests.fake_providers import FakeProviders  # noqa: E402

PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
VENV_BIN = REPO_ROOT / ".venv" / "bin"
MARKER = "MODELSYNC_BENCH_E2E_TOKEN"  # every child carries it, so leftovers are found by pid at the end
IMPORTTIME_TOP = 10
LOCATION, REPOSITORY, JOB = "modelsync", "__repository__", "sync_all"

FLOOR_PROGRAM = """
import dagster as dg

@dg.asset
def a():
    return 1

@dg.asset
def b(a):
    return a

with dg.DagsterInstance.get() as instance:
    assert dg.materialize([a, b], instance=instance).success
"""


@dataclass
class Child:
    """One finished child process: wall time, exit status, its own peak RSS, and its output lines timed."""

    seconds: float
    returncode: int
    maxrss_mb: float
    lines: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class Figure:
    label: str
    value: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None


# --- processes -----------------------------------------------------------------------------------------


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # each child leads its own group (start_new_session)


def run_child(cmd: list[str], env: dict[str, str], timeout: float) -> Child:
    """Run `cmd` to completion in its own process group; rusage of exactly this child via wait4."""
    started = time.monotonic()
    process = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, text=True, bufsize=1)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    watchdog = threading.Timer(timeout, _kill_group, args=(process.pid,))
    watchdog.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    watchdog.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(process.pid)  # nothing should be left in its group; make sure
    reader.join(5)
    process.stdout.close()
    return Child(seconds, process.returncode, usage.ru_maxrss / 1024, lines)


def start_server(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Own process group: `dagster dev`-style servers ignore SIGTERM when backgrounded; the group gets SIGKILL.
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def stop_server(process: subprocess.Popen) -> None:
    _kill_group(process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


def kill_leftovers(token: str) -> list[str]:
    """Kill (by pid) every process that still carries this run's marker; what was killed."""
    killed = []
    for process in psutil.process_iter(["pid", "name"]):
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(MARKER) != token:
                continue
            killed.append(f"{process.pid} {' '.join(process.cmdline())[:80]}")
            process.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return killed


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join("    | " + line for line in path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "    | (no log)"


# --- databases -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server_url: str, case: str) -> Iterator[str]:
    """An empty database (no migrations: the measured run creates every table itself), dropped afterwards."""
    name = f"modelsync_e2e_{case}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # Kept a URL (not a conninfo string): dagster-postgres needs one.
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_redis(endpoints: services.Endpoints, index: int) -> Iterator[str]:
    """On the embedded server: Redis database `index`, flushed before and after. A given REDIS_URL is never
    flushed (it may be someone's cache): the case's keys go under a prefix of its own (MODELSYNC_CACHE_PREFIX,
    set in this process for the case, which its child processes inherit, and in the cache module, which this
    process has loaded), deleted afterwards. Each case's catalog database is another, and a publish under
    someone's prefix would be refused (cache.OtherCatalogLive)."""
    if endpoints.redis_source == "REDIS_URL":
        prefix = f"modelsync_bench_e2e_{os.getpid()}_{index}"
        saved = os.environ.get("MODELSYNC_CACHE_PREFIX"), cache.PREFIX, cache.CURRENT_KEY, cache.VERSIONS_KEY
        os.environ["MODELSYNC_CACHE_PREFIX"] = prefix
        cache.PREFIX, cache.CURRENT_KEY, cache.VERSIONS_KEY = prefix, f"{prefix}:current", f"{prefix}:versions"
        try:
            yield endpoints.redis_url
        finally:
            if saved[0] is None:
                os.environ.pop("MODELSYNC_CACHE_PREFIX", None)
            else:
                os.environ["MODELSYNC_CACHE_PREFIX"] = saved[0]
            cache.PREFIX, cache.CURRENT_KEY, cache.VERSIONS_KEY = saved[1:]
            with redis.Redis.from_url(endpoints.redis_url) as client:
                for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                    client.delete(key)
        return
    url = urlunsplit(urlsplit(endpoints.redis_url)._replace(path=f"/{index}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def dagster_home(root: Path) -> Path:
    """A DAGSTER_HOME with the package's dagster.yaml, as `modelsync run` prepares it."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "modelsync_pipeline" / "dagster.yaml", home / "dagster.yaml")
    return home


def dagster_events(database_url: str) -> int | None:
    """Rows in Dagster's event log (one per event the runs stored): the database is fresh, so all are theirs."""
    try:
        with psycopg.connect(database_url) as conn:
            return conn.execute("SELECT count(*) FROM event_logs").fetchone()[0]
    except psycopg.Error:
        return None


def case_prefix() -> dict[str, str]:
    """The case's cache key prefix (scratch_redis), for the environment of the processes it starts."""
    prefix = os.environ.get("MODELSYNC_CACHE_PREFIX")
    return {"MODELSYNC_CACHE_PREFIX": prefix} if prefix else {}


def published(database_url: str, redis_url: str) -> tuple[int, int, int, str | None]:
    """(providers with models, providers known, models, current cache version) after a sync."""
    with psycopg.connect(database_url) as conn:
        with_models, known, models = conn.execute(
            """SELECT count(*) FILTER (WHERE n > 0), count(*), coalesce(sum(n), 0)
               FROM (SELECT p.id, count(m.id) AS n FROM providers p LEFT JOIN models m ON m.provider_id = p.id
                     GROUP BY p.id) per_provider"""
        ).fetchone()
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        version = client.get(cache.CURRENT_KEY)
    finally:
        client.close()
    return int(with_models), int(known), int(models), version


# --- the cases -----------------------------------------------------------------------------------------


def import_times(env: dict[str, str]) -> tuple[float, list[tuple[int, int, str]]]:
    """Wall time of the import in a fresh process, and the top entries by cumulative import time."""
    run_child([PYTHON, "-c", "import modelsync_pipeline.definitions"], env, 120)  # page cache (and .pyc, if written) warm
    child = run_child([PYTHON, "-X", "importtime", "-c", "import modelsync_pipeline.definitions"], env, 120)
    entries = []
    for _, line in child.lines:
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            entries.append((int(match[2]), int(match[1]), match[3][1:] + match[4]))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    return child.seconds, entries[:IMPORTTIME_TOP]


def bytecode_cache_env(base_env: dict[str, str], root: Path) -> dict[str, str]:
    """The environment with a bytecode cache of our own (PYTHONPYCACHEPREFIX), warmed by one import run.

    The variant rows (a') show what compiling every import in each fresh process costs when
    PYTHONDONTWRITEBYTECODE is set and the venv holds no .pyc files (as on this machine)."""
    env = {**base_env, "PYTHONPYCACHEPREFIX": str(root / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run_child([PYTHON, "-c", "import modelsync_pipeline.cli, modelsync_pipeline.definitions, dagster_postgres"], env, 120)
    return env


def has_bytecode(module: str) -> bool:
    import importlib.util

    cached = importlib.util.find_spec(module).cached
    return bool(cached) and Path(cached).exists()


def dagster_floor(base_env: dict[str, str], server_url: str, root: Path, timeout: float) -> tuple[Child, Child, int]:
    """The floor on a fresh scratch database (cold, as (a)), then once more on the same one (warm)."""
    with scratch_database(server_url, "floor") as url:
        env = {**base_env, "DAGSTER_HOME": str(dagster_home(root / "floor")),
               "DAGSTER_PG_URL": services.sqlalchemy_url(url)}
        cold = run_child([PYTHON, "-c", FLOOR_PROGRAM], env, timeout)
        events = dagster_events(url)
        warm = run_child([PYTHON, "-c", FLOOR_PROGRAM], env, timeout)
    for child in (cold, warm):
        if child.returncode != 0:
            print("\n".join(line for _, line in child.lines[-15:]))
            raise RuntimeError(f"the Dagster floor process exited with {child.returncode}")
    return cold, warm, events


def cold_cli_run(base_env, endpoints, root: Path, timeout: float) -> tuple[Child, tuple, int | None]:
    with scratch_database(endpoints.database_url, "cli") as url, scratch_redis(endpoints, 1) as redis_url:
        env = {**base_env, "DATABASE_URL": url, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **case_prefix()}
        child = run_child([PYTHON, "-m", "modelsync_pipeline.cli", "run", "--state-dir", str(root / "cli")],
                          env, timeout)
        outcome = published(url, redis_url)
        events = dagster_events(url)
    return child, outcome, events


def fetch_phase(fake: FakeProviders, latency: float) -> dict:
    """Every provider's fetch_records through the production pool shape, in this process."""
    from modelsync_pipeline.providers.http import prepare_http
    from modelsync_pipeline.resources import ProviderApi

    api = ProviderApi(source="live")
    workers = max(1, min(api.max_concurrency, len(PROVIDERS)))
    fake.requests.clear()
    per_provider: dict[str, float] = {}
    errors: dict[str, str] = {}

    def fetch(spec):
        started = time.monotonic()
        records = api.fetch_records(spec)
        return len(records), time.monotonic() - started

    started = time.monotonic()
    prepare_http()  # as fetch_provider_catalogs does before its pool
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        futures = {pool.submit(fetch, spec): spec for spec in PROVIDERS}
        for future in concurrent.futures.as_completed(futures):
            spec = futures[future]
            try:
                per_provider[spec.slug] = future.result()[1]
            except Exception as exc:  # noqa: BLE001 - reported, not raised: the figure is still printed
                errors[spec.slug] = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - started
    pages = {spec.slug: fake.requests.get(spec.slug, 0) for spec in PROVIDERS}
    return {"seconds": seconds, "workers": workers, "pages": pages, "errors": errors,
            "per_provider": per_provider,
            "fifo_bound": _pool_makespan([pages[s.slug] * latency for s in PROVIDERS], workers),
            "lpt_bound": _pool_makespan(sorted((p * latency for p in pages.values()), reverse=True), workers)}


def _pool_makespan(durations: list[float], workers: int) -> float:
    """When the last job ends if each goes, in order, to the first free worker (no other cost at all)."""
    free = [0.0] * workers
    for duration in durations:
        slot = free.index(min(free))
        free[slot] += duration
    return max(free)


def _graphql(port: int, query: str, variables: dict | None = None, timeout: float = 10) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    with opener.open(request, timeout=timeout) as response:
        return json.load(response)


READY_QUERY = """{
  repositoryOrError(repositorySelector: {repositoryLocationName: "%s", repositoryName: "%s"}) { __typename }
  instance { daemonHealth { daemonStatus(daemonType: "QUEUED_RUN_COORDINATOR") { healthy } } }
}""" % (LOCATION, REPOSITORY)
LAUNCH_MUTATION = """mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""
RUN_QUERY = """query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status creationTime startTime endTime } }
}"""


def ui_launch(base_env, endpoints, root: Path, timeout: float) -> dict:
    """sync_all through the webserver's launchRun, executed by the daemon's queued run coordinator."""
    out: dict = {}
    with scratch_database(endpoints.database_url, "ui") as url, scratch_redis(endpoints, 2) as redis_url:
        port = free_port()
        env = {**base_env, "DATABASE_URL": url, "REDIS_URL": redis_url, **case_prefix(),
               "DAGSTER_HOME": str(dagster_home(root / "ui")), "DAGSTER_PG_URL": services.sqlalchemy_url(url)}
        logs = {"webserver": root / "ui" / "webserver.log", "daemon": root / "ui" / "daemon.log"}
        started = time.monotonic()
        webserver = start_server([str(VENV_BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                                  "-p", str(port)], env, logs["webserver"])
        daemon = start_server([str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, logs["daemon"])
        try:
            ready = {}
            while len(ready) < 3:
                for name, process in (("webserver", webserver), ("daemon", daemon)):
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail(logs[name])}")
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"not ready after {timeout:.0f} s (so far: {ready}):\n"
                                       f"{log_tail(logs['webserver'])}\n{log_tail(logs['daemon'])}")
                try:
                    data = _graphql(port, READY_QUERY)["data"]
                except (OSError, ValueError, KeyError, TypeError):
                    time.sleep(0.2)
                    continue
                now = time.monotonic() - started
                ready.setdefault("webserver answers", now)
                if data["repositoryOrError"]["__typename"] == "Repository":
                    ready.setdefault("code location loaded", now)
                if (data["instance"]["daemonHealth"]["daemonStatus"] or {}).get("healthy"):
                    ready.setdefault("queued run coordinator daemon healthy", now)
                time.sleep(0.2)
            out["ready"] = ready

            params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": JOB},
                      "runConfigData": {}}
            launched = time.monotonic()
            answer = _graphql(port, LAUNCH_MUTATION, {"executionParams": params}, timeout=60)
            result = (answer.get("data") or {}).get("launchRun") or {}
            if result.get("__typename") != "LaunchRunSuccess":
                raise RuntimeError(f"launchRun answered {json.dumps(answer)[:1000]}")
            run_id = result["run"]["runId"]
            out["launch_request_seconds"] = time.monotonic() - launched
            seen: dict[str, float] = {}
            status, run = None, {}
            while status not in ("SUCCESS", "FAILURE", "CANCELED"):
                if time.monotonic() - launched > timeout:
                    raise RuntimeError(f"run {run_id} still {status} after {timeout:.0f} s:\n{log_tail(logs['daemon'])}")
                run = _graphql(port, RUN_QUERY, {"runId": run_id})["data"]["runOrError"]
                status = run.get("status")
                seen.setdefault(status, time.monotonic() - launched)
                if status not in ("SUCCESS", "FAILURE", "CANCELED"):
                    time.sleep(0.1)
            out.update(seconds=seen[status], status=status, seen=seen, run_id=run_id,
                       server_seconds=(run["endTime"] - run["creationTime"]) if run.get("endTime") else None,
                       worker_started=(run["startTime"] - run["creationTime"]) if run.get("startTime") else None)
            out["published"] = published(url, redis_url)
            out["events"] = dagster_events(url)
        finally:
            stop_server(webserver)
            stop_server(daemon)
    return out


def hung_provider(fake: FakeProviders, endpoints, root: Path, latency: float, deadline: float, slug: str) -> dict:
    """One provider never answers; the rest at `latency`. In-process (no env var sets the deadline)."""
    import dagster as dg

    from modelsync_pipeline.definitions import defs
    from modelsync_pipeline.resources import PostgresResource, ProviderApi, RedisResource

    fake.set(slug, latency=latency, fault="hang")
    try:
        with scratch_database(endpoints.database_url, "hang") as url, scratch_redis(endpoints, 3) as redis_url:
            os.environ["DAGSTER_PG_URL"] = services.sqlalchemy_url(url)  # dagster.yaml reads it
            resources = {"provider_api": ProviderApi(source="live", deadline_seconds=deadline),
                         "postgres": PostgresResource(database_url=url), "redis": RedisResource(redis_url=redis_url)}
            log_path = root / "hang" / "dagster.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "w") as log, contextlib.redirect_stderr(log):
                with dg.DagsterInstance.from_config(str(dagster_home(root / "hang"))) as instance:
                    # pooled storage connection, as `modelsync run` uses, so (d) compares like with (a)
                    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
                    started = time.monotonic()
                    result = dg.materialize(list(defs.assets), resources=resources, instance=instance,
                                            raise_on_error=False)
                    seconds = time.monotonic() - started
            failures = {e.asset_key.to_user_string(): e.metadata["failure"].value
                        for e in result.get_asset_check_evaluations() if not e.passed and "failure" in e.metadata}
            materialized = {e.event_specific_data.materialization.asset_key.to_user_string()
                            for e in result.get_asset_materialization_events()}
            return {"seconds": seconds, "success": result.success, "failures": failures,
                    "table_published": "models_table" in materialized, "cache_published": "models_cache" in materialized,
                    "published": published(url, redis_url)}
    finally:
        fake.set(slug, latency=latency)


# --- report --------------------------------------------------------------------------------------------


def print_figures(figures: list[Figure]) -> None:
    header = f"{'figure':<50} {'value':>9}  {'baseline':<44} {'ratio':>7}  {'goal':<18} {'met':>3}"
    print(header)
    print("-" * len(header))
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "no")
        print(f"{f.label:<50} {f.value:>9}  {f.baseline:<44} {f.ratio:>7}  {f.goal:<18} {met:>3}")


def timeline(child: Child, slugs: set[str]) -> list[str]:
    """The CLI's own lines (not the per-provider ones or the summary table) with their arrival times, plus
    the first and last provider "fetching" line and the first and last provider outcome line."""
    marks, fetching, outcomes = [], [], []
    for t, line in child.lines:
        text = line.strip()
        if text.split(":", 1)[0] in slugs:
            (fetching if ": fetching " in text else outcomes).append((t, text))
        elif text and not re.match(r"\s+\S+\s+\d+\s", line):
            marks.append((t, text))
    for name, group in (("fetch line", fetching), ("outcome line", outcomes)):
        if group:
            marks += [(group[0][0], f"first provider {name} ({len(group)}): {group[0][1][:60]}"),
                      (group[-1][0], f"last provider {name}: {group[-1][1][:60]}")]
    marks.append((child.seconds, f"process exited ({child.returncode})"))
    lines = [f"  {t:7.2f} s  {text[:110]}" for t, text in sorted(marks)]
    if len(outcomes) > 1:
        gap = (outcomes[-1][0] - outcomes[0][0]) / (len(outcomes) - 1)
        lines.append(f"  provider outcomes arrived on average {gap:.2f} s apart (each is checked and staged in turn)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds every provider request takes")
    parser.add_argument("--deadline", type=float, default=2.0, help="ProviderApi.deadline_seconds in (d)")
    parser.add_argument("--hang-provider", default="groq", help="the provider that never answers in (d)")
    parser.add_argument("--skip-ui", action="store_true", help="skip (c): webserver + daemon + launchRun")
    parser.add_argument("--timeout", type=float, default=240, help="seconds before a case is abandoned")
    parser.add_argument("--state-dir", default=str(REPO_ROOT / ".modelsync" / "bench_e2e"))
    args = parser.parse_args()
    slugs = {spec.slug for spec in PROVIDERS}
    token = uuid.uuid4().hex
    root = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    figures: list[Figure] = []
    details: list[str] = []
    killed: list[str] = []

    try:
        with services.services(Path(args.state_dir)) as endpoints, FakeProviders() as fake:
            fake.set_all(latency=args.latency)
            os.environ.update(fake.environ())  # (b) and (d) run in this process
            base_env = {**os.environ, **fake.environ(), MARKER: token}
            for name in ("DATABASE_URL", "REDIS_URL", "DAGSTER_HOME", "DAGSTER_PG_URL"):
                base_env.pop(name, None)  # each case sets its own
            print(f"bench_e2e: {len(PROVIDERS)} providers at {args.latency:g} s per request (loopback fake server), "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
            print(f"  PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}; dagster has a .pyc in "
                  f"the venv: {'yes' if has_bytecode('dagster') else 'no'}", flush=True)
            print(f"  database: {redact_url(endpoints.database_url)} [{endpoints.database_source}]; "
                  f"cache: {redact_url(endpoints.redis_url)} [{endpoints.redis_source}]", flush=True)

            print("importtime ...", flush=True)
            import_seconds, top_imports = import_times(base_env)
            print("Dagster floor (cold, then warm) ...", flush=True)
            floor, floor_warm, floor_events = dagster_floor(base_env, endpoints.database_url, root, args.timeout)
            print("(a) modelsync run, cold ...", flush=True)
            cli, cli_outcome, cli_events = cold_cli_run(base_env, endpoints, root, args.timeout)

            print("(a') the same two with a bytecode cache ...", flush=True)
            pyc_env = bytecode_cache_env(base_env, root)
            pyc_import_seconds = run_child([PYTHON, "-c", "import modelsync_pipeline.definitions"], pyc_env, 120).seconds
            floor_pyc = dagster_floor(pyc_env, endpoints.database_url, root / "pyc", args.timeout)[0]
            cli_pyc = cold_cli_run(pyc_env, endpoints, root / "pyc", args.timeout)[0]

            a_ok = cli.returncode == 0
            figures.append(Figure("(a) modelsync run, cold, fresh process", f"{cli.seconds:.2f} s",
                                  f"Dagster floor {floor.seconds:.2f} s (2 assets, cold DB)",
                                  f"{cli.seconds / floor.seconds:.2f}x", "<= 2x floor",
                                  cli.seconds <= 2 * floor.seconds))
            figures.append(Figure("(a') the same, bytecode cache (PYTHONPYCACHEPREFIX)", f"{cli_pyc.seconds:.2f} s",
                                  f"Dagster floor {floor_pyc.seconds:.2f} s, same cache",
                                  f"{cli_pyc.seconds / floor_pyc.seconds:.2f}x", "<= 2x floor (info)",
                                  cli_pyc.returncode == 0 and cli_pyc.seconds <= 2 * floor_pyc.seconds))
            details.append(f"(a) exit status {cli.returncode}; published: {cli_outcome[0]} of {cli_outcome[1]} providers "
                           f"have models, {cli_outcome[2]} models, cache version {cli_outcome[3]}; Dagster event_logs rows "
                           f"written: {cli_events} (the floor's cold run: {floor_events})")
            details.append(f"    floor warm (same DB, second process): {floor_warm.seconds:.2f} s; fresh-process "
                           f"`import modelsync_pipeline.definitions`: {import_seconds:.2f} s ({pyc_import_seconds:.2f} s with a "
                           f"bytecode cache); (a') exit status {cli_pyc.returncode}")
            details.append("    (a) timeline (time since spawn of the line's arrival):")
            details += ["  " + line for line in timeline(cli, slugs)]
            if not a_ok:
                details += ["    (a) last output lines:"] + [f"      | {line}" for _, line in cli.lines[-15:]]

            print("(b) fetch phase, in-process ...", flush=True)
            fetch = fetch_phase(fake, args.latency)
            serial = len(PROVIDERS) * args.latency
            figures.append(Figure(f"(b) fetch phase, {len(PROVIDERS)} providers, {fetch['workers']} at once",
                                  f"{fetch['seconds']:.2f} s", f"serial sum {len(PROVIDERS)} x {args.latency:g} s = "
                                  f"{serial:.2f} s", f"{fetch['seconds'] / serial:.2f}x", "<= 1.5 s",
                                  fetch["seconds"] <= 1.5))
            multi = {slug: n for slug, n in fetch["pages"].items() if n != 1}
            details.append(f"(b) {sum(fetch['pages'].values())} requests; providers not on 1 request: "
                           + ", ".join(f"{slug} {n}" for slug, n in sorted(multi.items())))
            details.append(f"    the best a pool of {fetch['workers']} can do at {args.latency:g} s per request, "
                           f"no other cost: {fetch['fifo_bound']:.2f} s in registry order, "
                           f"{fetch['lpt_bound']:.2f} s longest first")
            slowest = sorted(fetch["per_provider"].items(), key=lambda kv: -kv[1])[:3]
            details.append("    slowest providers: " + ", ".join(f"{s} {t:.2f} s" for s, t in slowest))
            if fetch["errors"]:
                details.append(f"    fetch errors: {fetch['errors']}")

            if args.skip_ui:
                figures.append(Figure("(c) sync_all via launchRun (daemon, queued)", "skipped", "", "", "<= 1.5x (a)", None))
            else:
                print("(c) sync_all through webserver + daemon ...", flush=True)
                try:
                    ui = ui_launch(base_env, endpoints, root, args.timeout)
                    figures.append(Figure("(c) sync_all via launchRun (daemon, queued)", f"{ui['seconds']:.2f} s",
                                          f"(a) {cli.seconds:.2f} s", f"{ui['seconds'] / cli.seconds:.2f}x",
                                          "<= 1.5x (a)", ui["status"] == "SUCCESS" and ui["seconds"] <= 1.5 * cli.seconds))
                    p = ui["published"]
                    details.append(f"(c) run {ui['run_id']} {ui['status']}; published: {p[0]} of {p[1]} providers "
                                   f"have models, {p[2]} models, cache version {p[3]}; Dagster event_logs rows: {ui['events']}")
                    details.append("    ready before launch (s after start): "
                                   + ", ".join(f"{k} {v:.1f}" for k, v in ui["ready"].items()))
                    details.append("    status first seen (s after launch): "
                                   + ", ".join(f"{k} {v:.2f}" for k, v in ui["seen"].items())
                                   + f"; run storage: worker started {ui['worker_started'] or 0:.2f}, "
                                     f"ended {ui['server_seconds'] or 0:.2f} after creation")
                except Exception as exc:  # noqa: BLE001 - the other figures still print
                    figures.append(Figure("(c) sync_all via launchRun (daemon, queued)", "failed", "", "", "<= 1.5x (a)", False))
                    details.append(f"(c) FAILED: {exc}")
                finally:
                    killed += kill_leftovers(token)

            print("(d) one provider hung ...", flush=True)
            hang = hung_provider(fake, endpoints, root, args.latency, args.deadline, args.hang_provider)
            goal_d = args.deadline + cli.seconds
            p = hang["published"]
            others_ok = hang["table_published"] and p[0] == len(PROVIDERS) - 1
            figures.append(Figure(f"(d) {args.hang_provider} hung, deadline {args.deadline:g} s, in-process",
                                  f"{hang['seconds']:.2f} s", f"deadline + (a) = {goal_d:.2f} s",
                                  f"{hang['seconds'] / goal_d:.2f}x", "<= deadline + (a)",
                                  others_ok and hang["seconds"] <= goal_d))
            details.append(f"(d) others published: {'yes' if others_ok else 'NO'} ({p[0]} of {p[1]} providers have "
                           f"models, {p[2]} models; models_table {'materialized' if hang['table_published'] else 'NOT materialized'}, "
                           f"models_cache {'materialized' if hang['cache_published'] else 'NOT materialized'}, "
                           f"cache version {p[3]}); run success={hang['success']}")
            for asset, failure in hang["failures"].items():
                details.append(f"    {asset}: {failure[:150]}")

            figures.append(Figure("(e) peak RSS of (a)'s process (ru_maxrss)", f"{cli.maxrss_mb:.0f} MB",
                                  f"floor's process {floor.maxrss_mb:.0f} MB", f"{cli.maxrss_mb / floor.maxrss_mb:.2f}x",
                                  "(none given)", None))
    finally:
        killed += kill_leftovers(token)
        shutil.rmtree(root, ignore_errors=True)

    print()
    print_figures(figures)
    print()
    for line in details:
        print(line)
    print()
    print(f"python -X importtime -c 'import modelsync_pipeline.definitions': top {IMPORTTIME_TOP} by cumulative time")
    print(f"  {'cumulative':>10} {'self':>8}  module")
    for cumulative, own, name in top_imports:
        print(f"  {cumulative / 1000:>7.0f} ms {own / 1000:>5.0f} ms  {name}")
    print()
    print(f"child processes left at the end and killed: {len(killed)}" + "".join(f"\n  {k}" for k in killed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
