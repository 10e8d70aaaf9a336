"""Stop a write at a named fault point: in a child process, to SIGKILL it there (`kill_at`), or in a thread,
to act on the half-done write and let it go on (`paused_at`)."""

from __future__ import annotations

import contextlib
import os
import signal
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
