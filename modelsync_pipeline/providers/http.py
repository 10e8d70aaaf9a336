"""The one httpx code path that fetches a provider's model list, live or replayed.

`ProviderClient` builds the request (base URL, path, auth, pagination), retries 429/5xx and transport
errors with bounded exponential backoff honouring `Retry-After`, and decodes JSON. In replay mode the same
client runs over `ReplayTransport`, which serves the recorded payloads and splits them into pages the way
the provider would, so request building, pagination and parsing all run without a network.

Every failure is a `ProviderFetchError` naming the provider, the step and the reason; keys never appear in
it (they travel in headers, and URLs are shown without their query string).
"""

from __future__ import annotations

import email.utils
import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

import httpx

from .pagination import PaginationError
from .registry import ProviderSpec

RECORDED_DIR = Path(__file__).resolve().parent.parent / "recorded"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"  # catalogs of providers with no list API
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 1000


class ProviderFetchError(RuntimeError):
    """A provider's list could not be fetched or decoded: which provider, at which step, and why."""

    def __init__(self, provider: str, step: str, reason: str):
        super().__init__(f"provider {provider!r} failed at {step}: {reason}")
        self.provider, self.step, self.reason = provider, step, reason


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt `attempt + 1`: Retry-After when the server sent one."""
        if response is not None and (retry_after := response.headers.get("Retry-After")):
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(max(seconds, 0.0), self.max_backoff_seconds)
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)


def _retry_after_seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


@functools.cache
def _tls_context():
    """One verified TLS context for every client: loading the CA bundle costs ~30 ms of CPU per client."""
    return httpx.create_ssl_context()


def prepare_http() -> None:
    """Load the HTTP stack and the TLS context once, in the calling thread, before fetching in parallel.

    A client's first request imports the transport modules and builds the TLS context; when every
    provider's thread does that at once they queue behind each other for about a second (measured with 37
    providers in bench/bench_e2e.py), which is longer than a provider's whole answer.
    """
    httpx.Client(verify=_tls_context()).close()


def _safe_url(url: httpx.URL) -> str:
    return str(url.copy_with(query=None))


class ProviderClient:
    """Fetches one provider's complete model list as a list of raw records."""

    def __init__(
        self,
        spec: ProviderSpec,
        *,
        transport: httpx.BaseTransport | None = None,
        environ: dict[str, str] | None = None,
        timeout: httpx.Timeout | float = httpx.Timeout(30.0, connect=10.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        require_key: bool = True,
        deadline_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.spec = spec
        self._environ = os.environ if environ is None else environ
        self._retry = retry
        self._sleep = sleep
        self._require_key = require_key
        # One deadline for the whole list (every page, every retry): a provider's time is its own.
        self._deadline_seconds = deadline_seconds
        self._clock = clock
        self._deadline: float | None = None
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._client = httpx.Client(
            base_url=spec.resolved_base_url(self._environ),
            transport=transport,
            verify=True if transport is not None else _tls_context(),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "modelsync/0.1", **spec.headers},
            follow_redirects=True,
        )

    def __enter__(self) -> "ProviderClient":
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def fetch_records(self) -> list[dict]:
        if self._deadline_seconds is not None:
            self._deadline = self._clock() + self._deadline_seconds
        records: list[dict] = []
        for page in self._pages():
            records.extend(page)
        return records

    # -- request building -------------------------------------------------------------------------

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.spec.auth
        if auth is None:
            return {}, {}
        key = self._environ.get(auth.env_var)
        if not key:
            if auth.required and self._require_key:
                raise ProviderFetchError(
                    self.spec.slug, "auth", f"environment variable {auth.env_var} is not set"
                )
            return {}, {}
        if auth.query_param:
            return {}, {auth.query_param: key}
        return {auth.header: f"{auth.prefix}{key}"}, {}

    def _path(self) -> str:
        values = {}
        for placeholder, env_var in self.spec.path_params_env.items():
            value = self._environ.get(env_var)
            if not value:
                if self._require_key:
                    raise ProviderFetchError(
                        self.spec.slug, "request", f"environment variable {env_var} is not set"
                    )
                value = f"replay-{placeholder}"
            values[placeholder] = value
        return self.spec.path.format(**values)

    def _pages(self) -> Iterator[list[dict]]:
        headers, auth_params = self._auth()
        spec = self.spec
        target: str = self._path()
        params: dict[str, Any] = spec.pagination.first_params()
        requested: set[str] = set()
        for _ in range(MAX_PAGES):
            request_key = f"{target}?{sorted(params.items())}"
            if request_key in requested:
                raise ProviderFetchError(spec.slug, "paginate", "the next page is one already read; refusing to loop")
            requested.add(request_key)
            response = self._get(target, {**params, **auth_params}, headers)
            body = self._decode(response)
            items = self._items(body)
            yield items
            try:
                following = spec.pagination.next_page(body, response, items, params)
            except PaginationError as exc:
                raise ProviderFetchError(spec.slug, "paginate", str(exc)) from None
            if following is None:
                return
            if following.url is not None:
                # A Link header hands out the whole next URL, query included: follow it as given.
                target, params = following.url, {}
            else:
                params = following.params or {}
        raise ProviderFetchError(spec.slug, "paginate", f"more than {MAX_PAGES} pages; refusing to go on")

    def _items(self, body: Any) -> list[dict]:
        items = self.spec.items_in(body)
        if not isinstance(items, list):
            where = "a top-level array" if self.spec.items_key is None else f"a list at {self.spec.items_key!r}"
            raise ProviderFetchError(
                self.spec.slug, "decode", f"expected {where}, got {type(items).__name__}"
            )
        return items

    # -- transport with retries -------------------------------------------------------------------

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def _request_timeout(self) -> httpx.Timeout:
        """The client's timeouts, capped at what is left of the deadline."""
        remaining = self._remaining()
        if remaining is None:
            return self._timeout
        cap = lambda value: remaining if value is None else min(value, remaining)  # noqa: E731
        return httpx.Timeout(connect=cap(self._timeout.connect), read=cap(self._timeout.read),
                             write=cap(self._timeout.write), pool=cap(self._timeout.pool))

    def _past_deadline(self, attempt: int, reason: str) -> ProviderFetchError:
        return ProviderFetchError(
            self.spec.slug, "fetch",
            f"no complete answer within its {self._deadline_seconds:g} s deadline "
            f"({attempt} attempt{'s' if attempt != 1 else ''}; last: {reason})",
        )

    def _get(self, target: str, params: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """One successful (< 400) response, after bounded retries of 429/5xx and transport errors,
        all within the provider's deadline when it has one."""
        slug = self.spec.slug
        reason = "none"
        for attempt in range(1, self._retry.max_attempts + 1):
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise self._past_deadline(attempt - 1, reason)
            response = None
            try:
                # No params at all (not {}) keeps the query of a URL handed out by a Link header.
                response = self._client.get(target, params=params or None, headers=headers,
                                            timeout=self._request_timeout())
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 400:
                    return response
                reason = f"HTTP {response.status_code} from {_safe_url(response.url)}"
                if response.status_code not in RETRY_STATUSES:
                    raise ProviderFetchError(slug, "fetch", reason)
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise self._past_deadline(attempt, reason)
            if attempt == self._retry.max_attempts:
                raise ProviderFetchError(
                    slug, "fetch", f"{reason} (gave up after {attempt} attempts)"
                )
            delay = self._retry.delay(attempt, response)
            if remaining is not None and delay >= remaining:
                raise self._past_deadline(attempt, f"{reason}; the next attempt would start after it")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderFetchError(
                self.spec.slug, "decode", f"malformed JSON from {_safe_url(response.url)}: {exc}"
            ) from None


def recorded_items(spec: ProviderSpec, replay_dir: Path | str = RECORDED_DIR) -> list:
    """The model records of a provider's recorded payload (a bare array, or the list at `items_key`)."""
    payload = json.loads((Path(STATIC_DIR if spec.static else replay_dir) / spec.recorded).read_text())
    items = payload if isinstance(payload, list) else spec.items_in(payload)
    if not isinstance(items, list):
        raise ValueError(f"{spec.recorded}: no list at {spec.items_key!r}")
    return items


class ReplayTransport(httpx.BaseTransport):
    """Serves a provider's recorded payload as its API would, pages included.

    The payload is `<replay_dir>/<spec.recorded>`; the spec's pagination style cuts it into pages
    (`pagination.py`, the same definition the client reads them with). A sibling `<stem>.status` file
    holding an HTTP status makes every request answer with that status (how tests make a provider fail);
    a payload that is not valid JSON is served byte for byte, so the client's decoding error path runs.
    """

    def __init__(self, spec: ProviderSpec, replay_dir: Path | str = RECORDED_DIR):
        self.spec = spec
        self.path = Path(STATIC_DIR if spec.static else replay_dir) / spec.recorded

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status_file = self.path.with_suffix(".status")
        if status_file.exists():
            status = int(status_file.read_text().split()[0])
            return httpx.Response(status, json={"error": f"replayed status {status}"}, request=request)
        if not self.path.exists():
            return httpx.Response(404, json={"error": "no recorded payload"}, request=request)
        raw = self.path.read_bytes()
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return httpx.Response(200, content=raw, headers={"Content-Type": "application/json"}, request=request)
        try:
            body, headers = serve_page(self.spec, payload, request)
        except PaginationError as exc:
            return httpx.Response(400, json={"error": str(exc)}, request=request)
        return httpx.Response(200, json=body, headers=headers, request=request)


def serve_page(spec: ProviderSpec, payload: Any, request: httpx.Request) -> tuple[Any, dict]:
    """The body and headers the provider would answer `request` with, from its whole recorded payload."""
    items = payload if isinstance(payload, list) else spec.items_in(payload)
    if not isinstance(items, list):
        return payload, {}  # not a shape we can page: serve as recorded
    envelope = {} if isinstance(payload, list) else payload
    query = {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}
    page = spec.pagination.serve(items, query, request.url)
    return spec.envelope(page.items, {**envelope_without_items(spec, envelope), **page.fields}), page.headers


def envelope_without_items(spec: ProviderSpec, envelope: dict) -> dict:
    """The recorded envelope's top-level fields other than the one holding the list."""
    if spec.items_key is None:
        return {}
    top = spec.items_key.split(".")[0]
    return {k: v for k, v in envelope.items() if k != top}
