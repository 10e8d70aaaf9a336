"""A write that waits for a lock says so, and gives up on a holder that is not modelsync (`sql/locks.sql`).

A refresh, flush, reset or restore queues behind whoever holds a lock it needs: another modelsync write
(the advisory lock that serialises them; legitimate, however long), or anything else, such as an
operator's `LOCK TABLE models` or a long DDL, which could hold it for ever. Before this watch such a wait
was silent and unbounded. `watch_locks` runs beside the write on a connection of its own: every `every`
seconds that the write waits it reports what it waits for, and once it has waited `bound` seconds for a
holder that is not a modelsync connection it cancels the write's statement, so the write rolls back whole
and fails naming that holder. Waiting behind modelsync's own writes is reported and never cut short.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import psycopg

from .statements import raised, statements

APPLICATION_NAME = "modelsync"  # every modelsync connection's application_name (statements.connect)
WAIT_ENV = "MODELSYNC_LOCK_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 600.0
REPORT_EVERY_SECONDS = 30.0
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Holder:
    pid: int
    application: str
    user: str
    state: str
    age: float | None  # None: hidden from this role (another role's session, without pg_read_all_stats)
    since: str | None  # when its transaction (or session) began: one transaction of a process from the next
    waiting: bool  # itself waiting for a lock: queued ahead of the write, not holding what it needs

    @property
    def is_modelsync(self) -> bool:
        """A modelsync connection: a write's ("modelsync"), the second connection of its first loads
        ("modelsync beside") or a reader's ("modelsync-reader")."""
        return self.application.startswith(APPLICATION_NAME)

    @property
    def key(self) -> tuple[int, str | None]:
        return self.pid, self.since

    def __str__(self) -> str:
        who = "a modelsync write" if self.is_modelsync else (self.application or "no application name")
        age = "for an unknown time" if self.age is None else f"for {self.age:.0f} s"
        queued = "; queued ahead of this write, itself waiting for a lock" if self.waiting else ""
        return f"server process {self.pid} ({who}, user {self.user or '?'}, {self.state or 'state unknown'} {age}{queued})"


class LockWatch:
    """What the watch saw: `gave_up` is the reason it last cancelled the write's statement, if it did;
    `error` why the watch itself stopped (the write then went on unwatched, and the log said so)."""

    def __init__(self, pid: int | None = None) -> None:
        self.gave_up: str | None = None
        self.error: str | None = None
        self._stopped = False
        self._lock = threading.Lock()  # held while deciding to cancel and cancelling, and to stop
        # The server processes watched: the write's connection, and any other connection working for the same
        # write while it waits (the refresh's second connection: `also`).
        self.pids: set[int] = {pid} if pid is not None else set()

    @contextmanager
    def also(self, conn: psycopg.Connection) -> Iterator[None]:
        """Watch `conn` too while the block runs: a connection of the same write, which the write waits for."""
        pid = conn.info.backend_pid
        self.pids.add(pid)
        try:
            yield
        finally:
            self.pids.discard(pid)

    def cancelled(self, exc: BaseException) -> str | None:
        """Why the watch cancelled the statement that raised `exc` (or caused it: the second connection's error
        reaches the write wrapped), or None: `exc` is something else (a statement timeout raises the same
        QueryCanceled, saying so). Each cancellation is told once."""
        exc = raised(exc, psycopg.errors.QueryCanceled)
        if exc is None or self.gave_up is None:
            return None
        if "statement timeout" in str(exc):
            return None
        reason, self.gave_up = self.gave_up, None
        return reason

    def _cancel(self, watcher: psycopg.Connection, pid: int, reason: str) -> bool:
        """Cancel the write's statement if it still waits for a lock and the watch is still running."""
        with self._lock:
            if self._stopped:
                return False
            # Told before the cancel is sent: the write's thread may read it the moment its statement raises.
            previous, self.gave_up = self.gave_up, reason
            if watcher.execute(statements("locks")["cancel"], {"pid": pid}).fetchone() is None:
                self.gave_up = previous  # the lock was granted meanwhile: nothing was cancelled, the write goes on
                return False
            return True

    def _stop(self) -> None:
        with self._lock:
            self._stopped = True


def read_committed(conn: psycopg.Connection) -> None:
    """As the first statement of a write's transaction that waits for its lock and then reads what the write
    before it left (`read_committed` in sql/locks.sql): READ COMMITTED whatever isolation the role or database
    makes the default."""
    conn.execute(statements("locks")["read_committed"])


def wait_behind_writes(conn: psycopg.Connection, statement: str, params: dict | None = None) -> None:
    """Run `statement`, a wait for the lock that serialises modelsync's writes (modelsync_wait_lock), with no
    statement_timeout: such a wait is reported by the watch and never cut short. A statement_timeout set for the
    role or the database (2 s, say) cut it short behind another run's refresh: "QueryCanceled: canceling
    statement due to statement timeout", the table step failed and so did the publish after it, with nothing
    said of the write it waited for. The timeout is back for every statement after the wait."""
    sql = statements("locks")
    conn.execute(sql["lift_statement_timeout"])
    try:
        conn.execute(statement, params)
    finally:
        # A failed wait in a transaction is rolled back with the SET; a closed connection has no session left.
        if not conn.closed and conn.info.transaction_status in (psycopg.pq.TransactionStatus.IDLE,
                                                                psycopg.pq.TransactionStatus.INTRANS):
            conn.execute(sql["restore_statement_timeout"])


_CURRENT: contextvars.ContextVar[LockWatch | None] = contextvars.ContextVar("modelsync_lock_watch", default=None)


def current() -> LockWatch | None:
    """The watch of the write running in this thread, for a connection it opens to work for it."""
    return _CURRENT.get()


def wait_bound() -> float:
    """MODELSYNC_LOCK_WAIT_SECONDS: how long a write waits for a lock held outside modelsync."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_WAIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{WAIT_ENV} must be a number of seconds above 0, not {raw!r}")
    return value


@contextmanager
def watch_locks(conn: psycopg.Connection, connect: Callable[[], psycopg.Connection] | None, what: str,
                log: Callable[[str], None] | None = None, bound: float | None = None,
                every: float | None = None) -> Iterator[LockWatch]:
    """Watch `conn` (the write's connection) while the block runs; see the module doc. Without `connect`
    (no way to open a second connection) the block runs unwatched."""
    watch = LockWatch(conn.info.backend_pid)
    if connect is None:
        yield watch
        return
    bound = wait_bound() if bound is None else bound
    every = REPORT_EVERY_SECONDS if every is None else every
    stop = threading.Event()
    thread = threading.Thread(target=_watch, name=f"lock watch: {what}", daemon=True,
                              args=(connect, what, log or (lambda _: None), bound, every, stop, watch))
    thread.start()
    token = _CURRENT.set(watch)
    try:
        yield watch
    finally:
        _CURRENT.reset(token)
        watch._stop()  # from here on it cancels nothing, even if its thread is still connecting
        stop.set()
        thread.join(timeout=2.0)


@dataclass
class _Wait:
    """One watched connection's current wait."""
    since: float | None = None
    reported: float | None = None
    seen: dict = field(default_factory=dict)  # holder (process, transaction) -> when this wait began for it


def _watch(connect, what: str, log, bound: float, every: float, stop: threading.Event, watch: LockWatch) -> None:
    first = min(5.0, every)  # a short wait (another write's commit) is not worth a line
    try:
        with connect() as watcher:
            waits: dict[int, _Wait] = {}
            overdue: set[tuple] = set()  # holders that used up the bound: the next wait for them is cut at once
            while not stop.wait(_POLL_SECONDS):
                for pid in list(watch.pids):
                    _look(watcher, pid, waits.setdefault(pid, _Wait()), overdue, what, log, bound, every, first, watch)
                for pid in set(waits) - watch.pids:
                    del waits[pid]
    except Exception as exc:  # noqa: BLE001 - the write goes on unwatched; say so, never crash it
        watch.error = f"{type(exc).__name__}: {exc}"
        if not stop.is_set():
            log(f"{what}: the lock watch stopped ({watch.error}); a wait for a lock is no longer bounded")


def _look(watcher: psycopg.Connection, pid: int, wait: _Wait, overdue: set, what: str, log, bound: float,
          every: float, first: float, watch: LockWatch) -> None:
    """One look at what the connection `pid` waits for: report it, or cancel it (see the module doc)."""
    holders = [Holder(*row) for row in watcher.execute(statements("locks")["blockers"], {"pid": pid})]
    now = time.monotonic()
    current = {h.key for h in holders}
    wait.seen = {key: t for key, t in wait.seen.items() if key in current}
    if not holders:
        wait.since = wait.reported = None
        return
    wait.since = wait.since or now
    waited = now - wait.since
    for holder in holders:
        wait.seen.setdefault(holder.key, now)
    # A holder outside modelsync that is not itself queued gets `bound` seconds in all: a write that waits for it
    # again in the same transaction (the next provider's stage) is cut at once.
    outside = [h for h in holders if not h.is_modelsync and not h.waiting]
    late = [h for h in outside if h.key in overdue or now - wait.seen[h.key] >= bound]
    if late:
        reason = (f"{what} waited {now - wait.seen[late[0].key]:.0f} s ({WAIT_ENV}={bound:g}) for a lock held by "
                  + "; ".join(map(str, late)) + ": end that transaction (or pg_terminate_backend it) and launch again")
        if watch._cancel(watcher, pid, reason):
            overdue.update(h.key for h in late)
            log(reason)
            wait.since = wait.reported = None
        return
    if (wait.reported is None and waited >= first) or (wait.reported is not None and now - wait.reported >= every):
        wait.reported = now
        limit = (f"; it gives up after {bound:g} s ({WAIT_ENV})" if outside else
                 "; another modelsync write goes first (with whoever queued behind it), however long it takes")
        log(f"{what} has waited {waited:.0f} s for a lock held by " + "; ".join(map(str, holders)) + limit)
