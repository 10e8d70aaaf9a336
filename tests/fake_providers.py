"""A fake provider server on loopback: every registry provider's recorded payload at `/<slug>/...`.

The production client is pointed at it the way an operator points it at a real host: `MODELSYNC_SOURCE=live`
and `MODELSYNC_<SLUG>_BASE_URL=http://127.0.0.1:<port>/<slug>`. Pages are cut by the same pagination
definitions the client reads them with (`providers.pagination`), so requests, paging, retries, deadlines and
decoding all run over a real socket. Each provider can be given a latency and a fault:

    500 / 503        every request answers that status
    429              answers 429 with `Retry-After: <retry_after>` `times` times, then the payload
    hang             accepts the request and never answers (until the server stops)
    malformed        a body that is not JSON
    empty            the provider's envelope with an empty list
    truncated        the first half of the JSON body

and `held` (a threading.Event): its answer waits until the test sets it.

Used by the tests and by `bench/bench_e2e.py`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from modelsync_pipeline.providers.http import RECORDED_DIR, STATIC_DIR, serve_page
from modelsync_pipeline.providers.registry import PROVIDERS, ProviderSpec

FAULTS = ("500", "503", "429", "hang", "malformed", "empty", "truncated")


class _Server(ThreadingHTTPServer):
    # Every provider connects at once: the default listen backlog of 5 would make the rest retry their
    # SYN a second later, and the fetch phase would measure the kernel's backoff, not the client.
    request_queue_size = 128
    daemon_threads = True


@dataclass
class Behaviour:
    latency: float = 0.0
    fault: str | None = None
    times: int = 10**9          # how many requests the fault applies to (then the payload is served)
    retry_after: float = 1.0    # for 429
    held: threading.Event | None = None  # answers (as otherwise) once the test sets it: a fetch it lets finish


class FakeProviders:
    """`with FakeProviders() as fake:` serves every provider; `fake.environ()` points the client at it."""

    def __init__(self, replay_dir: Path | str = RECORDED_DIR, specs: tuple[ProviderSpec, ...] = PROVIDERS):
        self.replay_dir = Path(replay_dir)
        self.specs = {spec.slug: spec for spec in specs}
        self.behaviour: dict[str, Behaviour] = {}
        self.requests: dict[str, int] = {}
        # Answers are cut once per path: the server shares its process (and GIL) with the client under test
        # in benchmarks, and re-parsing a payload per request would be measured as the client's time.
        self._answers: dict[tuple, tuple[bytes, dict]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: tests read outcomes, not access logs
                pass

            def do_GET(self):
                fake._answer(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def base_url(self, slug: str) -> str:
        return f"http://127.0.0.1:{self.port}/{slug}"

    def set(self, slug: str, **behaviour) -> None:
        self.behaviour[slug] = Behaviour(**behaviour)

    def set_all(self, **behaviour) -> None:
        for slug in self.specs:
            self.set(slug, **behaviour)

    def environ(self) -> dict[str, str]:
        """Base URLs, live source, and placeholder keys/path values (the fake server checks none of them)."""
        env = {"MODELSYNC_SOURCE": "live"}
        for spec in self.specs.values():
            env[spec.base_url_env] = self.base_url(spec.slug)
            if spec.auth is not None:
                env[spec.auth.env_var] = f"fake-{spec.slug}-key"
            for placeholder, env_var in spec.path_params_env.items():
                env[env_var] = f"fake-{placeholder}"
        return env

    def __enter__(self) -> "FakeProviders":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # -- answering ------------------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        slug, _, _ = handler.path.lstrip("/").partition("/")
        spec = self.specs.get(slug)
        if spec is None:
            return self._send(handler, 404, b'{"error": "unknown provider"}')
        with self._lock:
            count = self.requests[slug] = self.requests.get(slug, 0) + 1
        behaviour = self.behaviour.get(slug, Behaviour())
        if behaviour.latency:
            time.sleep(behaviour.latency)
        if behaviour.held is not None:
            behaviour.held.wait(120)
        fault = behaviour.fault if count <= behaviour.times else None
        if fault == "hang":
            self._stopping.wait()  # until the server stops; the client's deadline must end the wait
            return
        if fault in ("500", "503"):
            return self._send(handler, int(fault), b'{"error": "fault injected"}')
        if fault == "429":
            return self._send(handler, 429, b'{"error": "slow down"}', {"Retry-After": f"{behaviour.retry_after:g}"})
        if fault == "malformed":
            return self._send(handler, 200, b'{"data": [{"id": "broken",')
        if fault == "empty":
            return self._send(handler, 200, json.dumps(spec.envelope([], {})).encode())
        raw, headers = self._page(spec, handler.path)
        if fault == "truncated":
            raw = raw[: len(raw) // 2]
        self._send(handler, 200, raw, headers)

    def _page(self, spec: ProviderSpec, path: str) -> tuple[bytes, dict]:
        file = (STATIC_DIR if spec.static else self.replay_dir) / spec.recorded
        stat = file.stat()
        key = (path, stat.st_mtime_ns, stat.st_size)  # a payload rewritten by a test is served anew
        with self._lock:
            answer = self._answers.get(key)
        if answer is None:
            payload = json.loads(file.read_text())
            url = httpx.URL(f"http://127.0.0.1:{self.port}{path}")
            body, headers = serve_page(spec, payload, httpx.Request("GET", url))
            answer = (json.dumps(body).encode(), headers)
            with self._lock:
                self._answers[key] = answer
        return answer

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its deadline): nothing to answer
