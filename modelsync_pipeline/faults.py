"""Named fault points, so tests can fail or kill a process at an exact step of a write.

`point(name)` does nothing unless `MODELSYNC_FAULT` names it: `MODELSYNC_FAULT=refresh:after_delete=raise`
raises there; `=pause` writes `$MODELSYNC_FAULT_READY` (if set) and sleeps, so a test can SIGKILL the
process while it stands inside the transaction; `=wait` writes the ready file too, then goes on once
`$MODELSYNC_FAULT_CONTINUE` exists, so a test can act while the write is half done; `=interrupt_swallowed`
sends this process SIGINT and swallows what it raises, as code catching everything would. Production never
sets the variable.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


class InjectedFault(RuntimeError):
    pass


def point(name: str) -> None:
    spec = os.environ.get("MODELSYNC_FAULT")
    if not spec:
        return
    target, _, action = spec.partition("=")
    if target != name:
        return
    if action == "interrupt_swallowed":
        # Ctrl-C landing where something catches everything (a library's bare `except:`): the signal is
        # handled, its exception never reaches Dagster, and the step goes on (interrupts.py).
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except BaseException:  # noqa: BLE001 - swallowed on purpose: the fault being injected
            pass
        return
    if action in ("pause", "wait"):
        if ready := os.environ.get("MODELSYNC_FAULT_READY"):
            Path(ready).write_text(name)
        if action == "wait":
            go_on = Path(os.environ["MODELSYNC_FAULT_CONTINUE"])
            deadline = time.monotonic() + 120
            while not go_on.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            return
        time.sleep(3600)
    raise InjectedFault(f"fault injected at {name}")
