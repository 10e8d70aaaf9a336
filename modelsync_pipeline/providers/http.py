"""The one httpx code path that fetches a provider's model list, live or replayed.

`ProviderClient` builds the request (base URL, path, auth, pagination), retries 429/5xx, transport errors and
bodies cut short with bounded exponential backoff honouring `Retry-After`, and decodes JSON. In replay mode the same
client runs over `ReplayTransport`, which serves the recorded payloads and splits them into pages the way
the provider would, so request building, pagination and parsing all run without a network.

Every failure is a `ProviderFetchError` naming the provider, the step and the reason; keys never appear in
it (they travel in headers, URLs are shown without their query string, and every reason is redacted of the
key, and of a password, query value or path segment in a base URL override, before it leaves `fetch_records`,
since a reason may quote a provider's answer or a library's message: in every encoding a server or URL gives it,
percent, JSON or base64, and before any quote is cut short). A record that holds a secret is stored without it.

Keys are read from the environment stripped of surrounding whitespace (a k8s secret file or a CRLF .env
leaves a newline on them), and go only to the origin (scheme, host, port) of the provider's base URL: a
redirect to another origin is followed without them, a next-page link to another origin is refused.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit

import httpcore
import httpx

from ..urls import hide_delimited, is_credential_name, redact_runs, secret_path_segments
from .pagination import ListingChanged, ListingWatch, PaginationError
from .registry import ProviderSpec

RECORDED_DIR = Path(__file__).resolve().parent.parent / "recorded"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"  # catalogs of providers with no list API
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 1000
# The most records a list may hold. The largest real list is ~18,000 models (Featherless); a list past this is a
# flood (a broken upstream, another host), which took 491 s and ~10 GB to check at 1,400,000 records, in the step
# every provider shares, before any guard could compare it with the last good catalog.
MAX_RECORDS = 250_000
# How many times a list paged by position is read when it changes while it is read (ListingChanged): a catalog
# changes a few times a day, so a second read almost always finds it still; a third that fails too means it is
# changing faster than it can be read, and a catalog read so would be one the provider never listed.
MAX_READS = 3
# Answers meaning "no such page", which end a list only where the page was asked for to see whether it goes on.
NO_SUCH_PAGE = frozenset({404, 416})
# What h11 accepts in a header value once the ends are stripped: visible ASCII, spaces and tabs.
HEADER_SAFE = re.compile(r"[\t\x20-\x7e]*")
# Shorter values are redacted nowhere: no provider issues a key that short, and replacing a value like "k"
# (what tests use) in a reason would mangle every word holding that letter.
MIN_REDACTED_LENGTH = 8
REDACTED = "[redacted]"
QUOTED_MESSAGE_CHARS = 200
DEFAULT_PORTS = {"http": 80, "https": 443}
# The most a response body may hold once decompressed. The largest list here is ~50 MB (Featherless, 18,000
# models in one response); a gzip bomb of a few MB would otherwise grow into GBs and take the whole run's
# process, every provider with it.
MAX_BODY_BYTES = 512 * 1024 * 1024
# The most JSON objects and arrays a body may hold before it is decoded. A model is a few to a few dozen objects
# (the largest list here, Featherless's 18,000 models, is ~200,000), and each decoded object costs ~100 bytes of
# memory: a 58 KB gzip body of 20M empty objects ("[{},{},...]") took 1.7 GB and 7 s to decode. An array costs
# as much: 6M empty ones ("[[],[],...]", 18 KB of gzip) took 600 MB, and passed as 6M records.
MAX_JSON_OBJECTS = 5_000_000
# The most values (told by their commas) a body may hold before it is decoded. The recorded lists hold one comma
# per 35-60 bytes, so a list at MAX_BODY_BYTES would hold ~13M; a body of bare numbers holds one per 2-4 bytes:
# 20M "0.5" (76 MB) took 765 MB and 4.8 s to decode, and MAX_BODY_BYTES of them would take ~5 GB.
MAX_JSON_VALUES = 20_000_000
# What is read of a 4xx/5xx answer's body, for the provider's explanation: an API's error object is a few hundred
# bytes, Google's with its details included; a body past this is a page or a dump, not an explanation.
ERROR_BODY_BYTES = 8 * 1024
DEADLINE_PASSED = "the provider's deadline passed"


class ProviderFetchError(RuntimeError):
    """A provider's list could not be fetched or decoded: which provider, at which step, and why (and the HTTP
    status that said so, when one did)."""

    def __init__(self, provider: str, step: str, reason: str, status: int | None = None):
        super().__init__(f"provider {provider!r} failed at {step}: {reason}")
        self.provider, self.step, self.reason, self.status = provider, step, reason, status

    def __reduce__(self):
        # Rebuilt from its fields: the default rebuilds from `args`, the message alone, which __init__ cannot take
        # (a copy, a pickle through a process pool or a queue raised TypeError instead of the provider's error).
        return type(self), (self.provider, self.step, self.reason, self.status)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int, asked: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1`: the backoff, or the wait the server asked for
        (`asked_wait`, read once per answer: an HTTP date read twice asks for two waits) when that is longer.
        Never less than the backoff: a 429 asking for 0 s, or for a date already past, was asked again at once,
        four times within 20 ms."""
        backoff = self.backoff_seconds * 2 ** (attempt - 1)
        return min(backoff if asked is None else max(asked, backoff), self.max_backoff_seconds)

    @staticmethod
    def asked_wait(response: httpx.Response | None) -> float | None:
        """The wait a response's Retry-After asks for, in seconds; None when it asks for none this can read."""
        retry_after = response.headers.get("Retry-After") if response is not None else None
        return _retry_after_seconds(retry_after) if retry_after else None


def _retry_after_seconds(value: str) -> float | None:
    """The wait a Retry-After value asks for: a finite, non-negative number of seconds, or an HTTP date (one
    already past is 0). Anything else (nan, inf, a negative, garbage) is None, so the normal backoff applies:
    `time.sleep(nan)` raises, and a negative number is no instruction a server can mean."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


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
    """A URL fit for an error: no query string (a key may travel there), fragment or user:password, and its
    path decoded, so that a key a server echoed into a redirect's path reads as written and is redacted."""
    return f"{_show_origin(url)}{url.path}"


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every way each secret may be written in a text, longest first: as set and stripped, percent-encoded
    (path, component and form styles), JSON-escaped, escaped the way repr() of a str or of bytes shows it
    (how h11 quotes a header value it refuses), and base64 (how HTTP Basic sends user:password)."""
    import base64

    forms: set[str] = set()
    for secret in secrets:
        for value in {secret, secret.strip()}:
            if not value:
                continue
            escaped = json.dumps(value)[1:-1]
            forms |= {value, value.encode("unicode_escape").decode("ascii"),
                      repr(value.encode("utf-8", "backslashreplace"))[2:-1], quote(value, safe=""), quote(value),
                      quote_plus(value), escaped, json.dumps(value, ensure_ascii=False)[1:-1],
                      escaped.replace("/", "\\/"),  # PHP's and Jackson's JSON escape "/"
                      re.sub(r"[<>&']", lambda m: f"\\u{ord(m.group(0)):04x}", escaped),  # Go's escapes "<", ">", "&"
                      base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")}
    return sorted((form for form in forms if len(form) >= MIN_REDACTED_LENGTH), key=len, reverse=True)


@functools.lru_cache(maxsize=64)
def _redaction_pattern(forms: tuple[str, ...]) -> re.Pattern:
    """One pattern for every form, longest first, in any case: a key that reaches a hostname is lower-cased
    there (httpx, IDNA), and a percent-escape's hex digits come in either case ("%2F", "%2f")."""
    return re.compile("|".join(re.escape(form) for form in forms), re.IGNORECASE)


def redact(text: str, forms: list[str]) -> str:
    """`text` with every form of every secret replaced. Redact before cutting a text short: a cut secret is
    no longer found."""
    return _redaction_pattern(tuple(forms)).sub(REDACTED, text) if forms else text


# A run this long of a secret's characters is redacted wherever a text the client writes quotes it: providers echo
# a key's prefix or suffix ("key ...EY-google-0123456789 not allowed"), which no whole form of it matches.
FRAGMENT_LENGTH = 10


def redact_fragments(text: str, forms: list[str]) -> str:
    """`text` with every run of FRAGMENT_LENGTH or more characters of a secret's forms (in any case) replaced
    (urls.redact_runs). For the texts the client writes (reasons, quoted messages), not for whole bodies: it looks
    at every character."""
    return redact_runs(text, forms, FRAGMENT_LENGTH, REDACTED)


def _echoed(content: bytes, body: Any, forms: list[str]) -> list[str]:
    """What a response echoes of a secret, as the forms to scrub its records of (`_scrubbed`): none when it echoes
    nothing; else every form, longest first, and every run of FRAGMENT_LENGTH or more of a form's first or last
    characters that its strings hold (`_ends_in`: a provider quoting a key's prefix or suffix in a record, as a
    reason quoting one is redacted of it by `redact_fragments`). Found in any case as `redact` finds a form (a key
    echoed lower-cased, a percent-escape's "%2f"): in `content`, the body's bytes as UTF-8 (_decode's; a UTF-16 or
    UTF-32 body's key is found only so), or, when the JSON escapes characters ("\\/", "\\u0026") or a form has
    letters beyond ASCII (which bytes.lower() leaves as they are), in the decoded strings, where a run is as the
    records hold it (in the JSON text, "a\\/b" is no run of "a/b" a record could be redacted of). Lower-cased bytes
    and plain substring searches, not the redaction pattern nor a look at every character: on a 50 MB body those
    take seconds."""
    lowered = content.lower()
    if b"\\" not in content and all(form.isascii() for form in forms):
        haystack, needles = lowered, [form.encode("utf-8", "surrogatepass").lower() for form in forms]
        whole = any(needle in haystack for needle in needles)
    else:
        haystack = "\0".join(_strings(body)).lower().encode("utf-8", "surrogatepass")
        needles = [form.lower().encode("utf-8", "surrogatepass") for form in forms]
        whole = any(needle in haystack for needle in needles) or any(
            form.encode("utf-8", "surrogatepass").lower() in lowered for form in forms)  # a number, say
    runs = {run.decode("utf-8", "ignore") for run in _ends_in(haystack, needles)}
    if not whole and not runs:
        return []
    return sorted({*forms, *(run for run in runs if run)}, key=len, reverse=True)


def _strings(value: Any) -> list[str]:
    """Every string of a decoded JSON value, object keys included, in a loop over its nodes (as `_scrubbed`)."""
    found: list[str] = []
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            found.extend(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _ends_in(haystack: bytes, needles: list[bytes]) -> set[bytes]:
    """Every run of FRAGMENT_LENGTH or more bytes that starts or ends one of `needles` (a key's prefix or suffix, as a
    key hint quotes it) that `haystack` holds, as long as it goes on there: two fast searches per needle, for its
    first and its last FRAGMENT_LENGTH bytes, and only where one is found are the bytes around it looked at. Not a
    run from the middle of a key: a record is data, and one that shares a word with a key ("openrouter/auto" with
    "fake-openrouter-key") must keep it."""
    runs: set[bytes] = set()
    for needle in needles:
        if len(needle) < FRAGMENT_LENGTH:
            continue
        head, tail = needle[:FRAGMENT_LENGTH], needle[-FRAGMENT_LENGTH:]
        at = haystack.find(head)
        while at != -1:
            end = at + FRAGMENT_LENGTH
            while end < len(haystack) and end - at < len(needle) and haystack[end] == needle[end - at]:
                end += 1
            runs.add(haystack[at:end])
            at = haystack.find(head, at + 1)
        at = haystack.find(tail)
        while at != -1:
            start, end = at, at + FRAGMENT_LENGTH
            while start > 0 and end - start < len(needle) and haystack[start - 1] == needle[-(end - start) - 1]:
                start -= 1
            runs.add(haystack[start:end])
            at = haystack.find(tail, at + 1)
    return runs


def _body_start(content: bytes) -> bytes:
    """`content` from its first character that is neither whitespace nor a byte order mark. The BOM is taken off
    whole: stripped as a set of bytes, it took the first byte of any character that begins with 0xEF ("（", "ﬁ"),
    and the provider's explanation after it was lost as no longer UTF-8."""
    return content.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")


def _scrubbed(value: Any, forms: list[str]) -> Any:
    """A freshly decoded JSON value with every string (and object key) that holds a secret redacted, in place, and
    every number that does (a key of digits echoed unquoted) replaced by the redacted text of it.
    A loop over the nodes, not recursion: the decoder follows nesting as deep as the interpreter's recursion
    limit allows, and two frames per level here (500 nested lists) ran out of it before the decoder did."""
    def scrubbed(item: Any) -> Any:
        if isinstance(item, str):
            return redact(item, forms)
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            text = json.dumps(item)
            return shown if (shown := redact(text, forms)) != text else item
        return item

    if not isinstance(value, (list, dict)):
        return scrubbed(value)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, (list, dict)):
                    pending.append(item)
                else:
                    node[index] = scrubbed(item)
        elif isinstance(node, dict):
            items = list(node.items())
            node.clear()  # rebuilt in order, each key redacted
            for key, item in items:
                if isinstance(item, (list, dict)):
                    pending.append(item)
                else:
                    item = scrubbed(item)
                node[redact(key, forms)] = item
    return value


def provider_secrets(spec: ProviderSpec, environ: dict[str, str] | None = None) -> list[str]:
    """A provider's secrets as the environment holds them: its key, and what its base URL override carries."""
    environ = os.environ if environ is None else environ
    key = environ.get(spec.auth.env_var) if spec.auth is not None else None
    override = environ.get(spec.base_url_env)
    return [*([key] if key else []), *(base_url_secrets(override) if override else [])]


def base_url_secrets(base_url: str) -> list[str]:
    """What a base URL override may carry that is secret: its user:password (and the pair, which HTTP Basic
    sends base64-encoded; a user alone is a token too: "https://sk-...@host"), the values of its query
    parameters named like a credential (is_credential_name), and the segments of its path that may be one
    (urls.secret_path_segments: a gateway's "/v1/<token>/...", "/key/<secret>/...")."""
    try:
        parts = urlsplit(base_url)
        pairs = (pair.partition("=")[::2] for pair in parts.query.split("&"))
        secrets = [unquote(value) for name, value in pairs if value and is_credential_name(unquote(name))]
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        secrets += [s for s in (user, password, f"{user}:{password}" if password else "") if s]
        return secrets + secret_path_segments(parts.path)
    except ValueError:
        return [base_url]  # unreadable: the whole value is treated as secret


def _failed_url(error: httpx.RequestError, request: httpx.Request) -> str:
    """The URL a request failed at, fit for an error (_safe_url): the hop's, when a redirect sent it elsewhere."""
    try:
        return _safe_url(error.request.url)
    except RuntimeError:  # an error raised with no request attached
        return _safe_url(request.url)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default one spelled out): what credentials are bound to."""
    return url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme)


def _show_origin(url: httpx.URL) -> str:
    """scheme://host[:port], never the user:password a URL may carry."""
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def _json_kind(value: Any) -> str:
    """A decoded JSON value's kind in JSON's words (never Python's `NoneType`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _error_message(error: Any) -> str:
    """The text of an API error object: its `message` when it has one (OpenAI style), else the whole value
    (uncut: it is redacted before it is cut short)."""
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return error if isinstance(error, str) else json.dumps(error, default=str)


def _fastapi_detail(detail: Any) -> str | None:
    """The text of FastAPI's top-level `detail`: a string as it is, or its validation errors' `msg`s, each after
    the `loc` it is about ("query.limit: ..."); None for any other value, which is not known to be an error."""
    if isinstance(detail, str):
        return detail or None
    if not isinstance(detail, list) or not detail or not all(
            isinstance(item, dict) and isinstance(item.get("msg"), str) for item in detail):
        return None
    shown = [(".".join(map(str, item["loc"])) + ": " if isinstance(item.get("loc"), list) and item["loc"] else "")
             + item["msg"] for item in detail[:3]]
    return "; ".join(shown) + ("; ..." if len(detail) > 3 else "")


def _shown_keys(body: dict, forms: list[str]) -> str:
    keys = [repr(redact(str(key), forms)[:40]) for key in list(body)[:8]]
    return ", ".join(keys) + (", ..." if len(body) > 8 else "") if keys else "none"


def _capped(remaining: Callable[[], float | None], timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout` cut to what is left of the deadline; `error` once nothing is left."""
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise error(DEADLINE_PASSED)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most what is left of the provider's deadline: httpx's
    timeouts bound each read, not their sum, so headers or a redirect's body trickling in a byte at a time
    (up to 16 KB of headers, 20 hops) would otherwise outlive any deadline."""

    def __init__(self, stream: httpcore.NetworkStream, remaining: Callable[[], float | None]):
        self._stream, self._remaining = stream, remaining

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(self._remaining, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(self._remaining, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        stream = self._stream.start_tls(ssl_context, server_hostname,
                                        _capped(self._remaining, timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream, self._remaining)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens `_DeadlineStream`s: the deadline bounds connecting, sending, headers and every redirect hop."""

    def __init__(self, backend: httpcore.NetworkBackend, remaining: Callable[[], float | None]):
        self._backend, self._remaining = backend, remaining

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _capped(self._remaining, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options),
                               self._remaining)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout = _capped(self._remaining, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options), self._remaining)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _bound_by(transport: Any, remaining: Callable[[], float | None]) -> None:
    """Puts the deadline under an httpx transport's connections (its pool's network backend; httpx is pinned
    to 0.28, where HTTPTransport keeps an httpcore pool in `_pool`). A transport of another kind (replay, a
    test's mock) has no connections to bound."""
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool):
        pool._network_backend = _DeadlineBackend(pool._network_backend, remaining)


class _BodyPastDeadline(Exception):
    """The deadline passed while a response body was still arriving."""

    def __init__(self, received: int):
        super().__init__(f"the body was still arriving ({received} bytes read)")


class _CutShort(Exception):
    """A 2xx body that ends before its JSON does: cut in transit where nothing could tell (a connection closed
    early with no Content-Length, a gzip stream cut at a block's end, which httpx does not check was whole)."""


# A JSON string, its escapes included, in one pass (the loop unrolled: no backtracking on a 50 MB body).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _left_open(text: str) -> bool:
    """Whether a JSON text that failed to decode ends inside its value: in a string it never closes, or with an
    object or array still open. A body cut short ends so, wherever the cut fell (a record's "}" included); one that
    is only malformed (a missing comma, a stray word, two documents) closes what it opens."""
    bare = _JSON_STRING.sub("", text)
    return '"' in bare or bare.count("[") + bare.count("{") > bare.count("]") + bare.count("}")


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
        max_body_bytes: int = MAX_BODY_BYTES,
        max_records: int = MAX_RECORDS,
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
        self._max_body_bytes = max_body_bytes
        self._max_records = max_records
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        base_url = spec.resolved_base_url(self._environ)
        self._forms = self._secret_forms()
        problem = spec.base_url_problem(self._environ)
        if problem is None:
            try:
                url = httpx.URL(base_url)
                self._origin = _origin(url)
            except (httpx.InvalidURL, ValueError, TypeError):
                problem = "httpx cannot read it as a URL"
        if problem is not None:  # never quoted: a password in it would be
            raise ProviderFetchError(spec.slug, "request", f"{spec.base_url_env} is not a URL modelsync can request "
                                     f"({problem}); its value is not shown")
        # An override's path segments that may be a credential: hidden wherever a reason shows them as a segment,
        # however short (every URL a reason shows, every path a provider echoes), as well as by `_forms`.
        self._path_secrets = secret_path_segments(urlsplit(base_url).path) if base_url != spec.base_url else []
        self._client = httpx.Client(
            # A query on the base URL ("?api-version=2024-10-21") is sent with every request: httpx would
            # otherwise append the list's path to the query string.
            base_url=url.copy_with(query=None),
            params=url.params,
            transport=transport,
            verify=True if transport is not None else _tls_context(),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "modelsync/0.1", **spec.headers},
            follow_redirects=True,
            # Runs before every request httpx sends, each hop of a redirect included.
            event_hooks={"request": [self._drop_credentials_off_origin]},
        )
        self._bounded = transport is None
        if self._bounded:  # the live path: its own connections, and a proxy's when the environment sets one
            for live in (self._client._transport, *self._client._mounts.values()):
                _bound_by(live, self._remaining)

    def __enter__(self) -> "ProviderClient":
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def fetch_records(self) -> list[dict]:
        if self._deadline_seconds is not None:
            self._deadline = self._clock() + self._deadline_seconds
        try:
            return self._read_whole()
        except ProviderFetchError as exc:
            error = ProviderFetchError(exc.provider, exc.step, self._redact(exc.reason), exc.status)
        # Raised outside the handler: the error chained to it (an httpx or h11 exception) may quote a header
        # value, and a traceback renders the chain.
        raise error

    def _read_whole(self) -> list[dict]:
        """The list, read again from its first page when it changed while it was read (ListingChanged), at most
        MAX_READS times, within the one deadline. A model id on two pages of two reads that came back the same up
        to it is the provider's own listing, not a change: the next read lets it repeat, and the catalog's rules
        take it from there (an identical record twice is one model) as they did before this was watched."""
        allowed: frozenset[str] = frozenset()
        last: ListingChanged | None = None
        for _ in range(MAX_READS):
            try:
                return [record for page in self._pages(allowed) for record in page]
            except ListingChanged as changed:
                if (last is not None and changed.repeated is not None and changed.repeated == last.repeated
                        and changed.read == last.read):
                    allowed |= {changed.repeated}
                last = changed
        raise ProviderFetchError(self.spec.slug, "paginate", f"the listing changed while it was read: {last}; read "
                                 f"{MAX_READS} times, from its first page each time")

    # -- secrets ----------------------------------------------------------------------------------

    def _secret_forms(self) -> list[str]:
        """secret_forms of the provider's key and of what its base URL override carries (base_url_secrets)."""
        return secret_forms(provider_secrets(self.spec, self._environ))

    def _redact(self, text: str) -> str:
        return hide_delimited(redact_fragments(redact(text, self._forms), self._forms), self._path_secrets)

    def _drop_credentials_off_origin(self, request: httpx.Request) -> None:
        """Credentials go only to the origin of the provider's base URL. httpx drops `Authorization` on a
        cross-origin redirect but forwards `x-api-key` / `x-goog-api-key`; this drops every credential
        header (and a query-parameter key) from any request to another origin, so such a redirect is
        followed without them (a public list still arrives; a private one answers 401 from that host)."""
        if _origin(request.url) == self._origin:
            return
        auth = self.spec.auth
        for name in {"Authorization", *([auth.header] if auth is not None and auth.header else [])}:
            request.headers.pop(name, None)
        if auth is not None and auth.query_param and auth.query_param in request.url.params:
            request.url = request.url.copy_remove_param(auth.query_param)

    # -- request building -------------------------------------------------------------------------

    def _key(self) -> str | None:
        """The provider's key from the environment, stripped; None when unset or blank. A key that still
        cannot be a header value is refused here, naming the variable: sent, h11 would raise an error that
        quotes the whole header, key included."""
        auth = self.spec.auth
        key = (self._environ.get(auth.env_var) or "").strip()
        if key and not auth.query_param and not HEADER_SAFE.fullmatch(key):
            raise ProviderFetchError(
                self.spec.slug, "auth",
                f"environment variable {auth.env_var} holds a value that cannot be sent in an HTTP header "
                "(a control or non-ASCII character inside it); the value is not shown",
            )
        return key or None

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.spec.auth
        if auth is None:
            return {}, {}
        key = self._key()
        if not key:
            if auth.required and self._require_key:
                raise ProviderFetchError(
                    self.spec.slug, "auth", f"environment variable {auth.env_var} is not set (or is blank)"
                )
            return {}, {}
        if auth.query_param:
            return {}, {auth.query_param: key}
        return {auth.header: f"{auth.prefix}{key}"}, {}

    def _path(self) -> str:
        """The list path, each placeholder filled from its environment variable. A value must be one path segment:
        "abc?x=1" or "abc#x" cut the path there (the account's own endpoint was requested, and its answer read as
        the wrong shape), and "../.." sent the provider's credentials to another path of its host."""
        values = {}
        for placeholder, env_var in self.spec.path_params_env.items():
            value = (self._environ.get(env_var) or "").strip()
            if not value:
                if self._require_key:
                    raise ProviderFetchError(
                        self.spec.slug, "request", f"environment variable {env_var} is not set"
                    )
                value = f"replay-{placeholder}"
            if value in (".", "..") or (found := next((c for c in value if c in "/?#\\"), None)) is not None:
                what = f"holds {found!r}" if value not in (".", "..") else f"is {value!r}"
                raise ProviderFetchError(
                    self.spec.slug, "request",
                    f"environment variable {env_var} {what}: it fills {{{placeholder}}} in {self.spec.path}, and must "
                    "be one path segment, or the request goes to another path")
            values[placeholder] = value
        return self.spec.path.format(**values)

    def _id_of(self, record: Any) -> str | None:
        """A record's model id as its parser reads it (`spec.id_key`), for telling one record from another across
        pages; None where it holds no usable string (the catalog's checks report that record)."""
        value = record.get(self.spec.id_key) if isinstance(record, dict) else None
        return value if isinstance(value, str) and value.strip() else None

    def _pages(self, allowed: frozenset[str] = frozenset()) -> Iterator[list[dict]]:
        headers, auth_params = self._auth()
        spec = self.spec
        target: str = self._path()
        params: dict[str, Any] = spec.pagination.first_params()
        requested: set[str] = set()
        received = 0
        previous: list | None = None
        watch = ListingWatch(spec.pagination, self._id_of, allowed)
        probing = False  # this page is asked for only to see whether the list goes on (NextPage.ends_if_missing)
        for number in range(1, MAX_PAGES + 1):
            request_key = f"{target}?{sorted(params.items())}"
            if request_key in requested:
                raise ProviderFetchError(spec.slug, "paginate", "the next page is one already read; refusing to loop")
            requested.add(request_key)
            try:
                response, body, searchable = self._get(target, {**params, **auth_params}, headers)
                if self._forms and (echoed := _echoed(searchable, body, self._forms)):
                    body = _scrubbed(body, echoed)  # a record is stored whole: never with the caller's key in it
                # A page the style calls empty (nothing but the next token: AIP-158, a cursor) has no list to read.
                items = [] if spec.pagination.empty_page(body) else self._items(body)
            except ProviderFetchError as exc:
                if probing and exc.status in NO_SUCH_PAGE:
                    return  # no page past a short one: the list ended there
                if number == 1:
                    raise
                # Every page has the URL the reason shows (its query, where a key may travel, is never shown): a
                # failure partway through the list must not read as the provider failing from its first request.
                raise ProviderFetchError(exc.provider, exc.step, exc.reason + _on_page(number, received)) from None
            if items and items == previous:
                # A server that ignores the page parameter answers the first page again: its records repeated
                # up to a stated total would read as a whole catalog once the repeats are left out.
                raise ProviderFetchError(spec.slug, "paginate", f"page {number} repeats the page before it "
                                         f"({len(items)} record{'s' if len(items) != 1 else ''}): the server ignores the paging "
                                         "parameter?")
            previous = items
            watch.see(number, body, items)
            received += len(items)
            if received > self._max_records:
                raise ProviderFetchError(spec.slug, "fetch", f"the list holds more than {self._max_records:,} records "
                                         f"({received:,} by page {number}): no provider lists that many models; "
                                         "not read further")
            yield items
            try:
                following = spec.pagination.next_page(body, response, items, params, received)
            except PaginationError as exc:
                where = _on_page(number, received - len(items)) if number > 1 else ""
                raise ProviderFetchError(spec.slug, "paginate", f"{exc}{where}") from None
            if following is None:
                return
            probing = following.ends_if_missing
            if following.url is not None:
                # A Link header hands out the whole next URL, query included: follow it as given, but only
                # on the provider's own origin (the request carries its credentials).
                self._refuse_foreign_link(httpx.URL(following.url))
                target, params = following.url, {}
            else:
                params = following.params or {}
        raise ProviderFetchError(spec.slug, "paginate", f"more than {MAX_PAGES} pages; refusing to go on")

    def _refuse_foreign_link(self, url: httpx.URL) -> None:
        """A next-page link to another origin is refused rather than followed: the page would carry the
        provider's credentials there, and a catalog continued on someone else's host is not the provider's."""
        if _origin(url) != self._origin:
            own = _show_origin(httpx.URL(self.spec.resolved_base_url(self._environ)))
            raise ProviderFetchError(
                self.spec.slug, "paginate",
                f"the next-page link points at another origin (scheme, host and port), {_show_origin(url)} (the "
                f"provider is {own}); "
                "refusing to follow it with the provider's credentials",
            )

    def _items(self, body: Any) -> list[dict]:
        items = self.spec.items_in(body)
        if not isinstance(items, list):
            where = "a top-level array" if self.spec.items_key is None else f"a list at {self.spec.items_key!r}"
            raise ProviderFetchError(self.spec.slug, "decode", f"expected {where}, got {self._received(body)}")
        if (error := self._api_error(body)) is not None:
            # {"error": "quota exceeded", "data": []}: the cause, not "an empty model list". Beside records
            # ({"data": [...], "error": {"message": "partial: shard timed out"}}, Cloudflare's success: false
            # with a result) the list is one the provider itself says is wrong or partial: never a catalog.
            listed = f"a list of {len(items)} record{'s' if len(items) != 1 else ''}" if items else "an empty list"
            raise ProviderFetchError(self.spec.slug, "fetch", f"{listed} beside {error}")
        return items

    def _api_error(self, body: Any) -> str | None:
        """An API error a 2xx body reports beside or instead of the list, quoted (`_api_message`)."""
        message = self._api_message(body)
        return None if message is None else f"an error object: {message!r}"

    def _api_message(self, body: Any, *, failed: bool = False) -> str | None:
        """The message of an API error a body reports, redacted, then cut short; None when it reports none.

        In any body: an `error` object or string (OpenAI, Google, Anthropic), Cloudflare's `errors` list and
        `success: false`, and `"object": "error"` (vLLM and other OpenAI-compatible servers, which say
        `"object": "list"` over a list). A top-level `detail` (FastAPI) only where the body holds no list
        where the provider's belongs, and a top-level `message` only in a 4xx/5xx (`failed`): beside a good
        list they can be anything (aihubmix sends `"message": ""` with every list), and a list read as an
        error would fail a good catalog. An error field that is present but says nothing (`"error": null`,
        `false`, `""`, `"false"`, `{}`, an object whose fields are all so, `{"message": null, "code": ""}`; `"errors": []`,
        as every Cloudflare answer carries) reports nothing."""
        if not isinstance(body, dict):
            return None
        error = self._reported_error(body, failed)
        if error is None:
            return None
        message = self._redact(_error_message(error)[:1_000_000])
        if len(message) > QUOTED_MESSAGE_CHARS:
            message = message[:QUOTED_MESSAGE_CHARS] + "..."
        return message

    def _reported_error(self, body: dict, failed: bool) -> Any:
        """The error value a body reports, in the places `_api_message` lists, or None."""
        if not _hollow(error := body.get("error")):
            return error
        errors = body.get("errors")
        if isinstance(errors, list) and not _hollow(errors):
            shown = [_error_message(e) for e in errors[:3]]
            return "; ".join(shown) + ("; ..." if len(errors) > 3 else "")
        if not _hollow(errors):
            return errors  # an object or a string where Cloudflare sends a list: quoted whole
        if body.get("object") == "error":
            message = body.get("message")
            return "object: error, no message given" if _hollow(message) else message
        if not isinstance(self.spec.items_in(body), list) and (detail := _fastapi_detail(body.get("detail"))):
            return detail
        if failed and not _hollow(message := body.get("message")):
            return message
        if body.get("success") is False:
            return "success: false, no error given"
        return None

    def _received(self, body: Any) -> str:
        """What a body holds instead of the list, in words an operator can act on: an API error object's
        message (redacted, then cut short), a bare list where an envelope was expected, or the keys there."""
        key = self.spec.items_key
        if (error := self._api_error(body)) is not None:
            return error
        if not isinstance(body, dict):
            return self._found(body) if key is None else f"{self._found(body)} (not an object holding {key!r})"
        if key is None:
            return self._found(body)
        node: Any = body
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return f"an object without {key!r} (keys: {_shown_keys(body, self._forms)})"
            node = node[part]
        return f"{self._found(node)} at {key!r}"

    def _found(self, value: Any) -> str:
        """A value found where the list belongs, in words that show where the list went: an object with its keys
        (the list nested one level deeper, `{"data": {"object": "list", "data": [...]}}`), a string that holds JSON
        (the list encoded twice)."""
        if isinstance(value, dict):
            return f"an object (keys: {_shown_keys(value, self._forms)})"
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            try:
                inner = json.loads(value)
            except (ValueError, RecursionError):
                pass
            else:
                return f"a string holding JSON, {_json_kind(inner)} (encoded twice?)"
        return _json_kind(value)

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

    def _get(self, target: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, Any, bytes]:
        """One successful (2xx) response, its decoded body and the body's bytes as UTF-8 (`_decode`), after bounded
        retries of 429/5xx, transport errors, bodies that would not decompress and bodies cut short, all within
        the provider's deadline when it has one."""
        slug = self.spec.slug
        reason = "none"
        for attempt in range(1, self._retry.max_attempts + 1):
            step = "fetch"
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise self._past_deadline(attempt - 1, reason)
            response = None
            try:
                # No params at all (not {}) keeps the query of a URL handed out by a Link header.
                request = self._client.build_request("GET", target, params=params or None, headers=headers,
                                                     timeout=self._request_timeout())
            except httpx.InvalidURL as exc:
                raise self._unbuildable(target, params, exc) from None
            try:
                response, content = self._exchange(request)
            except _BodyPastDeadline as exc:
                raise self._past_deadline(attempt, f"{exc} from {_safe_url(request.url)}") from None
            except httpx.TooManyRedirects:
                raise ProviderFetchError(slug, "fetch", f"too many redirects from {_safe_url(request.url)}") from None
            except httpx.UnsupportedProtocol as exc:  # no attempt can speak it: a redirect to ftp:// is not transient
                failed = _failed_url(exc, request)
                led = ", where a redirect led" if failed != _safe_url(request.url) else ""
                raise ProviderFetchError(slug, "fetch", f"{type(exc).__name__}: {exc} (requesting {failed}{led}); "
                                         "not retried") from None
            except (httpx.TransportError, httpx.DecodingError) as exc:
                # A corrupt or cut compressed body (DecodingError) is as transient as a cut connection.
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                where = "the body from" if isinstance(exc, httpx.DecodingError) else "requesting"
                reason += f" ({where} {_failed_url(exc, request)})"
            else:
                if response.status_code == 206:  # asked for no range: a proxy or cache answered with part of the list
                    raise ProviderFetchError(slug, "fetch", f"HTTP 206 (Partial Content) from {_safe_url(response.url)}"
                                             " to a request for the whole list: part of a list is no catalog; not read")
                if response.status_code < 300:
                    try:
                        return (response, *self._decode(response, content))
                    except _CutShort as exc:  # as transient as a connection cut mid-body, which is retried
                        step, reason = "decode", str(exc)
            if response is not None and response.status_code >= 300:
                reason = f"HTTP {response.status_code} from {_safe_url(response.url)}"
                if response.status_code == 304:  # not a redirect: the answer to an If-None-Match this client never sends
                    raise ProviderFetchError(slug, "fetch", f"{reason} (Not Modified), though the request was not "
                                             "conditional: a cache or proxy in the way answered for the provider")
                if response.status_code < 400:  # httpx follows every redirect that says where to, but a 300's
                    said = ("a redirect without a Location to follow" if "location" not in response.headers
                            else "a choice of answers (Multiple Choices) this client does not pick from" if
                            response.status_code == 300 else "a redirect this client does not follow")
                    raise ProviderFetchError(slug, "fetch", f"{reason}, {said}")
                if response.history and _origin(response.url) != self._origin:
                    reason += " (redirected to another origin, where the provider's credentials are not sent)"
                # In the reason, so a retried 429/503 that is given up on ends with what the provider said last.
                reason += self._explanation(content)
                if response.status_code not in RETRY_STATUSES:
                    raise ProviderFetchError(slug, "fetch", reason, response.status_code)
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise self._past_deadline(attempt, reason)
            asked = self._retry.asked_wait(response)
            if asked is not None and asked > self._retry.max_backoff_seconds:
                # Asked again sooner, a provider that said "in an hour" says 429 again (or bans the key for it), and
                # the wait for that spent the deadline behind a reason that never said how long it asked for.
                raise ProviderFetchError(
                    slug, "fetch", f"{reason}; it asks to be retried after {asked:,.0f} s (Retry-After), longer than "
                    f"the {self._retry.max_backoff_seconds:g} s this client waits between attempts: not retried")
            if attempt == self._retry.max_attempts:
                raise ProviderFetchError(
                    slug, step, f"{reason} (gave up after {attempt} attempts)"
                )
            delay = self._retry.delay(attempt, asked)
            if remaining is not None and delay >= remaining:
                raise self._past_deadline(attempt, f"{reason}; the next attempt would start after it")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _unbuildable(self, target: str, params: dict[str, Any], error: httpx.InvalidURL) -> ProviderFetchError:
        """The request httpx will not build (a query past its 64 KiB, a next token that long): the URL without its
        query, and the longest parameter by name and length, never by value (a value may be the key)."""
        try:
            url = _safe_url(self._client.build_request("GET", target).url)
        except httpx.InvalidURL:  # the target itself (a link handed out): the provider's own base URL
            url = self.spec.public_base_url(self._environ)
        longest = max(params.items(), key=lambda item: len(str(item[1])), default=None)
        named = f": its longest query parameter, {longest[0]}, is {len(str(longest[1])):,} characters" if longest else ""
        return ProviderFetchError(self.spec.slug, "request", f"the request to {url} cannot be built ({error}){named}")

    def _exchange(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """Send `request` and read the whole body of a successful answer, at most MAX_BODY_BYTES once
        decompressed, or the start of a 4xx/5xx's (`_error_body`). On the live path every read waits at most
        what is left of the deadline (_DeadlineStream); over another transport the deadline is checked between
        chunks."""
        response = self._client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                return response, self._error_body(response)
            if response.status_code >= 300:
                return response, b""  # not read: a 3xx left unfollowed has no Location, and its body explains nothing
            return response, self._read_body(response, self._max_body_bytes)
        finally:
            response.close()

    def _read_body(self, response: httpx.Response, limit: int, cut: bool = False) -> bytes:
        """The body as it arrives, until it ends or holds more than `limit` bytes once decompressed: then cut
        there (`cut`: what was read, past the limit), else a ProviderFetchError. Raises _BodyPastDeadline when
        the deadline passes: checked between chunks over a transport that does not bound each read
        (_DeadlineStream does on the live path), and when a read times out with the deadline gone."""
        chunks: list[bytes] = []
        received = 0
        try:
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                received += len(chunk)
                if received > limit:
                    if cut:
                        break
                    raise ProviderFetchError(
                        self.spec.slug, "fetch",
                        f"the body from {_safe_url(response.url)} holds more than {limit:,} bytes once "
                        "decompressed (no model list is that large); not read further")
                remaining = self._remaining()
                if not self._bounded and remaining is not None and remaining <= 0:
                    raise _BodyPastDeadline(received)
        except httpx.TimeoutException:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                raise _BodyPastDeadline(received) from None
            raise
        return b"".join(chunks)

    def _error_body(self, response: httpx.Response) -> bytes:
        """The first ERROR_BODY_BYTES of a 4xx/5xx answer's body, where the provider explains it; b"" when that
        much does not arrive within the deadline's rules (as in `_exchange`), or does not decompress, or the
        connection breaks: the status is the error, and a failure to read why must not replace it."""
        try:
            return self._read_body(response, ERROR_BODY_BYTES - 1, cut=True)[:ERROR_BODY_BYTES]
        except (_BodyPastDeadline, httpx.TransportError, httpx.DecodingError):  # a timeout is a TransportError
            return b""

    def _explanation(self, content: bytes) -> str:
        """What a 4xx/5xx body says, as the end of its reason: ": the provider says '...'" for an API error
        (`_api_message`) or a short line of plain text, ": an HTML or XML page" for a proxy's page (never quoted:
        its markup tells an operator nothing), else nothing (no body, JSON naming no error, a body cut at
        ERROR_BODY_BYTES, a wall of text)."""
        text = _body_start(content)
        if not text:
            return ""
        if text[:1] == b"<":
            return ": an HTML or XML page"
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError too)
            message = self._plain_text(text)
        else:
            message = self._api_message(body, failed=True)
        return "" if message is None else f": the provider says {message!r}"

    def _plain_text(self, text: bytes) -> str | None:
        """A body of plain text as one line, redacted, when it is short enough to be a message (at most
        QUOTED_MESSAGE_CHARS) and holds only printable characters; None otherwise."""
        try:
            line = " ".join(self._redact(text.decode("utf-8")).split())
        except UnicodeDecodeError:
            return None
        return line if line and len(line) <= QUOTED_MESSAGE_CHARS and line.isprintable() else None

    def _decode(self, response: httpx.Response, content: bytes) -> tuple[Any, bytes]:
        """The decoded body, and its bytes as UTF-8 (`content` itself unless it came in another encoding), where a
        secret it echoes is searched for. JSON's decoder raises more than JSONDecodeError: ValueError for an
        integer of more than 4300 digits, RecursionError for deep nesting; each is this provider's decode error.
        So is a key given twice in one object with two values: which one the provider meant cannot be told
        (Python's decoder keeps the last, others the first), and a name or price picked silently is worse than
        none."""
        url = _safe_url(response.url)
        if unread := _unread_codings(response):
            # httpx passes a coding it cannot decode through as it came: read as text, the compressed bytes
            # failed as "malformed JSON: 'utf-8' codec can't decode byte 0xf8", which names no compression.
            raise ProviderFetchError(
                self.spec.slug, "decode",
                f"the body from {url} came compressed as {', '.join(unread)} (Content-Encoding), which the request "
                f"did not accept (Accept-Encoding: {response.request.headers.get('accept-encoding', 'none')}) and "
                "nothing here decompresses")
        start = _body_start(content[:1024])
        if not start:
            raise ProviderFetchError(self.spec.slug, "decode",
                                     f"an empty body (HTTP {response.status_code}) from {url} where a JSON model list "
                                     "was expected")
        if start[:1] == b"<":  # a proxy's or a bot filter's page, often with status 200: not "Expecting value"
            kind = response.headers.get("content-type", "no Content-Type").split(";")[0].strip()
            raise ProviderFetchError(self.spec.slug, "decode",
                                     f"an HTML or XML page ({kind}, HTTP {response.status_code}) from {url} where "
                                     f"JSON was expected: {self._quoted_start(content)}")
        if content.count(b"{") + content.count(b"[") > MAX_JSON_OBJECTS:
            raise ProviderFetchError(self.spec.slug, "decode",
                                     f"the body from {url} holds more than {MAX_JSON_OBJECTS:,} JSON objects and arrays "
                                     "(no model list is that large); not decoded")
        if content.count(b",") > MAX_JSON_VALUES:
            raise ProviderFetchError(self.spec.slug, "decode",
                                     f"the body from {url} holds more than {MAX_JSON_VALUES:,} JSON values (told by "
                                     "their commas; no model list is that large); not decoded")
        text, searchable = self._text(response, content, url)
        try:
            return json.loads(text, object_pairs_hook=_unambiguous_object), searchable
        except _AmbiguousKey as exc:
            reason = f"ambiguous JSON from {url}: {exc.describe(self._redact)}"
        except RecursionError:
            reason = f"malformed JSON from {url}: nested deeper than the decoder can follow"
        except json.JSONDecodeError as exc:
            if text.lstrip("\ufeff \t\r\n")[:1] not in ("{", "["):
                # "404 page not found" read as "Extra data: line 1 column 5" (its 404 is a number), an event stream or
                # JSONP as "Expecting value": a model list is an object or an array, and this body starts as neither.
                kind = response.headers.get("content-type", "no Content-Type").split(";")[0].strip()
                raise ProviderFetchError(self.spec.slug, "decode",
                                         f"a body that is not a JSON document ({kind}, HTTP {response.status_code}) from "
                                         f"{url} where a JSON object or array was expected: {self._quoted_start(content)}")
            if _left_open(text):
                raise _CutShort(f"malformed JSON from {url}: the body ends before its JSON does, after {len(content):,} "
                                f"bytes (cut short?): {exc}") from None
            reason = f"malformed JSON from {url}: {exc}"
            if exc.msg == "Extra data":  # Python's words for one whole document and more after it
                reason = (f"malformed JSON from {url}: a whole JSON document is followed by more, from offset {exc.pos} "
                          "(one document per line, JSON Lines, where one was expected?)")
        except ValueError as exc:
            # "Exceeds the limit (4300 digits) ...; use sys.set_int_max_str_digits()": the advice is not ours.
            reason = f"malformed JSON from {url}: a value Python cannot decode ({str(exc).split(';')[0]})"
        raise ProviderFetchError(self.spec.slug, "decode", reason)

    def _quoted_start(self, content: bytes) -> str:
        """The start of a body that is no JSON, as a decode error quotes it: its first 80 characters, JSON-escaped,
        redacted before they are cut (cut first, a key running across the cut was no longer found, and its first
        characters were shown)."""
        window = 80 + max(map(len, self._forms), default=0)
        text = self._redact(_body_start(content)[:4 * window].decode("utf-8", "replace"))
        return json.dumps(text[:80], ensure_ascii=False)[:90]

    def _text(self, response: httpx.Response, content: bytes, url: str) -> tuple[str, bytes]:
        """The body as text, and its bytes as UTF-8. JSON is UTF-8 (or UTF-16/32, told apart by its first bytes as
        json.loads does), and is read so first, whatever the Content-Type says: servers that label UTF-8 as
        ISO-8859-1 are common, and UTF-8 read as Latin-1 would turn every "é" in a name into "Ã©". A body that is
        not is read in the charset its Content-Type declares (`charset=latin-1`): a valid list, not malformed JSON.
        Anything else is a decode error saying which byte and which charsets, not a codec's "invalid continuation
        byte" under "malformed JSON"."""
        detected = json.detect_encoding(content)
        try:
            text = content.decode(detected, "surrogatepass")
        except UnicodeDecodeError as exc:
            if exc.end == len(content) and exc.reason == "unexpected end of data":
                raise _CutShort(f"malformed JSON from {url}: the body ends inside a character, at offset "
                                f"{len(content)} (cut short?)") from None
            shown = "UTF-8" if detected.startswith("utf-8") else detected.upper()
            problem = f"is not {shown} (byte 0x{content[exc.start]:02x} at offset {exc.start})"
        else:
            return text, content if detected.startswith("utf-8") else text.encode("utf-8", "surrogatepass")
        declared = response.charset_encoding
        if declared is None:
            reason = "its Content-Type declares no other charset"
        else:
            try:
                text = content.decode(declared)
            except LookupError:
                reason = f"its Content-Type declares charset {declared!r}, which Python does not know"
            except UnicodeDecodeError as exc:
                reason = (f"not {declared!r} either, the charset its Content-Type declares "
                          f"(byte 0x{content[exc.start]:02x} at offset {exc.start})")
            else:
                return text, text.encode("utf-8", "surrogatepass")
        raise ProviderFetchError(self.spec.slug, "decode", f"the body from {url} {problem}, and {reason}")


def _on_page(number: int, before: int) -> str:
    """Where in a paged list a failure happened, as the end of its reason."""
    return f" (page {number} of the list; {before:,} record{'s' if before != 1 else ''} read before it)"


def _unread_codings(response: httpx.Response) -> list[str]:
    """The content codings of a response that the request did not accept, in the order they were applied: httpx
    decodes the ones it asks for (its Accept-Encoding) and leaves any other ("br" without brotli installed, "zstd",
    "x-gzip") undone, so the body is still compressed. A server or CDN that ignores Accept-Encoding sends them."""
    accepted = {part.split(";")[0].strip().lower()
                for part in response.request.headers.get("accept-encoding", "").split(",")}
    codings = (part.strip().lower() for part in response.headers.get("content-encoding", "").split(","))
    return [coding for coding in codings if coding and coding != "identity" and coding not in accepted]


# Strings that say what null, false or 0 say, as loosely typed servers write them ("error": "false").
_HOLLOW_WORDS = frozenset({"", "null", "none", "false", "0"})


def _hollow(value: Any, depth: int = 3) -> bool:
    """Whether an error field says nothing: null, false, 0, "" (or any of them written as a string, `_HOLLOW_WORDS`),
    or an object or list of such values, looked into `depth` levels (a deeper one is taken as saying something)."""
    if isinstance(value, (dict, list)):
        values = value.values() if isinstance(value, dict) else value
        return depth > 0 and all(_hollow(item, depth - 1) for item in values)
    if isinstance(value, str):
        return value.strip().casefold() in _HOLLOW_WORDS
    return not value


class _AmbiguousKey(ValueError):
    """A key given twice in one object with two values: the key, both values, and the object's own name."""

    def __init__(self, key: str, first: Any, second: Any, obj: dict):
        super().__init__(key)
        self.key, self.values = key, (first, second)
        self.label = next(((name, obj[name]) for name in ("id", "name", "model")
                           if name != key and isinstance(obj.get(name), str)), None)

    def describe(self, redacted: Callable[[str], str]) -> str:
        """The message, each quoted value redacted before it is cut short (a cut secret is no longer found)."""
        def quoted(value: Any) -> str:
            text = redacted(json.dumps(value, ensure_ascii=False))
            return text if len(text) <= 60 else text[:57] + "..."
        where = f" (the object whose {self.label[0]} is {quoted(self.label[1])})" if self.label else ""
        return (f"key {quoted(self.key)} is given twice in one object with different values, "
                f"{quoted(self.values[0])} and {quoted(self.values[1])}{where}")


def _unambiguous_object(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object as a dict; a key given twice with the same value is harmless, with two values it is not."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        first: dict[str, Any] = {}
        for key, value in pairs:
            if key in first and not _same_json(first[key], value):
                raise _AmbiguousKey(key, first[key], value, obj)
            first.setdefault(key, value)
    return obj


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: Python's == takes true for 1 and 1 for 1.0 (one number in JSON), and NaN for
    nothing (Python's decoder accepts it, and one NaN twice is the same value)."""
    number = (int, float)
    if isinstance(a, number) and isinstance(b, number) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or (a != a and b != b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return a == b


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
