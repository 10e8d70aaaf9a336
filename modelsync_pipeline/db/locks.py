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

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import psycopg

from .statements import statements

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
    age: float

    @property
    def is_modelsync(self) -> bool:
        return self.application == APPLICATION_NAME

    def __str__(self) -> str:
        who = "a modelsync write" if self.is_modelsync else (self.application or "no application name")
        return f"server process {self.pid} ({who}, user {self.user or '?'}, {self.state or 'state unknown'} for {self.age:.0f} s)"


class LockWatch:
    """What the watch saw: `gave_up` is the reason it last cancelled the write's statement, if it did."""

    def __init__(self) -> None:
        self.gave_up: str | None = None
        self.error: str | None = None  # the watch itself failed (its connection): the write went on unwatched

    def cancelled(self, exc: BaseException) -> str | None:
        """Why the watch cancelled the statement that raised `exc`, or None: `exc` is something else (a
        statement timeout raises the same QueryCanceled). Each cancellation is told once."""
        if not isinstance(exc, psycopg.errors.QueryCanceled) or self.gave_up is None:
            return None
        reason, self.gave_up = self.gave_up, None
        return reason


def wait_bound() -> float:
    """MODELSYNC_LOCK_WAIT_SECONDS: how long a write waits for a lock held outside modelsync."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_WAIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{WAIT_ENV} must be a number of seconds above 0, not {raw!r}")
    return value


@contextmanager
def watch_locks(conn: psycopg.Connection, connect: Callable[[], psycopg.Connection] | None, what: str,
                log: Callable[[str], None] | None = None, bound: float | None = None,
                every: float | None = None) -> Iterator[LockWatch]:
    """Watch `conn` (the write's connection) while the block runs; see the module doc. Without `connect`
    (no way to open a second connection) the block runs unwatched."""
    watch = LockWatch()
    if connect is None:
        yield watch
        return
    bound = wait_bound() if bound is None else bound
    every = REPORT_EVERY_SECONDS if every is None else every
    stop = threading.Event()
    thread = threading.Thread(target=_watch, name=f"lock watch: {what}", daemon=True,
                              args=(conn.info.backend_pid, connect, what, log or (lambda _: None), bound, every,
                                    stop, watch))
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()


def _watch(pid: int, connect, what: str, log, bound: float, every: float, stop: threading.Event,
           watch: LockWatch) -> None:
    sql = statements("locks")
    first = min(5.0, every)  # a short wait (another write's commit) is not worth a line
    try:
        with connect() as watcher:
            since = reported = None
            seen: dict[int, float] = {}  # holder pid -> when the write was first seen waiting for it
            while not stop.wait(_POLL_SECONDS):
                holders = [Holder(*row) for row in watcher.execute(sql["blockers"], {"pid": pid})]
                now = time.monotonic()
                if not holders:
                    since = reported = None
                    continue
                since = since or now
                waited = now - since
                for holder in holders:
                    seen.setdefault(holder.pid, now)
                # A holder outside modelsync is given `bound` seconds in all: a write that waits for it again
                # (the next provider's stage) is cancelled at once.
                overdue = [h for h in holders if not h.is_modelsync and now - seen[h.pid] >= bound]
                if overdue:
                    watch.gave_up = (f"{what} waited {now - seen[overdue[0].pid]:.0f} s ({WAIT_ENV}={bound:g}) for "
                                     "a lock held by " + "; ".join(map(str, overdue))
                                     + ": end that transaction (or pg_terminate_backend it) and launch again")
                    log(watch.gave_up)
                    watcher.execute(sql["cancel"], {"pid": pid})
                    since = reported = None
                    continue
                if (reported is None and waited >= first) or (reported is not None and now - reported >= every):
                    reported = now
                    outside = any(not h.is_modelsync for h in holders)
                    limit = (f"; it gives up after {bound:g} s ({WAIT_ENV})" if outside else
                             "; another modelsync write goes first, however long it takes")
                    log(f"{what} has waited {waited:.0f} s for a lock held by "
                        + "; ".join(map(str, holders)) + limit)
    except psycopg.Error as exc:
        watch.error = f"{type(exc).__name__}: {exc}"
