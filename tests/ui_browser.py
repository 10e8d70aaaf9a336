"""The Dagster UI in a browser, for tests: `make ui` on loopback, Debian's chromium through Playwright.

Playwright's own browser download is never used (CI reaches nothing but the package registries): the browser
is the `chromium` package from apt, launched through `executable_path`. A missing chromium or a missing
playwright FAILS the test with what to install; it is never a skip.

`make ui` runs `dagster dev`, which ignores SIGTERM when started in the background; it is started in its own
session and stopped by signalling the whole process group (SIGINT, then SIGKILL), which also ends the daemon,
the code server and any run worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / ".modelsync" / "artifacts" / "ui"
CHROMIUM_CANDIDATES = ("chromium", "/usr/bin/chromium")
READY_TIMEOUT_SECONDS = 240  # includes `make install` when pyproject.toml changed since the last install
STOP_GRACE_SECONDS = 20

WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def chromium_executable() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("the browser tests need Debian's chromium (/usr/bin/chromium): `apt-get install -y chromium` "
                "(.ci/run installs it); Playwright's own browser download is not used", pytrace=False)


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        pytest.fail("the browser tests need the playwright package: `make install` (it is in the test extra "
                    "of pyproject.toml)", pytrace=False)
    return start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_sigint() -> None:
    """SIGINT stops `dagster dev` cleanly; a pytest started in the background may have it ignored, and an
    ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DagsterUI:
    """`make ui STATE=<state_dir> PORT=<port>` with `env`, as an operator starts it; stop() ends all of it."""

    def __init__(self, state_dir: Path, env: dict[str, str]):
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / "make_ui.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-C", str(REPO_ROOT), "ui", f"STATE={state_dir}", f"PORT={self.port}"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_default_sigint,
            )

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def wait_until_loaded(self, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Seconds until the webserver answers AND the code location is loaded; a failure says why."""
        started = time.monotonic()
        last = "no answer yet"
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"`make ui` exited with {self.process.returncode}:\n{_tail(self.log_path)}")
            try:
                entries = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
                errors = [e["locationOrLoadError"].get("message") for e in loaded
                          if e["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise AssertionError(f"the code location failed to load in the UI: {errors[0]}")
                if loaded:
                    return time.monotonic() - started
                last = f"location entries: {entries}"
            time.sleep(0.5)
        raise AssertionError(f"the Dagster UI was not ready within {timeout:.0f} s ({last}):\n{_tail(self.log_path)}")

    def stop(self) -> None:
        """SIGINT to the whole group (dagster dev, daemon, code server, run workers), then SIGKILL."""
        pgid = self.process.pid  # the session leader: its pid is the group id
        for sig, grace in ((signal.SIGINT, STOP_GRACE_SECONDS), (signal.SIGKILL, 10)):
            if not _live_members(pgid):
                break
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while _live_members(pgid) and time.monotonic() < deadline:
                self.process.poll()  # reap make itself
                time.sleep(0.2)
        self.process.wait(timeout=10)
        left = _live_members(pgid)
        assert not left, f"processes of `make ui` survived SIGKILL: {left}"


def _live_members(pgid: int) -> list[int]:
    """Pids of the group's processes that are not zombies (a zombie answers kill(0) but is already gone)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def set_keys(node, values: dict) -> int:
    """Set each key of `values` wherever it appears in the nested mapping `node`; returns how many were set.
    Launchpad config is built from the example files in config/, whatever shape they have (flat or nested)."""
    count = 0
    if isinstance(node, dict):
        for key in list(node):
            if key in values:
                node[key] = values[key]
                count += 1
            else:
                count += set_keys(node[key], values)
    elif isinstance(node, list):
        count += sum(set_keys(item, values) for item in node)
    return count


# The lineage graph is an SVG: each asset a <foreignObject> (x, y, width, height in the SVG's coordinates) holding
# its name in `data-tooltip`, each dependency a <path> stroked with the lineage-edge colour from the upstream
# node's right side to the downstream node's left side (minus the arrow head). Group boxes are foreignObjects too:
# they are told apart by their GroupNode component class (a group may share an asset's name).
_LINEAGE_JS = r"""() => {
  const nodes = [];
  for (const fo of document.querySelectorAll('foreignObject')) {
    if (fo.querySelector('[class*="GroupNode"]')) continue;
    const named = fo.querySelector('[data-tooltip]');
    if (!named) continue;
    const [x, y, w, h] = ['x', 'y', 'width', 'height'].map(a => parseFloat(fo.getAttribute(a)));
    nodes.push({name: named.getAttribute('data-tooltip'), x, y, w, h});
  }
  const edges = [];
  for (const path of document.querySelectorAll('svg path[stroke="var(--color-lineage-edge)"]')) {
    const n = (path.getAttribute('d') || '').match(/-?\d+(?:\.\d+)?/g).map(Number);
    edges.push({x0: n[0], y0: n[1], x1: n[n.length - 2], y1: n[n.length - 1]});
  }
  return {nodes, edges};
}"""
EDGE_TOLERANCE = 12


def lineage(page) -> tuple[set[str], set[tuple[str, str]], list[dict]]:
    """(rendered asset names, edges between rendered assets as (upstream, downstream), every raw edge)."""
    found = page.evaluate(_LINEAGE_JS)
    nodes = found["nodes"]

    def at(x: float, y: float, side: str) -> str | None:
        for node in nodes:
            edge_x = node["x"] + node["w"] if side == "right" else node["x"]
            if abs(x - edge_x) <= EDGE_TOLERANCE and node["y"] <= y <= node["y"] + node["h"]:
                return node["name"]
        return None

    edges = set()
    for edge in found["edges"]:
        upstream, downstream = at(edge["x0"], edge["y0"], "right"), at(edge["x1"], edge["y1"], "left")
        if upstream and downstream:
            edges.add((upstream, downstream))
    return {node["name"] for node in nodes}, edges, found["edges"]


def lineage_showing(page, edges: set[tuple[str, str]], timeout: float = 20) -> tuple[set[str], set[tuple[str, str]]]:
    """lineage() once the graph shows `edges` (it lays out and animates after a depth change), or as it is
    when `timeout` runs out, for the caller's assertion to report."""
    deadline = time.monotonic() + timeout
    while True:
        names, found, _ = lineage(page)
        if edges <= found or time.monotonic() > deadline:
            return names, found
        page.wait_for_timeout(250)


def edges_into(page, name: str) -> int:
    """How many drawn edges end at asset `name`'s left side (its upstream assets, rendered or not)."""
    found = page.evaluate(_LINEAGE_JS)
    boxes = [n for n in found["nodes"] if n["name"] == name]
    assert boxes, f"{name} is not rendered on the graph"
    box = boxes[0]
    return sum(1 for e in found["edges"]
               if abs(e["x1"] - box["x"]) <= EDGE_TOLERANCE and box["y"] <= e["y1"] <= box["y"] + box["h"])
