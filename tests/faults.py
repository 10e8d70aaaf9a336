"""Stop a write at a named fault point: in a child process, to SIGKILL it there (`kill_at`), or in a thread,
to act on the half-done write and let it go on (`paused_at`). Cut a writer's connection in its COMMIT
(`slow_commits`, `Relay`, `cut_in_commit`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent


def kill_at(point: str, script: str, args: list[str], tmp_path: Path, while_paused: Callable[[], None] = lambda: None) -> None:
    """Start `python -c script *args` with MODELSYNC_FAULT=<point>=pause, wait until it stands at the
    point (inside its open transaction), call `while_paused`, then SIGKILL it."""
    ready = tmp_path / f"ready-{point.replace(':', '_')}"
    env = {**os.environ, "MODELSYNC_FAULT": f"{point}=pause", "MODELSYNC_FAULT_READY": str(ready)}
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the writer ended before {point}: {proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, f"the writer never reached {point}"
            time.sleep(0.02)
        while_paused()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


@contextlib.contextmanager
def paused_at(point: str, target: Callable[[], object], tmp_path: Path, monkeypatch):
    """Run `target()` in a thread with MODELSYNC_FAULT=<point>=wait and yield once it stands at the point, so
    the test acts on the half-done write; then let it go on and wait for it. The dict yielded holds, after
    the block, "result" or "error" (the exception `target` raised)."""
    ready, go_on = tmp_path / f"ready-{point.replace(':', '_')}", tmp_path / f"continue-{point.replace(':', '_')}"
    monkeypatch.setenv("MODELSYNC_FAULT", f"{point}=wait")
    monkeypatch.setenv("MODELSYNC_FAULT_READY", str(ready))
    monkeypatch.setenv("MODELSYNC_FAULT_CONTINUE", str(go_on))
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = target()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and thread.is_alive(), f"the write never reached {point}: {outcome}"
        time.sleep(0.02)
    try:
        yield outcome
    finally:
        go_on.write_text("go")
        thread.join(60)


def slow_commits(conn) -> None:
    """Make the COMMIT of every catalog write take a second (a deferred trigger on catalog_version, which every
    write bumps), so a test can act while a writer waits for its COMMIT's reply."""
    conn.execute("CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # once per commit
                 "IF current_setting('test.slept', true) IS DISTINCT FROM 'yes' THEN "
                 "PERFORM set_config('test.slept', 'yes', true); PERFORM pg_sleep(1); END IF; RETURN NULL; END $$")
    conn.execute("CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON catalog_version DEFERRABLE INITIALLY "
                 "DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()")


class Relay:
    """A TCP relay between PostgreSQL and its clients (`url`), a pair of sockets per connection, as a network
    between them: `cut(client_port)` closes the client side of the connection the server sees coming from that
    port (pg_stat_activity.client_port), so the client finds the server gone, and leaves its server side open,
    so the server goes on with what it was doing, until `close_server(client_port)`."""

    def __init__(self, database_url: str):
        import psycopg.conninfo

        target = psycopg.conninfo.conninfo_to_dict(database_url)
        self._target = (target.get("host") or "127.0.0.1", int(target.get("port") or 5432))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = psycopg.conninfo.make_conninfo(database_url, host="127.0.0.1",
                                                  port=self._listener.getsockname()[1])
        self._pairs: dict[int, tuple[socket.socket, socket.socket]] = {}  # by the server side's local port
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc) -> None:
        self._listener.close()
        for client, server in self._pairs.values():
            client.close()
            server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(self._target)
            self._pairs[server.getsockname()[1]] = (client, server)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:  # one side cut or closed: this direction ends, and the other side is left as it is
            pass

    def cut(self, client_port: int) -> None:
        client = self._pairs[client_port][0]
        client.shutdown(socket.SHUT_RDWR)
        client.close()

    def close_server(self, client_port: int) -> None:
        server = self._pairs[client_port][1]
        server.shutdown(socket.SHUT_RDWR)  # close() alone sends nothing while a pump's recv() still holds it
        server.close()


@contextlib.contextmanager
def cut_in_commit(relay: Relay, database_url: str, run_id: str | None = None):
    """While the block runs, a thread waits for the write whose started audit row has `run_id` (any, when None)
    to be in its COMMIT through `relay`, cuts its connection there, and once the server has committed closes the
    server's side too (its session then ends). Yields a list that says "cut" once done, or what went wrong."""
    import psycopg

    session = ("SELECT a.state, a.query, a.client_port FROM pg_stat_activity a JOIN audit_log l "
               "ON l.writer_pid = a.pid AND l.writer_session_start = a.backend_start "
               "WHERE l.outcome = 'started' AND (l.run_id = %(run_id)s OR %(run_id)s IS NULL)")
    said: list[str] = []

    def cut() -> None:
        with psycopg.connect(database_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 120
            while (row := watcher.execute(session, {"run_id": run_id}).fetchone()) is None or row[:2] != ("active",
                                                                                                         "COMMIT"):
                if time.monotonic() > deadline:
                    return said.append(f"the write never reached its COMMIT: {row}")
                time.sleep(0.005)
            relay.cut(row[2])
            while (now := watcher.execute(session, {"run_id": run_id}).fetchone()) and now[0] == "active":
                time.sleep(0.01)  # the server commits meanwhile
            relay.close_server(row[2])  # its session ends, as the server finds its client gone
            said.append("cut")

    thread = threading.Thread(target=cut, daemon=True)
    thread.start()
    try:
        yield said
    finally:
        thread.join(timeout=120)
