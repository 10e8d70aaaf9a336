"""Run a write in a child process, stop it at a named fault point, and SIGKILL it there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
