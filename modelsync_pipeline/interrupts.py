"""Whether the operator stopped this process (Ctrl-C, SIGTERM), whatever caught the signal.

Dagster turns Ctrl-C into a failed step at its own checkpoints. An interrupt that lands while other code
catches everything (a library's bare `except:` around an optional import, say) is swallowed there: a
`modelsync run` interrupted 2.5 s in went on, published the table and the cache, and exited 0. Python writes
the number of every signal it handles to the wakeup fd before any handler runs, so `watch()` (the CLI, around
its runs) records the stop there, and `received()` tells the steps that write (models_table, models_cache)
and the CLI's summary. In a process that does not watch (runs launched from the UI, the daemon) received()
is False, and Dagster's own handling is all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Iterator

_STOPS = frozenset({signal.SIGINT, signal.SIGTERM})  # Dagster handles SIGTERM as SIGINT during a run

_pipe: int | None = None  # the read end of the wakeup fd while watch() is active
_stopped = False


@contextlib.contextmanager
def watch() -> Iterator[None]:
    """Record a stop signal from here on (main thread only, as every signal handler is). Nested, or in another
    thread: does nothing."""
    global _pipe, _stopped
    if _pipe is not None:
        yield
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        os.close(read)
        os.close(write)
        yield
        return
    _pipe, _stopped = read, False
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        received()  # what arrived until now stays known
        _pipe = None
        os.close(read)
        os.close(write)


def received() -> bool:
    """Whether a stop signal reached this process since watch() began (and stays so after it ends)."""
    global _stopped
    while _pipe is not None and not _stopped:
        try:
            numbers = os.read(_pipe, 512)
        except BlockingIOError:
            break
        if not numbers:
            break
        _stopped = any(number in _STOPS for number in numbers)
    return _stopped


def refuse_after_stop(step: str) -> None:
    """Called first by a step that writes: raises in a process the operator stopped while an earlier step went
    on, so that nothing is written after the stop and the run ends as interrupted."""
    if received():
        import dagster as dg

        raise dg.DagsterExecutionInterruptedError(
            f"{step}: the process was interrupted (Ctrl-C or SIGTERM) during an earlier step of this run, which went "
            "on; nothing is written after the interrupt")
