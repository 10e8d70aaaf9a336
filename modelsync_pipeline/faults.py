"""Named fault points, so tests can fail or kill a process at an exact step of a write.

`point(name)` does nothing unless `MODELSYNC_FAULT` names it: `MODELSYNC_FAULT=refresh:after_delete=raise`
raises there; `=pause` writes `$MODELSYNC_FAULT_READY` (if set) and sleeps, so a test can SIGKILL the
process while it stands inside the transaction. Production never sets the variable.
"""

from __future__ import annotations

import os
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
    if action == "pause":
        if ready := os.environ.get("MODELSYNC_FAULT_READY"):
            Path(ready).write_text(name)
        time.sleep(3600)
    raise InjectedFault(f"fault injected at {name}")
