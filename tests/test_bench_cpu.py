"""bench_refresh.py's CPU meter, from which it prints the bound on (a) and (d): it must count every process of
the server, including a backend that has since disconnected (a refresh's second connection ends with it)."""

from __future__ import annotations

import time

import psycopg
import pytest

from .test_layout import BENCH, benchmark_module


@pytest.fixture(scope="module")
def bench_refresh():
    with benchmark_module(BENCH / "bench_refresh.py") as module:
        yield module


def _on_this_machine(conn: psycopg.Connection) -> bool:
    host = conn.info.host
    return host.startswith("/") or host in ("127.0.0.1", "localhost", "::1")


def test_the_server_cpu_counts_a_backend_that_has_disconnected(bench_refresh, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        meter = bench_refresh.ServerCpu(conn)
        before = meter.seconds()
        if not _on_this_machine(conn):
            assert before is None  # a server elsewhere: nothing measured rather than this machine's processes
            return
    assert before is not None, "the server runs on this machine, but the meter did not find its postmaster"
    with psycopg.connect(database_url, autocommit=True) as busy:
        busy.execute("SELECT count(*) FROM generate_series(1, 4000000) g WHERE g % 7 = 0")  # the backend's CPU
        # What it spent, read while it is still connected: its wall time says nothing of that on a busy machine
        # (a CI run measured 0.33 s of wall time for ~0.1 s of CPU).
        stat = bench_refresh.ServerCpu._stat(busy.info.backend_pid)
        spent = (int(stat[11]) + int(stat[12])) / bench_refresh.ServerCpu.TICKS
    assert spent >= 0.05, spent  # enough to tell from the clock ticks /proc counts in
    enough = spent - 2 / bench_refresh.ServerCpu.TICKS  # the meter reads in whole ticks
    deadline = time.monotonic() + 30
    while meter.seconds() - before < enough and time.monotonic() < deadline:
        time.sleep(0.1)  # until the postmaster has reaped the backend and added its time to its children's
    counted = meter.seconds() - before
    assert counted >= enough, (before, counted, spent)
