"""Faults of the fetch layer, each over a real loopback socket: what an operator sees, and what leaks.

Every test points the production `ProviderClient` at a tiny scriptable HTTP server (`Loopback`), the way an
operator points it at a real host with `MODELSYNC_<SLUG>_BASE_URL`, so requests, redirects, pagination,
retries, the deadline and decoding all run as they do against a live provider. A second server stands in
for another origin (a redirect target or a next link on someone else's host).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from modelsync_pipeline.providers.http import ProviderClient, ProviderFetchError, RetryPolicy, serve_page
from modelsync_pipeline.providers.pagination import Cursor, NoPagination, PageToken
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

KEY = "gsk_SECRET_3f9c2a7e1b5d4c6a"


class Loopback:
    """`routes[path] = answer(query) -> (status, headers, body)`; body may be an iterator of byte chunks,
    sent one at a time (`drip`). Every request is kept in `seen` as (path, query, headers)."""

    def __init__(self):
        self.routes: dict = {}
        self.seen: list[tuple[str, dict, dict]] = []
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                loopback.seen.append((parts.path, query, {k.lower(): v for k, v in self.headers.items()}))
                answer = loopback.routes.get(parts.path)
                status, headers, body = answer(query) if answer else (404, {}, b'{"error": "no route"}')
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if isinstance(body, bytes):
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    self.end_headers()
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: nothing more to send

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and every test stops one or two servers.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server():
    loopback = Loopback()
    yield loopback
    loopback.close()


@pytest.fixture
def foreign():
    """Another origin: same loopback address, another port."""
    loopback = Loopback()
    yield loopback
    loopback.close()


def as_json(obj, status: int = 200, **headers):
    return status, {"Content-Type": "application/json", **headers}, json.dumps(obj).encode()


def client(slug: str, server: Loopback, *, key: str | None = KEY, **kwargs) -> ProviderClient:
    """The production client for `slug`, pointed at `server` as an operator would point it at a host."""
    spec = PROVIDERS_BY_SLUG[slug]
    environ = {spec.base_url_env: f"{server.origin}/{slug}"}
    if spec.auth is not None and key is not None:
        environ[spec.auth.env_var] = key
    for env_var in spec.path_params_env.values():
        environ[env_var] = "acct"
    kwargs.setdefault("retry", RetryPolicy(max_attempts=2, backoff_seconds=0.01))
    return ProviderClient(spec, environ=environ, **kwargs)


def fetch_error(slug: str, server: Loopback, **kwargs) -> ProviderFetchError:
    with client(slug, server, **kwargs) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    return caught.value


def rendered(error: BaseException) -> str:
    """Everything an operator's log could show of an error: str, repr, and the whole chain with traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


MODELS = {"data": [{"id": "llama-3.1-8b-instant"}, {"id": "gemma2-9b-it"}]}


# -- 1. the key never reaches an error text -----------------------------------------------------------


@pytest.mark.parametrize("padding", ["\r\n", "\n", " ", "\t"], ids=["crlf", "lf", "space", "tab"])
def test_a_key_with_surrounding_whitespace_is_sent_stripped(server, padding):
    """A k8s secret file or a CRLF .env leaves a newline on the key: it is stripped, not sent (or leaked)."""
    server.routes["/groq/models"] = lambda q: as_json(MODELS)
    with client("groq", server, key=padding + KEY + padding) as c:
        assert [r["id"] for r in c.fetch_records()] == ["llama-3.1-8b-instant", "gemma2-9b-it"]
    assert [headers["authorization"] for _, _, headers in server.seen] == [f"Bearer {KEY}"]


@pytest.mark.parametrize("bad_key", [KEY[:10] + "\r\n" + KEY[10:], KEY + "\u00e9", KEY[:10] + "\x00" + KEY[10:]],
                         ids=["inner-newline", "non-ascii", "nul"])
def test_a_key_that_cannot_be_a_header_names_the_variable_never_the_value(server, bad_key):
    server.routes["/groq/models"] = lambda q: as_json(MODELS)
    error = fetch_error("groq", server, key=bad_key)
    assert (error.provider, error.step) == ("groq", "auth")
    assert "GROQ_API_KEY" in str(error)
    text = rendered(error)
    for fragment in (bad_key, bad_key.strip(), KEY[:10], KEY[10:]):
        assert fragment not in text
    assert server.seen == []  # nothing was sent anywhere


def test_an_answer_that_echoes_the_key_is_redacted_from_the_error(server):
    """Defense in depth: whatever a reason quotes (here a provider's error message echoing the key, sent
    with a trailing newline) is redacted of the key, raw and stripped, before it leaves the client."""
    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": f"Invalid API Key: {KEY}"}})
    error = fetch_error("groq", server, key=KEY + "\r\n")
    text = rendered(error)
    assert KEY not in text
    assert "Invalid API Key" in str(error)


@pytest.mark.parametrize("part", [slice(-20, None), slice(None, 14), slice(5, 19), slice(-10, None)],
                         ids=["suffix", "prefix", "middle", "last-ten"])
@pytest.mark.parametrize("status", [401, 403])
def test_an_answer_that_echoes_part_of_the_key_is_redacted_from_the_error(server, part, status):
    """A provider that quoted the key's last 20 characters ("key EY-google-0123456789 not allowed") had them shown
    and stored: only whole forms of the key were redacted. Any run of FRAGMENT_LENGTH of its characters is."""
    from modelsync_pipeline.providers.http import FRAGMENT_LENGTH

    echoed = KEY[part]
    server.routes["/groq/models"] = lambda q: (status, {"Content-Type": "text/plain"},
                                               f"Forbidden: key {echoed.upper()} not allowed".encode())
    error = fetch_error("groq", server)
    text = rendered(error).casefold()
    assert "forbidden: key [redacted] not allowed" in text, text
    assert not any(KEY[i:i + FRAGMENT_LENGTH].casefold() in text for i in range(len(KEY) - FRAGMENT_LENGTH + 1))


@pytest.mark.parametrize("echo", [str, str.upper], ids=["as-sent", "upper"])
@pytest.mark.parametrize("message", ["Der Schlüssel {} ist außer Kraft", "Straße: key {} refused",
                                     "key {} denied: see the ﬁle"], ids=["sharp-s-after", "sharp-s-before", "ligature"])
def test_part_of_the_key_beside_a_character_whose_case_folds_to_two_is_still_redacted(server, echo, message):
    """A message holding one "ß" (or "ﬁ": characters whose case folds to two) was read unfolded, whole: no run of
    the key's characters matched any more, in its own case or another, and the quoted prefix was shown and stored."""
    from modelsync_pipeline.providers.http import FRAGMENT_LENGTH

    echoed = echo(KEY[:16])
    server.routes["/groq/models"] = lambda q: (403, {"Content-Type": "text/plain; charset=utf-8"},
                                               message.format(echoed).encode())
    error = fetch_error("groq", server)
    assert message.format("[redacted]") in str(error)
    text = rendered(error).casefold()
    assert not any(KEY[i:i + FRAGMENT_LENGTH].casefold() in text for i in range(len(KEY) - FRAGMENT_LENGTH + 1))


# -- 2. credentials go only to the provider's own origin ----------------------------------------------


@pytest.mark.parametrize("slug,header", [("google", "x-goog-api-key"), ("anthropic", "x-api-key"),
                                         ("groq", "authorization")])
def test_a_redirect_to_another_origin_is_followed_without_credentials(server, foreign, slug, header):
    server.routes[f"/{slug}/models"] = lambda q: (302, {"Location": f"{foreign.origin}/elsewhere"}, b"")
    foreign.routes["/elsewhere"] = lambda q: as_json({"models": [{"name": "models/x"}], "data": [{"id": "x"}]})
    with client(slug, server) as c:
        c.fetch_records()
    sent_here = [headers.get(header) for _, _, headers in server.seen]
    assert sent_here == [KEY if header != "authorization" else f"Bearer {KEY}"]
    assert len(foreign.seen) == 1
    sent_there = foreign.seen[0][2]
    assert header not in sent_there and "authorization" not in sent_there
    assert KEY not in json.dumps(foreign.seen)


def test_a_connection_failure_names_the_url_it_happened_at_a_redirects_target_included(server):
    """It read "ConnectError: [Errno 111] Connection refused (gave up after 2 attempts)": an operator checks the
    provider's host, which answers, never the host its redirect sent the request to."""
    elsewhere = Loopback()
    gone = f"{elsewhere.origin}/moved/{KEY}/models"
    elsewhere.close()  # nothing listens there any more
    server.routes["/groq/models"] = lambda q: (302, {"Location": f"{gone}?key={KEY}"}, b"")
    error = fetch_error("groq", server)
    assert error.step == "fetch" and error.reason.startswith("ConnectError: "), error.reason
    assert f"requesting {elsewhere.origin}/moved/[redacted]/models)" in error.reason, error.reason
    assert KEY not in rendered(error)


def test_a_partial_answer_to_a_request_for_the_whole_list_is_refused(server):
    """A 206 with 80% of the list was read as the whole catalog, and the models it left out were removed."""
    body = json.dumps({"data": MODELS["data"][:1]}).encode()
    server.routes["/groq/models"] = lambda q: (206, {"Content-Type": "application/json",
                                                    "Content-Range": f"bytes 0-{len(body) - 1}/{10 * len(body)}"}, body)
    error = fetch_error("groq", server)
    assert error.step == "fetch" and "HTTP 206 (Partial Content)" in error.reason and "not read" in error.reason
    assert len(server.seen) == 1


@pytest.mark.parametrize("status, said", [
    (300, "a choice of answers (Multiple Choices) this client does not pick from"),
    (399, "a redirect this client does not follow"),
])
def test_a_3xx_with_a_location_httpx_does_not_follow_is_not_called_one_without(server, status, said):
    """A 300 with a Location read "a redirect without a Location to follow": httpx follows no 300."""
    server.routes["/groq/models"] = lambda q: (status, {"Location": "/groq/v2/models"}, b"")
    error = fetch_error("groq", server)
    assert error.reason == f"HTTP {status} from {server.origin}/groq/models, {said}", error.reason


def test_a_redirect_to_a_scheme_the_client_does_not_speak_is_named_and_not_retried(server):
    """A redirect to ftp:// was retried four times as if transient, and named as a request to ftp:// with no word
    of the redirect that led there."""
    server.routes["/groq/models"] = lambda q: (302, {"Location": "ftp://files.example/models.json"}, b"")
    error = fetch_error("groq", server, sleep=lambda s: None)
    assert error.step == "fetch" and error.reason.startswith("UnsupportedProtocol: "), error.reason
    assert "(requesting ftp://files.example/models.json, where a redirect led); not retried" in error.reason
    assert len(server.seen) == 1


def test_a_redirect_within_the_origin_keeps_credentials(server):
    server.routes["/anthropic/models"] = lambda q: (307, {"Location": "/anthropic/v2/models"}, b"")
    server.routes["/anthropic/v2/models"] = lambda q: as_json({"data": [{"id": "claude"}], "has_more": False})
    with client("anthropic", server) as c:
        assert c.fetch_records() == [{"id": "claude"}]
    assert [headers.get("x-api-key") for _, _, headers in server.seen] == [KEY, KEY]


def test_a_next_link_to_another_host_is_refused(server, foreign):
    server.routes["/huggingface/models"] = lambda q: (
        200, {"Content-Type": "application/json", "Link": f'<{foreign.origin}/next?cursor=2>; rel="next"'},
        json.dumps({"data": [{"id": "org/a"}]}).encode())
    foreign.routes["/next"] = lambda q: as_json({"data": [{"id": "org/b"}]})
    error = fetch_error("huggingface", server)
    assert (error.provider, error.step) == ("huggingface", "paginate")
    assert foreign.origin.removeprefix("http://") in error.reason
    assert foreign.seen == []
    assert KEY not in rendered(error)


# -- 3. pagination never returns a truncated catalog as success ---------------------------------------

CF_PATH = "/cloudflare-workers-ai/accounts/acct/ai/models/search"


def test_page_numbers_continue_until_the_total_when_the_server_caps_the_page_size(server):
    names = [f"@cf/m{i}" for i in range(120)]

    def capped(query):  # asked for 100 a page, the server sends 50 and says so
        page, size = int(query.get("page", 1)), min(int(query.get("per_page", 20)), 50)
        chunk = names[(page - 1) * size : page * size]
        return as_json({"success": True, "result": [{"name": n} for n in chunk],
                        "result_info": {"page": page, "per_page": size, "count": len(chunk), "total_count": 120}})

    server.routes[CF_PATH] = capped
    with client("cloudflare-workers-ai", server) as c:
        assert [r["name"] for r in c.fetch_records()] == names


def test_an_empty_page_before_the_total_is_an_error_not_a_short_catalog(server):
    def gap(query):
        page = int(query.get("page", 1))
        chunk = [] if page == 2 else [{"name": f"@cf/p{page}-{i}"} for i in range(100)]
        return as_json({"success": True, "result": chunk,
                        "result_info": {"page": page, "per_page": 100, "count": len(chunk), "total_count": 300}})

    server.routes[CF_PATH] = gap
    error = fetch_error("cloudflare-workers-ai", server)
    assert (error.provider, error.step) == ("cloudflare-workers-ai", "paginate")
    assert "page 2 was empty" in error.reason and "total_count 300" in error.reason and "got 100" in error.reason


@pytest.mark.parametrize("total,named", [(0, "total_count 0 is fewer than the 100 records received up to page 1"),
                                         (150, "total_count 150 is fewer than the 200 records received up to page 2")],
                         ids=["zero-beside-a-full-page", "below-what-two-pages-held"])
def test_a_total_below_the_records_received_is_an_error_not_the_end_of_the_list(server, total, named):
    """A total that contradicts the records in hand said "complete" after the first page: 100 of 250 models
    were published (or 200, cut at whichever page passed the wrong total)."""
    names = [f"@cf/m{i}" for i in range(250)]

    def wrong_total(query):
        page = int(query.get("page", 1))
        chunk = names[(page - 1) * 100 : page * 100]
        return as_json({"success": True, "result": [{"name": n} for n in chunk],
                        "result_info": {"page": page, "per_page": 100, "count": len(chunk), "total_count": total}})

    server.routes[CF_PATH] = wrong_total
    error = fetch_error("cloudflare-workers-ai", server)
    assert (error.provider, error.step) == ("cloudflare-workers-ai", "paginate")
    assert named in error.reason, error.reason


def _linked_pages(server, link: str) -> None:
    """Hugging Face's list in two pages; the first names the second with `link` ("{next}" is its URL)."""
    def pages(query):
        if query.get("cursor") == "2":
            return as_json({"data": [{"id": "org/b"}]})
        following = f"{server.origin}/huggingface/models?cursor=2"
        return as_json({"data": [{"id": "org/a"}]}, Link=link.format(next=following))
    server.routes["/huggingface/models"] = pages


@pytest.mark.parametrize("link", ['<{next}>; rel = "next"', '<{next}>; type="application/json"; rel="next"',
                                  '<{next}>; REL="NEXT"', '<{next}>; rel=next',
                                  '<{next}&x=1>; rel="prev", <{next}>; title="a, b; c"; rel="last next"'],
                         ids=["spaces-around-equals", "rel-after-another-param", "upper-case", "unquoted",
                              "second-of-two-links"])
def test_a_next_link_in_any_form_rfc_8288_allows_is_followed(server, link):
    """The header was read with one pattern, rel first and quoted as `rel="next"`: every other form the RFC
    allows read as "no next page", and the list ended at its first page with every check passing."""
    _linked_pages(server, link)
    with client("huggingface", server) as c:
        assert c.fetch_records() == [{"id": "org/a"}, {"id": "org/b"}]


@pytest.mark.parametrize("link", ['<{next}> rel="next"', '{next}; rel="next"', '<{next}>; rel="next'],
                         ids=["no-semicolon", "no-angle-brackets", "unclosed-quote"])
def test_a_link_header_that_mentions_next_but_cannot_be_read_is_an_error(server, link):
    _linked_pages(server, link)
    error = fetch_error("huggingface", server)
    assert (error.provider, error.step) == ("huggingface", "paginate")
    assert "mentions next but is not in the form" in error.reason


def test_a_server_that_ignores_the_page_number_is_an_error_not_the_first_page_repeated(server):
    def first_page_always(query):  # asked for page 2, 3, ... it answers page 1 again, total and all
        return as_json({"success": True, "result": [{"name": f"@cf/m{i}"} for i in range(50)],
                        "result_info": {"page": 1, "per_page": 50, "count": 50, "total_count": 120}})

    server.routes[CF_PATH] = first_page_always
    error = fetch_error("cloudflare-workers-ai", server)
    assert (error.provider, error.step) == ("cloudflare-workers-ai", "paginate")
    assert "page 2 repeats the page before it (50 records)" in error.reason


PAGED = [spec for spec in PROVIDERS if not isinstance(spec.pagination, NoPagination)]
LATER_PAGE_FAULTS = {"status": as_json({"error": {"message": "backend unavailable"}}, 503),
                     "malformed": (200, {"Content-Type": "application/json"}, b'{"data": [] []}'),
                     "cut-connection": (200, {"Content-Type": "application/json", "Content-Length": "999", "Connection": "close"},
                                        iter([b"{"]))}


@pytest.mark.parametrize("fault", list(LATER_PAGE_FAULTS))
@pytest.mark.parametrize("spec", PAGED, ids=lambda spec: spec.slug)
def test_a_failure_on_a_later_page_names_the_page_and_what_was_read_before_it(server, spec, fault):
    """URLs are shown without their query (a key may travel there), so every page of a list has the same URL: a
    503 on page 2 read "HTTP 503 from .../models/search", as if the provider were down from the first request,
    not failing partway through its list."""
    size = spec.pagination.page_size
    items = [{spec.id_key: f"models/m-{i}", "id": f"models/m-{i}"} for i in range(2 * size + 1)]
    payload = items if spec.items_key is None else spec.envelope(items, {})
    path = f"/{spec.slug}{spec.public_path({env_var: 'acct' for env_var in spec.path_params_env.values()})}"

    def answer(query):
        if len(server.seen) > 1:
            return LATER_PAGE_FAULTS[fault]
        request = httpx.Request("GET", httpx.URL(f"{server.origin}{path}", params=query))
        body, headers = serve_page(spec, payload, request)
        return 200, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()

    server.routes[path] = answer
    error = fetch_error(spec.slug, server)
    assert error.reason.endswith(f"(page 2 of the list; {size:,} records read before it)"), error.reason
    assert f"{server.origin}{path}" in error.reason, error.reason


@pytest.mark.parametrize("slug,second", [
    ("google", {"models": [{"name": "models/b"}], "nextPageToken": {"page": 3}}),
    ("fal", {"models": [{"endpoint_id": "fal-ai/b"}], "has_more": True}),
    ("anthropic", {"data": [{"id": "b"}], "has_more": "yes", "last_id": "b"}),
    ("cloudflare-workers-ai", {"result": [{"name": "@cf/b"}], "result_info": {"total_count": "many"}}),
], ids=["token-as-object", "cursor-missing", "has-more-as-word", "total-as-word"])
def test_a_paging_field_wrong_on_a_later_page_names_the_page(server, slug, second):
    """It read "has_more is 'yes' (str), not a boolean" alone: nothing said the first page's had been fine."""
    spec = PROVIDERS_BY_SLUG[slug]
    path = f"/{slug}{spec.public_path({env_var: 'acct' for env_var in spec.path_params_env.values()})}"
    first = {"google": {"models": [{"name": "models/a"}], "nextPageToken": "p2"},
             "fal": {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": True, "next_cursor": "c2"},
             "anthropic": {"data": [{"id": "a"}], "has_more": True, "last_id": "a"},
             "cloudflare-workers-ai": {"result": [{"name": "@cf/a"}], "result_info": {"total_count": 3}}}[slug]
    server.routes[path] = lambda q: as_json(first if len(server.seen) == 1 else second)
    error = fetch_error(slug, server)
    assert error.step == "paginate" and error.reason.endswith("(page 2 of the list; 1 record read before it)"), error.reason


def test_a_failure_on_the_first_page_says_no_page(server):
    server.routes["/google/models"] = lambda q: LATER_PAGE_FAULTS["status"]
    assert "page" not in fetch_error("google", server).reason.replace("pageSize", "")


# The registry's providers whose pages name the next by a token in the body: PageToken (Google, Vertex, Cohere)
# and Cursor (fal, whose pages also say has_more).
TOKEN_SLUGS = [spec.slug for spec in PROVIDERS if isinstance(spec.pagination, (PageToken, Cursor))]


def _token_param(style) -> str:
    return style.token_param if isinstance(style, PageToken) else style.cursor_param


def _token_pages(server, slug: str, pages: list) -> None:
    """`slug`'s list as `pages`: each a list of names (its records), or None for a page with no list at all,
    followed by the token of the page after it (absent on the last page) or by `page["token"]` when given as a
    dict {"names": ..., "token": ...}. The token of page i is "p<i>"; the first page has none. A Cursor page
    says has_more beside its token (true while a token follows, as fal's), unless `page["has_more"]` is given
    (None: left out)."""
    spec = PROVIDERS_BY_SLUG[slug]
    style = spec.pagination

    def answer(query):
        index = int(query.get(_token_param(style), "p0").removeprefix("p"))
        page = pages[index] if isinstance(pages[index], dict) else {"names": pages[index]}
        token = page.get("token", f"p{index + 1}" if index + 1 < len(pages) else None)
        body = {} if page["names"] is None else spec.envelope([{"name": n} for n in page["names"]], {})
        if token is not None:
            body[style.next_field] = token
        if isinstance(style, Cursor) and page.get("has_more", token is not None) is not None:
            body["has_more"] = page.get("has_more", token is not None)
        return as_json(body)

    server.routes[f"/{slug}{spec.path}"] = answer


@pytest.mark.parametrize("slug", [*TOKEN_SLUGS, "anthropic"])
def test_a_next_token_too_long_to_send_is_named_not_an_unexpected_error(server, slug):
    """httpx refuses a URL whose query passes 64 KiB: a next token that long escaped as a bare httpx.InvalidURL ("URL
    component 'query' too long"), which the run logged with a traceback as an unexpected error of the process."""
    spec = PROVIDERS_BY_SLUG[slug]
    token = "t" * 70_000
    if isinstance(spec.pagination, (PageToken, Cursor)):
        _token_pages(server, slug, [{"names": ["a"], "token": token}, ["b"]])
        param = _token_param(spec.pagination)
    else:
        server.routes["/anthropic/models"] = lambda q: as_json({"data": [{"id": "a"}], "has_more": True, "last_id": token})
        param = spec.pagination.after_param
    error = fetch_error(slug, server)
    assert error.step == "request", error.reason
    assert error.reason.startswith(f"the request to {server.origin}/{slug}{spec.path} cannot be built"), error.reason
    assert f"its longest query parameter, {param}, is 70,000 characters" in error.reason, error.reason
    assert error.reason.endswith("(page 2 of the list; 1 record read before it)") and token not in error.reason


@pytest.mark.parametrize("slug", TOKEN_SLUGS)
def test_a_page_that_holds_only_the_next_token_is_an_empty_page_and_its_token_is_followed(server, slug):
    """AIP-158 lets a page hold no results before the end, and proto3's JSON leaves the empty list out:
    `{"nextPageToken": "..."}` failed at decode ("expected a list at 'models'") and the whole catalog with it;
    so did fal's `{"next_cursor": "...", "has_more": true}`."""
    _token_pages(server, slug, [["a", "b"], None, ["c"]])
    with client(slug, server) as c:
        assert [r["name"] for r in c.fetch_records()] == ["a", "b", "c"]
    token_param = _token_param(PROVIDERS_BY_SLUG[slug].pagination)
    assert [query.get(token_param) for _, query, _ in server.seen] == [None, "p1", "p2"]


@pytest.mark.parametrize("slug", TOKEN_SLUGS)
def test_a_first_page_that_holds_only_the_next_token_is_followed_too(server, slug):
    _token_pages(server, slug, [None, None, ["a"]])
    with client(slug, server) as c:
        assert [r["name"] for r in c.fetch_records()] == ["a"]


@pytest.mark.parametrize("last,keys", [({"names": None}, "none"), ({"names": None, "token": ""}, "'{field}'")],
                         ids=["empty-object", "empty-token"])
@pytest.mark.parametrize("slug", TOKEN_SLUGS)
def test_a_page_with_neither_the_list_nor_a_token_still_fails_at_decode(server, slug, last, keys):
    """Read as an empty last page, it would end a catalog on whatever came before (nothing, on a first page)."""
    spec = PROVIDERS_BY_SLUG[slug]
    if isinstance(spec.pagination, Cursor):  # its pages say has_more beside the cursor: true with one, else false
        keys = "'has_more'" if keys == "none" else "'{field}', 'has_more'"
    for pages, where in (([["a"], last], " (page 2 of the list; 1 record read before it)"), ([last], "")):
        _token_pages(server, slug, pages)
        error = fetch_error(slug, server)
        assert (error.step, error.reason) == ("decode", (
            f"expected a list at {spec.items_key!r}, got an object without {spec.items_key!r} "
            f"(keys: {keys.format(field=spec.pagination.next_field)}){where}"))


@pytest.mark.parametrize("slug", [slug for slug in TOKEN_SLUGS if isinstance(PROVIDERS_BY_SLUG[slug].pagination, Cursor)])
def test_a_cursor_page_without_the_list_is_empty_only_while_it_says_more(server, slug):
    """A cursor with has_more left out is followed, as on a page with records; with has_more false the page would
    end the list, so without the list it is a decode error, as is a cursor beside any other field."""
    spec = PROVIDERS_BY_SLUG[slug]
    _token_pages(server, slug, [["a"], {"names": None, "has_more": None}, ["b"]])
    with client(slug, server) as c:
        assert [r["name"] for r in c.fetch_records()] == ["a", "b"]
    for page, keys in (({"names": None, "token": "p1", "has_more": False}, "'next_cursor', 'has_more'"),):
        _token_pages(server, slug, [page, ["b"]])
        error = fetch_error(slug, server)
        assert (error.step, error.reason) == ("decode", (
            f"expected a list at {spec.items_key!r}, got an object without {spec.items_key!r} (keys: {keys})"))


def test_a_cursor_without_has_more_is_followed(server):
    """fal's pages carry `has_more` beside `next_cursor`; one without `has_more` still names a next page."""
    def pages(query):
        cursor = int(query.get("cursor", 0))
        return as_json({"models": [{"endpoint_id": f"fal-ai/m{cursor}"}],
                        "next_cursor": str(cursor + 1) if cursor < 3 else None})

    server.routes["/fal/models"] = pages
    with client("fal", server) as c:
        assert [r["endpoint_id"] for r in c.fetch_records()] == [f"fal-ai/m{i}" for i in range(4)]


@pytest.mark.parametrize("slug,body", [
    ("fal", {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": "false", "next_cursor": None}),
    ("anthropic", {"data": [{"id": "a"}], "has_more": "false", "last_id": "a"}),
], ids=["fal", "anthropic"])
def test_a_has_more_that_is_not_a_boolean_is_named(server, slug, body):
    server.routes[f"/{slug}/models"] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert error.step == "paginate"
    assert "has_more" in error.reason and "'false'" in error.reason and "boolean" in error.reason


HUGE = "x" * 1_000_000


@pytest.mark.parametrize("slug,path,body,named", [
    ("cloudflare-workers-ai", CF_PATH, {"result": [{"name": "@cf/a"}], "result_info": HUGE},
     "result_info is 'xxxxxxxx"),
    ("cloudflare-workers-ai", CF_PATH, {"result": [{"name": "@cf/a"}], "result_info": {"total_count": "9" * 1_000_000}},
     "result_info.total_count is '99999999"),
    ("google", "/google/models", {"models": [{"name": "models/gemini-x"}], "nextPageToken": {"page": HUGE}},
     "nextPageToken is {'page': 'xxxx"),
    ("fal", "/fal/models", {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": [HUGE]}, "has_more is ['xxxxx"),
    ("anthropic", "/anthropic/models", {"data": [{"id": "a"}], "has_more": True, "last_id": [1] * 300_000},
     "last_id is [1, 1, 1"),
    ("google", "/google/models", lambda q: {"models": [{"name": f"models/m-{len(q)}"}], "nextPageToken": "t" * 30_000},
     "nextPageToken 'tttttt"),
], ids=["result-info", "total", "token", "has-more", "last-id", "repeated-token"])
def test_a_page_field_of_any_size_is_quoted_cut_short(server, slug, path, body, named):
    """Quoted whole, a megabyte in a paging field made a megabyte of error, in the run's log, its check's metadata
    and sync_attempts."""
    server.routes[path] = lambda q: as_json(body(q) if callable(body) else body)
    error = fetch_error(slug, server)
    assert (error.provider, error.step) == (slug, "paginate")
    assert named in error.reason and "..." in error.reason and len(error.reason) < 400, error.reason[:500]


# -- 4. every fault is the module's own error, naming provider and URL --------------------------------


def test_a_corrupt_gzip_body_is_retried_then_a_fetch_error(server):
    server.routes["/groq/models"] = lambda q: (
        200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00not-gzip-at-all")
    error = fetch_error("groq", server)
    assert (error.provider, error.step) == ("groq", "fetch")
    assert "DecodingError" in error.reason and f"{server.origin}/groq/models" in error.reason
    assert "2 attempts" in error.reason and len(server.seen) == 2


def _decodable(module: str) -> bool:
    """Whether httpx can decode a coding here (it asks for br with brotli installed, zstd with zstandard)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize("coding", [
    pytest.param("br", marks=pytest.mark.skipif(_decodable("brotli") or _decodable("brotlicffi"), reason="br is read")),
    pytest.param("zstd", marks=pytest.mark.skipif(_decodable("zstandard"), reason="zstd is read")),
    "x-gzip",
    pytest.param("gzip, br", marks=pytest.mark.skipif(_decodable("brotli") or _decodable("brotlicffi"), reason="br is read")),
])
def test_a_body_in_a_compression_the_request_did_not_accept_is_named_not_malformed_json(server, coding):
    """httpx passes a coding it does not ask for through undecoded: a CDN answering "br" anyway failed as
    "malformed JSON ...: 'utf-8' codec can't decode byte 0xf8", which names no compression."""
    body = gzip.compress(b"\x1b\x2c\x00\xf8\xa5\x04") if coding.startswith("gzip") else b"\x1b\x2c\x00\xf8\xa5\x04"
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json", "Content-Encoding": coding}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode", error.reason
    assert f"{server.origin}/groq/models came compressed as {coding.removeprefix('gzip, ')} (Content-Encoding)" in error.reason
    assert "Accept-Encoding: gzip, deflate" in error.reason and "codec" not in error.reason, error.reason


def test_a_gzip_body_that_is_fine_still_decodes(server):
    server.routes["/groq/models"] = lambda q: (
        200, {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(json.dumps(MODELS).encode()))
    with client("groq", server) as c:
        assert c.fetch_records() == MODELS["data"]


@pytest.mark.parametrize("body,what", [
    (b'{"models": [{"name": "models/a", "inputTokenLimit": ' + b"9" * 5000 + b"}]}", "digits"),
    (b'{"models": [{"name": "models/a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}", "nested"),
], ids=["huge-integer", "deep-nesting"])
def test_json_python_cannot_decode_is_a_decode_error_naming_the_url(server, body, what):
    server.routes["/google/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    error = fetch_error("google", server)
    assert (error.provider, error.step) == ("google", "decode")
    assert f"{server.origin}/google/models" in error.reason and "pageSize" not in error.reason  # no query
    assert what in error.reason


@pytest.mark.parametrize("status,headers,body,expected", [
    (204, {}, b"", "an empty body (HTTP 204)"),
    (200, {"Content-Type": "application/json"}, b"  \r\n", "an empty body (HTTP 200)"),
    (200, {"Content-Type": "text/html; charset=utf-8"},
     b"<!DOCTYPE html><html><head><title>Just a moment...</title>", "an HTML or XML page (text/html, HTTP 200)"),
    (200, {}, b"\xef\xbb\xbf<?xml version='1.0'?><Error>AccessDenied</Error>", "an HTML or XML page (no Content-Type"),
], ids=["204", "blank-200", "challenge-page", "xml-error"])
def test_a_body_that_is_not_json_at_all_says_what_it_is(server, status, headers, body, expected):
    """It read "malformed JSON ...: Expecting value: line 1 column 1 (char 0)", which sends an operator looking for
    a broken JSON document rather than a proxy, a bot filter or a bucket policy in the way."""
    server.routes["/groq/models"] = lambda q: (status, headers, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and error.reason.startswith(expected), error.reason
    assert f"{server.origin}/groq/models" in error.reason and "Expecting value" not in error.reason


@pytest.mark.parametrize("content_type,body,quoted", [
    ("text/plain", b"404 page not found\n", '"404 page not found\\n"'),
    ("text/event-stream", b'data: {"id": "a"}\n\ndata: [DONE]\n', '"data: {\\"id\\": \\"a\\"}\\n\\ndata: [DONE]\\n"'),
    ("application/javascript", b'callback({"data": []})', '"callback({\\"data\\": []})"'),
    ("application/json", b")]}'\n{\"data\": []}", '")]}\'\\n{\\"data\\": []}"'),
    ("text/plain", f"Invalid API key: {KEY}".encode(), '"Invalid API key: [redacted]"'),
], ids=["plain-text", "event-stream", "jsonp", "xssi-prefix", "echoed-key"])
def test_a_body_that_is_not_a_json_document_says_so_and_quotes_its_start(server, content_type, body, quoted):
    """"404 page not found" read as "malformed JSON ...: Extra data: line 1 column 5" (its 404 decodes as a number),
    and an event stream, JSONP or an anti-XSSI prefix as "Expecting value: line 1 column 1": a model list is an
    object or an array, and a body that does not start as one is no JSON document to look for a broken comma in."""
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": content_type}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and error.reason == (
        f"a body that is not a JSON document ({content_type}, HTTP 200) from {server.origin}/groq/models where a JSON "
        f"object or array was expected: {quoted}"), error.reason
    assert KEY not in rendered(error) and len(server.seen) == 1


@pytest.mark.parametrize("body,more", [(b'{"id": "a"}\n{"id": "b"}\n', 12), (b'[{"id": "a"}]\n[{"id": "b"}]', 14),
                                       (b'{"data": [{"id": "a"}]}<!-- cached -->', 23)],
                         ids=["json-lines", "two-arrays", "trailing-comment"])
def test_a_body_of_more_than_one_json_document_says_where_the_first_ends(server, body, more):
    """It read "malformed JSON ...: Extra data: line 2 column 1 (char 12)": Python's words for one complete document
    followed by more, as JSON Lines (one record per line) is."""
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/x-ndjson"}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and error.reason == (
        f"malformed JSON from {server.origin}/groq/models: a whole JSON document is followed by more, from offset "
        f"{more} (one document per line, JSON Lines, where one was expected?)"), error.reason


def test_a_body_in_the_charset_its_content_type_declares_is_read_in_it(server):
    """A Latin-1 body labelled `charset=iso-8859-1` is a valid list: it failed as "malformed JSON ...: 'utf-8'
    codec can't decode byte 0xe9", and with it the provider's whole catalog."""
    body = json.dumps({"data": [{"id": "llama-3.1-8b-instant", "owned_by": "Société Générale"}]},
                      ensure_ascii=False).encode("latin-1")
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json; charset=ISO-8859-1"}, body)
    with client("groq", server) as c:
        assert c.fetch_records() == [{"id": "llama-3.1-8b-instant", "owned_by": "Société Générale"}]


def test_utf8_labelled_latin1_is_still_read_as_utf8(server):
    """Servers often label UTF-8 as ISO-8859-1: read in the label's charset, "é" would become "Ã©"."""
    body = json.dumps({"data": [{"id": "llama-3.1-8b-instant", "owned_by": "Société"}]}, ensure_ascii=False).encode()
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json; charset=ISO-8859-1"}, body)
    with client("groq", server) as c:
        assert c.fetch_records()[0]["owned_by"] == "Société"


@pytest.mark.parametrize("content_type,said", [
    ("application/json", "declares no other charset"),
    ("application/json; charset=x-no-such-charset", "charset 'x-no-such-charset', which Python does not know"),
    ("application/json; charset=ascii", "not 'ascii' either, the charset its Content-Type declares (byte 0xe9"),
], ids=["no-charset", "unknown-charset", "wrong-charset"])
def test_a_body_that_is_not_utf8_nor_its_declared_charset_says_which_byte_and_charsets(server, content_type, said):
    """It read "malformed JSON ...: 'utf-8' codec can't decode byte 0xe9 in position 58: invalid continuation
    byte", which sends an operator looking for a broken document rather than a server's encoding."""
    body = '{"data": [{"id": "llama-3.1-8b-instant", "owned_by": "Société"}]}'.encode("latin-1")
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": content_type}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and "codec" not in error.reason
    offset = body.index(b"\xe9")
    assert f"{server.origin}/groq/models is not UTF-8 (byte 0xe9 at offset {offset})" in error.reason, error.reason
    assert said in error.reason, error.reason


def test_a_body_cut_inside_a_character_is_malformed_json_cut_short(server):
    body = '{"data": [{"id": "llama-3.1-8b-instant", "owned_by": "Socié'.encode()[:-1]
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and "malformed JSON" in error.reason and "cut short" in error.reason, error.reason


LIST_BODY = json.dumps({"data": [{"id": f"model-{i}", "active": True, "context_window": 8192 + i}
                                 for i in range(40)]}).encode()
# Where a body cut in transit may end: inside a string, a key, a number, a literal, right after a record.
CUTS = {"string": LIST_BODY.index(b"model-7") + 3, "key": LIST_BODY.index(b"active", 300) + 2,
        "number": LIST_BODY.index(b"8200") + 2, "literal": LIST_BODY.index(b"true", 300) + 2,
        "after-a-record": LIST_BODY.index(b"}", 300) + 1}


@pytest.mark.parametrize("cut", list(CUTS))
def test_a_body_cut_short_without_a_length_to_tell_is_retried_and_named(server, cut):
    """A connection closed early with no Content-Length (or a chunked body's end) to tell is a body cut short, as
    transient as a connection cut mid-body, which is retried: it failed the provider at once as "malformed JSON ...:
    Unterminated string starting at ...", which blames the provider's JSON."""
    answers = iter([(200, {"Content-Type": "application/json", "Connection": "close"}, iter([LIST_BODY[:CUTS[cut]]]))])
    server.routes["/groq/models"] = lambda q: next(answers, None) or (200, {"Content-Type": "application/json"}, LIST_BODY)
    with client("groq", server) as c:
        assert c.fetch_records() == json.loads(LIST_BODY)["data"]
    assert len(server.seen) == 2


def test_a_gzip_body_cut_short_is_retried_then_named_as_cut_short(server):
    """A gzip stream cut at a block's end decompresses without an error (httpx does not check that it ended): the
    JSON it holds was cut short, and read as "malformed JSON" once, not retried as a corrupt gzip body is."""
    compressed = gzip.compress(LIST_BODY)
    cut = zlib_block_end(compressed)
    server.routes["/groq/models"] = lambda q: (
        200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, compressed[:cut])
    error = fetch_error("groq", server)
    assert error.step == "decode" and "malformed JSON" in error.reason, error.reason
    assert f"{server.origin}/groq/models: the body ends before its JSON does" in error.reason, error.reason
    assert "cut short" in error.reason and "gave up after 2 attempts" in error.reason, error.reason
    assert len(server.seen) == 2


def zlib_block_end(compressed: bytes) -> int:
    """A length of `compressed` (a gzip stream) that decompresses without an error to part of its content."""
    import zlib

    for cut in range(len(compressed) // 2, len(compressed)):
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            part = decompressor.decompress(compressed[:cut]) + decompressor.flush()
        except zlib.error:
            continue
        if 0 < len(part) < len(LIST_BODY) - 10:
            return cut
    raise AssertionError("no cut decompresses")


@pytest.mark.parametrize("body", [b'{"data": [{"id": "a"} {"id": "b"}]}', b'{"data": [{"id": "a"}]} {"data": []}',
                                  b'{"data": [{"id": tru}]}'], ids=["missing-comma", "two-documents", "bad-word"])
def test_a_malformed_body_that_closes_what_it_opens_is_not_retried(server, body):
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and "malformed JSON" in error.reason and "cut short" not in error.reason
    assert len(server.seen) == 1


@pytest.mark.parametrize("item", [b"{}", b"[]", b"[{}]"], ids=["objects", "arrays", "both"])
def test_a_body_of_millions_of_objects_is_refused_before_it_is_decoded(server, item):
    """A 58 KB gzip body of 20M empty objects took 1.7 GB and 7 s to decode, in the step every provider shares; 6M
    empty arrays (18 KB of gzip) took 600 MB and were passed on as 6M records."""
    import gzip

    count = 6_000_000 // len(item) * 2
    body = gzip.compress(b'{"data": [' + (item + b",") * count + item + b"]}")
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and "more than 5,000,000 JSON objects and arrays" in error.reason


@pytest.mark.parametrize("item", [b"0", b'""', b"null"], ids=["numbers", "strings", "nulls"])
def test_a_body_of_millions_of_bare_values_is_refused_before_it_is_decoded(server, item):
    """No object or array to count: 20M "0.5" (76 MB) took 765 MB and 4.8 s to decode, and the 512 MB a body may
    hold would take ~5 GB, in the step every provider shares."""
    import gzip

    body = gzip.compress(b'{"data": [' + (item + b",") * 21_000_000 + item + b"]}", compresslevel=1)
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body)
    error = fetch_error("groq", server)
    assert error.step == "decode" and "more than 20,000,000 JSON values" in error.reason, error.reason


@pytest.mark.parametrize("retry_after", ["nan", "inf", "-inf", "-5", "1e400", "NaN"])
def test_a_retry_after_that_is_not_a_finite_wait_falls_back_to_the_backoff(server, retry_after):
    answers = iter([as_json({"error": "slow down"}, 429, **{"Retry-After": retry_after})])
    server.routes["/groq/models"] = lambda q: next(answers, None) or as_json(MODELS)
    sleeps = []
    with client("groq", server, sleep=sleeps.append,
                retry=RetryPolicy(max_attempts=3, backoff_seconds=0.25)) as c:
        assert c.fetch_records() == MODELS["data"]
    assert sleeps == [0.25]


@pytest.mark.parametrize("retry_after", ["0", "0.001", "Sun, 01 Jan 2023 00:00:00 GMT"],
                         ids=["zero", "tiny", "past-date"])
def test_a_retry_after_shorter_than_the_backoff_waits_the_backoff(server, retry_after):
    """A 429 asking for 0 s, or for a date already past, was asked again at once: four requests within 20 ms to a
    provider that had just said it was rate limited."""
    server.routes["/groq/models"] = lambda q: as_json({"error": "slow down"}, 429, **{"Retry-After": retry_after})
    sleeps = []
    fetch_error("groq", server, sleep=sleeps.append, retry=RetryPolicy(max_attempts=4, backoff_seconds=0.25))
    assert sleeps == [0.25, 0.5, 1.0] and len(server.seen) == 4


@pytest.mark.parametrize("retry_after,asked", [("86400", "86,400 s"), (None, "86,(399|400) s"), ("31", "31 s")],
                         ids=["seconds", "http-date", "just-over"])
def test_a_retry_after_longer_than_the_client_waits_is_named_not_retried_early(server, retry_after, asked):
    """Capped at the client's longest wait (30 s) and retried, a provider that asked for a day was asked again
    within the minute, and the run failed at its deadline or after its attempts with a reason that never said
    how long the provider had asked it to wait."""
    import email.utils

    value = retry_after or email.utils.formatdate(time.time() + 86400, usegmt=True)  # a day ahead, to the second
    server.routes["/groq/models"] = lambda q: as_json({"error": "rate limited"}, 429, **{"Retry-After": value})
    sleeps = []
    error = fetch_error("groq", server, sleep=sleeps.append,
                        retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=30))
    assert error.step == "fetch" and f"HTTP 429 from {server.origin}/groq/models" in error.reason, error.reason
    assert re.search(f"asks to be retried after {asked} \\(Retry-After\\), longer than the 30 s", error.reason), error.reason
    assert "the provider says 'rate limited'" in error.reason
    assert sleeps == [] and len(server.seen) == 1


def test_a_retry_after_within_the_clients_wait_is_honoured(server):
    answers = iter([as_json({"error": "slow down"}, 429, **{"Retry-After": "30"})])
    server.routes["/groq/models"] = lambda q: next(answers, None) or as_json(MODELS)
    sleeps = []
    with client("groq", server, sleep=sleeps.append,
                retry=RetryPolicy(max_attempts=3, backoff_seconds=0.01, max_backoff_seconds=30)) as c:
        assert c.fetch_records() == MODELS["data"]
    assert sleeps == [30.0]


# -- 5. the deadline bounds the body too ---------------------------------------------------------------


def test_a_body_that_trickles_in_ends_at_the_deadline(server):
    body = json.dumps(MODELS).encode()  # ~70 bytes at 0.1 s each: ~7 s to arrive whole

    def drip(query):
        return 200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, (
            (time.sleep(0.1), body[i : i + 1])[1] for i in range(len(body)))

    server.routes["/groq/models"] = drip
    started = time.monotonic()
    error = fetch_error("groq", server, deadline_seconds=1.0)
    took = time.monotonic() - started
    assert (error.provider, error.step) == ("groq", "fetch")
    assert "deadline" in error.reason
    assert took < 2.5, f"took {took:.1f} s with a 1 s deadline"


# -- 6. a wrong 200 body says what it was -------------------------------------------------------------


def test_an_error_object_in_a_200_is_quoted(server):
    message = "Invalid API Key " + "x" * 400
    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": message, "type": "invalid_request_error"}})
    error = fetch_error("groq", server)
    assert error.step == "decode"
    assert "Invalid API Key" in error.reason and "NoneType" not in error.reason
    assert len(error.reason) < 400  # the message is quoted, truncated


@pytest.mark.parametrize("slug,path,body,quoted", [
    ("groq", "/groq/models", {**MODELS, "error": {"message": f"partial: shard timed out ({KEY})"}},
     "partial: shard timed out"),
    ("cloudflare-workers-ai", CF_PATH,
     {"success": False, "errors": [{"code": 7000, "message": "internal error"}], "result": [{"name": "@cf/a"}],
      "result_info": {"total_count": 1}}, "internal error"),
    ("cloudflare-workers-ai", CF_PATH,
     {"success": True, "errors": [{"code": 10000, "message": "Authentication error"}], "result": [{"name": "@cf/a"}],
      "result_info": {"total_count": 1}}, "Authentication error"),
    ("cloudflare-workers-ai", CF_PATH,
     {"success": False, "errors": [], "result": [{"name": "@cf/a"}], "result_info": {"total_count": 1}},
     "success: false"),
], ids=["error-beside-data", "cloudflare-success-false", "cloudflare-errors-beside-success", "success-false-alone"])
def test_an_api_error_beside_a_non_empty_list_fails_the_fetch(server, slug, path, body, quoted):
    """Only an empty list used to be checked for an error beside it: a list the provider itself reports an
    error for (a shard that timed out, a failed search) was published as the whole catalog."""
    server.routes[path] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert (error.provider, error.step) == (slug, "fetch")
    assert quoted in error.reason and "a list of" in error.reason
    assert KEY not in rendered(error)


@pytest.mark.parametrize("slug,path,body", [
    ("groq", "/groq/models", {**MODELS, "error": None}),
    ("groq", "/groq/models", {**MODELS, "error": False, "errors": None}),
    ("aihubmix", "/aihubmix/models", {**MODELS, "success": True, "message": ""}),
    ("helicone", "/helicone/models", {"data": {"models": MODELS["data"]}, "error": None}),
    ("cloudflare-workers-ai", CF_PATH,
     {"success": True, "errors": [], "messages": [{"message": "deprecated parameter"}], "result": MODELS["data"],
      "result_info": {"total_count": 2}}),
    # OpenAI-compatible gateways that always send an error object, its fields empty
    ("groq", "/groq/models", {**MODELS, "error": {"message": None, "code": "", "type": None}}),
    ("groq", "/groq/models", {**MODELS, "error": {"message": "", "details": []}, "errors": [None]}),
    # the same words written as strings, as loosely typed servers send them
    ("groq", "/groq/models", {**MODELS, "error": "false"}),
    ("groq", "/groq/models", {**MODELS, "error": " NULL ", "errors": "None"}),
    ("groq", "/groq/models", {**MODELS, "error": {"message": "null", "code": "0"}}),
], ids=["error-null", "error-false", "aihubmix-envelope", "helicone-result", "cloudflare-envelope", "hollow-object",
        "hollow-nested", "error-string-false", "error-string-null", "hollow-object-of-strings"])
def test_an_empty_error_field_beside_the_list_is_no_error(server, slug, path, body):
    server.routes[path] = lambda q: as_json(body)
    with client(slug, server) as c:
        assert [record["id"] for record in c.fetch_records()] == ["llama-3.1-8b-instant", "gemma2-9b-it"]


@pytest.mark.parametrize("slug,body,expected", [
    ("groq", [{"id": "a"}], "got a list"),
    ("groq", {"data": None}, "got null"),
    ("groq", {"models": [{"id": "a"}]}, "'models'"),
    ("together", {"data": [{"id": "a"}]}, "got an object"),
], ids=["bare-list", "null", "other-key", "envelope-for-bare-array"])
def test_a_wrong_shape_says_what_was_received(server, slug, body, expected):
    server.routes[f"/{slug}/models"] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert error.step == "decode"
    assert expected in error.reason and "NoneType" not in error.reason


ENVELOPED = [spec for spec in PROVIDERS if spec.items_key is not None and not spec.static]


@pytest.mark.parametrize("spec", ENVELOPED, ids=lambda spec: spec.slug)
@pytest.mark.parametrize("moved,found", [
    (lambda items: {"object": "list", "data": items}, "an object (keys: 'object', 'data') at {key!r}"),
    (lambda items: json.dumps(items), "a string holding JSON, a list (encoded twice?) at {key!r}"),
], ids=["nested-one-level-deeper", "encoded-twice"])
def test_a_list_moved_one_level_deeper_or_encoded_twice_says_where_it_went(server, spec, moved, found):
    """Both read "expected a list at 'data', got an object at 'data'" (or "a string"): nothing said the list was
    there, one level down or as text."""
    path = f"/{spec.slug}{spec.public_path({env_var: 'acct' for env_var in spec.path_params_env.values()})}"
    items = [{spec.id_key: "models/m-1", "id": "models/m-1"}]
    server.routes[path] = lambda q: as_json(spec.envelope(moved(items), {}))
    error = fetch_error(spec.slug, server)
    assert error.step == "decode"
    assert error.reason == f"expected a list at {spec.items_key!r}, got {found.format(key=spec.items_key)}", error.reason


@pytest.mark.parametrize("body,found", [({"data": [{"id": "a"}]}, "an object (keys: 'data')"),
                                        ('[{"id": "a"}]', "a string holding JSON, a list (encoded twice?)")])
def test_a_bare_array_provider_sent_something_else_says_what(server, body, found):
    server.routes["/together/models"] = lambda q: as_json(body)
    assert fetch_error("together", server).reason == f"expected a top-level array, got {found}"


# -- 7. a key never leaks in any encoding a server or a URL can give it -----------------------------------

import base64  # noqa: E402
from urllib.parse import quote, quote_plus  # noqa: E402

from modelsync_pipeline.resources import ProviderApi  # noqa: E402

# Characters base64 tokens and generated passwords hold, that URLs and JSON encode.
NASTY_KEY = 'sk-NASTY/+=%2F"q\\ 7f3a9c1e5b'
LONG_KEY = "ya29." + "Zq9x" * 520  # OAuth access tokens run to 2,000+ characters


def leaked_forms(secret: str, text: str) -> list[str]:
    """Every form of `secret` that `text` holds: raw, percent-encoded (path and query styles), JSON-escaped,
    base64, or a 24-character start or end of it (what a cut-short quote keeps)."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1],
             base64.b64encode(secret.encode()).decode(), secret[:24], secret[-24:]}
    return sorted(form for form in forms if form in text)


@pytest.mark.parametrize("key", [NASTY_KEY, KEY], ids=["nasty", "plain"])
def test_a_redirect_whose_path_quotes_the_key_does_not_leak_it(server, key):
    server.routes["/groq/models"] = lambda q: (302, {"Location": f"/groq/echo/{quote('Bearer ' + key, safe='')}/models"}, b"")
    error = fetch_error("groq", server, key=key)
    assert error.step == "fetch" and "404" in error.reason
    assert leaked_forms(key, rendered(error)) == []


@pytest.mark.parametrize("offset", [60, 66, 72, 79])
def test_a_page_quoting_the_key_where_its_quote_is_cut_does_not_leak_its_start(server, offset):
    """The start of an HTML page is quoted cut at 80 characters: cut first and redacted after, a key it held across
    the cut no longer matched, and its first characters were shown ("...for API key gsk_SECRE")."""
    start = "<html><body><p>Access denied for API key "
    page = (start.replace("<p>", "<p>" + "x" * (offset - len(start))) + KEY + " from your region</p>").encode()
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "text/html"}, page)
    error = fetch_error("groq", server)
    assert error.step == "decode" and error.reason.startswith("an HTML or XML page (text/html"), error.reason
    assert KEY[:8] not in rendered(error), error.reason


@pytest.mark.parametrize("quoting", [lambda k: quote(k, safe=""), quote, quote_plus, lambda k: json.dumps(k)[1:-1], str],
                         ids=["percent", "percent-path", "plus", "json", "raw"])
def test_an_error_message_that_quotes_the_key_in_any_encoding_does_not_leak_it(server, quoting):
    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": f"Invalid key for /v1/models?api_key={quoting(NASTY_KEY)}"}})
    error = fetch_error("groq", server, key=NASTY_KEY)
    assert "Invalid key" in error.reason
    assert leaked_forms(NASTY_KEY, rendered(error)) == []


def test_an_error_object_without_a_message_holding_the_key_does_not_leak_it(server):
    server.routes["/groq/models"] = lambda q: as_json({"error": {"code": 401, "key": f"Bearer {NASTY_KEY}"}})
    error = fetch_error("groq", server, key=NASTY_KEY)
    assert "401" in error.reason
    assert leaked_forms(NASTY_KEY, rendered(error)) == []


@pytest.mark.parametrize("body", [{"error": {"code": 401, "token": LONG_KEY}}, {LONG_KEY: "unexpected"}],
                         ids=["error-object", "top-level-key"])
def test_a_long_key_cut_short_in_a_quote_does_not_leak_its_start(server, body):
    server.routes["/groq/models"] = lambda q: as_json(body)
    error = fetch_error("groq", server, key=LONG_KEY)
    assert error.step == "decode"
    assert leaked_forms(LONG_KEY, rendered(error)) == []


PASSWORD = "pw-SECRET-0f7e3d9a2c"


def test_a_password_in_a_base_url_override_never_reaches_an_error(server):
    """A base URL with user:password: the password is neither in a next-link message nor in an answer that
    echoes the Basic credential httpx sends for it."""
    spec = PROVIDERS_BY_SLUG["huggingface"]
    base = f"http://ops:{PASSWORD}@{server.origin.removeprefix('http://')}/huggingface"
    server.routes["/huggingface/models"] = lambda q: as_json(
        {"data": [{"id": "a"}]}, Link=f'<{base}/models>; rel="next"')
    with ProviderClient(spec, environ={spec.base_url_env: base}, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert caught.value.step == "paginate"
    assert leaked_forms(PASSWORD, rendered(caught.value)) == [] and "ops:" not in rendered(caught.value)

    server.routes["/huggingface/models"] = lambda q: as_json({"error": {"code": 403, "echo": server.seen[-1][2].get("authorization")}})
    with ProviderClient(spec, environ={spec.base_url_env: base}, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    basic = base64.b64encode(f"ops:{PASSWORD}".encode()).decode()
    assert server.seen[-1][2]["authorization"] == f"Basic {basic}"  # what the server was able to echo
    text = rendered(caught.value)
    assert leaked_forms(PASSWORD, text) == [] and basic not in text


@pytest.mark.parametrize("override", [f"http://ops:{PASSWORD}/x@127.0.0.1:9/cohere", f"http://ops:{PASSWORD}?x@127.0.0.1:9/cohere",
                                      "http://127.0.0.1:notaport/cohere"], ids=["slash", "question-mark", "bad-port"])
def test_a_base_url_override_that_does_not_parse_fails_its_provider_naming_the_variable(override):
    """One provider's unreadable override fails that provider (at `request`, naming the variable), never the
    step that fetches everyone, and its value (a password in it) is shown nowhere."""
    spec = PROVIDERS_BY_SLUG["cohere"]
    environ = {spec.base_url_env: override, spec.auth.env_var: KEY}
    assert PASSWORD not in spec.public_base_url(environ) and "ops" not in spec.public_base_url(environ)
    with pytest.raises(ProviderFetchError) as caught:
        with ProviderClient(spec, environ=environ) as c:
            c.fetch_records()
    assert caught.value.step == "request" and spec.base_url_env in caught.value.reason
    assert leaked_forms(PASSWORD, rendered(caught.value)) == []


def test_the_progress_line_of_an_unreadable_override_names_the_variable(monkeypatch):
    spec = PROVIDERS_BY_SLUG["cohere"]
    monkeypatch.setenv(spec.base_url_env, f"http://ops:{PASSWORD}/x@127.0.0.1:9/cohere")
    shown = ProviderApi(source="live").endpoint(spec)
    assert spec.base_url_env in shown and PASSWORD not in shown


@pytest.mark.parametrize("account,found", [("abc?x=1", "holds '?'"), ("abc#top", "holds '#'"),
                                           ("../../zones", "holds '/'"), ("..", "is '..'")])
def test_a_path_value_that_is_not_one_segment_is_refused_naming_the_variable(server, account, found):
    """CLOUDFLARE_ACCOUNT_ID="abc?x=1" requested /accounts/abc, the account's own endpoint, with the key, and
    "../../zones" another path of the host: each failed later as a 404 or a wrong shape naming neither."""
    spec = PROVIDERS_BY_SLUG["cloudflare-workers-ai"]
    environ = {spec.base_url_env: f"{server.origin}/cf", "CLOUDFLARE_API_TOKEN": KEY, "CLOUDFLARE_ACCOUNT_ID": account}
    with ProviderClient(spec, environ=environ, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert caught.value.step == "request" and server.seen == []
    assert caught.value.reason.startswith(f"environment variable CLOUDFLARE_ACCOUNT_ID {found}: it fills "
                                          "{account_id} in /accounts/{account_id}/ai/models/search"), caught.value.reason


def test_the_progress_line_shows_the_path_really_requested(monkeypatch, server):
    """The line printed "/accounts/{account_id}/ai/models/search", a template no request went to."""
    spec = PROVIDERS_BY_SLUG["cloudflare-workers-ai"]
    monkeypatch.setenv(spec.base_url_env, f"{server.origin}/cf")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "acct-42")
    assert ProviderApi(source="live").endpoint(spec) == f"{server.origin}/cf/accounts/acct-42/ai/models/search"
    server.routes["/cf/accounts/acct-42/ai/models/search"] = lambda q: as_json(
        {"success": True, "result": [], "result_info": {"total_count": 0}})
    with ProviderClient(spec, environ={**os.environ, spec.auth.env_var: KEY}) as c:
        c.fetch_records()  # the same path is the one requested
    assert [path for path, _, _ in server.seen] == ["/cf/accounts/acct-42/ai/models/search"]
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    assert ProviderApi(source="live").endpoint(spec).endswith("/accounts/{account_id}/ai/models/search")


def test_under_replay_the_progress_line_names_the_recorded_file_not_a_url(monkeypatch, tmp_path):
    """Under replay the line printed Cloudflare's ".../accounts/{account_id}/ai/models/search": a URL nothing was
    requested from, with a placeholder an operator took for a bug in the account set-up."""
    spec = PROVIDERS_BY_SLUG["cloudflare-workers-ai"]
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    shown = ProviderApi(source="replay").endpoint(spec)
    assert shown == f"recorded payload modelsync_pipeline/recorded/{spec.recorded}"
    assert ProviderApi(source="replay", replay_dir=str(tmp_path)).endpoint(spec) == \
        f"recorded payload {tmp_path / spec.recorded}"
    static = next(s for s in PROVIDERS_BY_SLUG.values() if s.static)
    assert ProviderApi(source="live").endpoint(static) == f"static file modelsync_pipeline/static/{static.recorded}"


def test_records_that_echo_the_key_are_stored_without_it(server):
    """A record is stored whole as the model's metadata: a provider echoing the caller's key into its records
    (a debug field, an owner) must not put it in the database."""
    server.routes["/groq/models"] = lambda q: as_json({"data": [
        {"id": "llama-3.1-8b-instant", "owned_by": f"Bearer {NASTY_KEY}", "debug": {"auth": [quote(NASTY_KEY)]}},
        {"id": "gemma2-9b-it", "owned_by": "Google"}]})
    with client("groq", server, key=NASTY_KEY) as c:
        records = c.fetch_records()
    assert [r["id"] for r in records] == ["llama-3.1-8b-instant", "gemma2-9b-it"]
    assert leaked_forms(NASTY_KEY, json.dumps(records, ensure_ascii=False)) == []
    assert records[1]["owned_by"] == "Google"


@pytest.mark.parametrize("part", [slice(None, 10), slice(None, 14), slice(None, -1), slice(-10, None),
                                  slice(-20, None), slice(1, None)],
                         ids=["first-ten", "prefix", "all-but-the-last", "last-ten", "suffix", "all-but-the-first"])
@pytest.mark.parametrize("echo", [str, str.upper], ids=["as-sent", "upper"])
def test_records_that_echo_the_start_or_end_of_the_key_are_stored_without_it(server, part, echo):
    """A reason is redacted of any run of FRAGMENT_LENGTH of the key's characters, a record was only of the whole
    key: a provider that put the caller's key hint in a record ("key sk-SECRET-cerebras-Zq7W") had it stored in the
    models table, its history, the cache and the run's metadata."""
    from modelsync_pipeline.providers.http import FRAGMENT_LENGTH

    echoed = echo(KEY[part])
    server.routes["/groq/models"] = lambda q: as_json({"data": [
        {"id": "llama-3.1-8b-instant", "description": f"served for key {echoed}", "hints": [echoed]},
        {"id": "gemma2-9b-it", "owned_by": "Google"}]})
    with client("groq", server) as c:
        records = c.fetch_records()
    assert records[0]["description"] == "served for key [redacted]" and records[0]["hints"] == ["[redacted]"]
    assert records[1] == {"id": "gemma2-9b-it", "owned_by": "Google"}
    stored = json.dumps(records).casefold()
    assert not any(KEY[i:i + FRAGMENT_LENGTH].casefold() in stored for i in range(len(KEY) - FRAGMENT_LENGTH + 1))


def test_a_record_that_shares_a_word_with_the_middle_of_the_key_keeps_it(server):
    """A record is data: only a run that starts or ends the key is a key hint. The fake server's keys
    ("fake-openrouter-key") hold the provider's name, which its own records hold ("openrouter/auto")."""
    server.routes["/openrouter/models"] = lambda q: as_json({"data": [
        {"id": "openrouter/auto", "name": "Auto Router", "description": "https://openrouter.ai/docs"}]})
    with client("openrouter", server, key="fake-openrouter-key") as c:
        records = c.fetch_records()
    assert records == [{"id": "openrouter/auto", "name": "Auto Router", "description": "https://openrouter.ai/docs"}]


@pytest.mark.parametrize("escape", [lambda text: text.replace("/", "\\/"), lambda text: text.replace("+", "\\u002b")],
                         ids=["php-slash", "unicode-escape"])
def test_part_of_the_key_echoed_through_json_escapes_is_stored_without_it(server, escape):
    """A run of the key written with JSON escapes ("AbCd\\/Ef") is no run of what the decoded record holds
    ("AbCd/Ef"): it is looked for in the record's strings."""
    echoed = SLASHED_KEY[:-3]
    body = escape(json.dumps({"data": [{"id": "llama-3.1-8b-instant", "description": f"key {echoed}"},
                                       {"id": "gemma2-9b-it"}]})).encode()
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    with client("groq", server, key=SLASHED_KEY) as c:
        records = c.fetch_records()
    assert records[0]["description"] == "key [redacted]"


def test_a_record_that_echoes_a_key_of_digits_as_a_number_is_stored_without_it(server):
    """The scrub redacted strings only: a key of digits echoed unquoted (`"account": 4815162342108`) stayed."""
    key = "4815162342108"
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, (
        '{"data": [{"id": "llama-3.1-8b-instant", "account": ' + key + ', "context_window": 131072}]}').encode())
    with client("groq", server, key=key) as c:
        records = c.fetch_records()
    assert records == [{"id": "llama-3.1-8b-instant", "account": "[redacted]", "context_window": 131072}]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_records_that_echo_the_key_in_a_utf16_or_utf32_body_are_stored_without_it(server, encoding):
    """json.loads reads UTF-16 and UTF-32 bodies as well as UTF-8, but the scrub looked for the key's UTF-8
    bytes in the body as sent: in a UTF-16 body it found none, and the echoed key reached the stored records."""
    body = json.dumps({"data": [{"id": "llama-3.1-8b-instant", "owned_by": f"Bearer {KEY}"},
                                {"id": "gemma2-9b-it", "owned_by": "Google"}]}).encode(encoding)
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": f"application/json; charset={encoding}"}, body)
    with client("groq", server) as c:
        records = c.fetch_records()
    assert [r["id"] for r in records] == ["llama-3.1-8b-instant", "gemma2-9b-it"]
    assert records[0]["owned_by"] == "Bearer [redacted]" and KEY not in json.dumps(records)


def test_a_key_echoed_with_json_escapes_or_lowercase_percent_still_does_not_leak(server):
    """JSON encoders escape "/" (PHP, Jackson) or "&" (Go), and percent-encoding's hex may be lower case."""
    escaped = json.dumps(f"Bearer {NASTY_KEY}")[1:-1].replace("/", "\\/")
    body = ('{"data": [{"id": "llama-3.1-8b-instant", "owned_by": "' + escaped + '"}, {"id": "gemma2-9b-it"}]}').encode()
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    with client("groq", server, key=NASTY_KEY) as c:
        records = c.fetch_records()
    assert NASTY_KEY not in json.dumps(records, ensure_ascii=False) and records[0]["owned_by"] == "Bearer [redacted]"

    lower = quote(NASTY_KEY, safe="").replace("%2F", "%2f").replace("%2B", "%2b")
    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": f"bad key {lower}"}})
    assert lower not in rendered(fetch_error("groq", server, key=NASTY_KEY))


def test_a_deeply_nested_record_that_echoes_the_key_is_scrubbed_not_a_crash(server):
    """The scrub recursed two frames per level: 500 nested lists beside an echoed key raised an uncaught
    RecursionError, where the decoder itself had followed them (and names a deeper body as a decode error)."""
    nested = "[" * 900 + "]" * 900
    body = ('{"data": [{"id": "llama-3.1-8b-instant", "owned_by": "' + KEY + '", "x": ' + nested + '}, '
            '{"id": "gemma2-9b-it"}]}').encode()
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    with client("groq", server) as c:
        records = c.fetch_records()
    assert [r["id"] for r in records] == ["llama-3.1-8b-instant", "gemma2-9b-it"]
    assert records[0]["owned_by"] == "[redacted]"


SLASHED_KEY = "sk-or-v1-AbCd/Ef+0123456789aBcDeF"  # "/" and "+": percent-encoded as %2F and %2B


def _lower_hex_percent(key: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(key, safe=""))


@pytest.mark.parametrize("key", [SLASHED_KEY, NASTY_KEY], ids=["plain-json", "json-with-escapes"])
@pytest.mark.parametrize("echo", [_lower_hex_percent, str.lower, str.upper], ids=["percent-lower-hex", "lower", "upper"])
def test_records_that_echo_the_key_in_another_case_are_stored_without_it(server, key, echo):
    """Error reasons were redacted in any case, records only as the key or its upper-case percent-encoding is
    written: a key echoed lower-cased ("?key=sk-or-v1-abcd/...") or as "%2f" reached the metadata column."""
    echoed = echo(key)
    server.routes["/groq/models"] = lambda q: as_json({"data": [
        {"id": "llama-3.1-8b-instant", "debug": f"GET /models?key={echoed}", "pricing": {"prompt": f"bad key {echoed}"}},
        {"id": "gemma2-9b-it", "owned_by": "Google"}]})
    with client("groq", server, key=key) as c:
        records = c.fetch_records()
    assert records[0]["debug"] == "GET /models?key=[redacted]"
    assert records[0]["pricing"]["prompt"] == "bad key [redacted]"
    assert echoed.lower() not in json.dumps(records, ensure_ascii=False).lower()


def test_an_overrides_plain_query_values_are_data_and_a_user_alone_is_a_credential(server):
    """An override's api-version=2024-10-21 is no secret (redacting it would rewrite every date in the stored
    records); a token given as the URL's user ("https://sk-...@host", sent as HTTP Basic) is one."""
    spec = PROVIDERS_BY_SLUG["groq"]
    token = "sk-USERONLY-5e1f2a9c"
    base = f"http://{token}@{server.origin.removeprefix('http://')}/groq?api-version=2024-10-21"
    server.routes["/groq/models"] = lambda q: as_json({"data": [
        {"id": "llama-3.1-8b-instant", "created": "2024-10-21", "note": f"seen {token}"}, {"id": "gemma2-9b-it"}]})
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        records = c.fetch_records()
    assert records[0]["created"] == "2024-10-21"
    assert token not in json.dumps(records)
    assert server.seen[-1][0] == "/groq/models" and server.seen[-1][1] == {"api-version": "2024-10-21"}


@pytest.mark.parametrize("name", ["accessToken", "apiToken", "authtoken", "clientSecret", "accesskey"])
def test_an_overrides_credential_named_in_camel_case_or_one_word_is_never_shown_or_stored(server, name):
    """A credential-named query value was one whose name had its word after "_" or "-" (api_key, x-api-key) or
    was "apikey": a proxy's "?accessToken=..." or "?authtoken=..." was sent, and echoed back, in the reason and
    the stored records."""
    spec = PROVIDERS_BY_SLUG["groq"]
    token = "proxy-TOKEN-7d1c9e4b2a"
    base = f"{server.origin}/groq?{name}={token}&api-version=2024-10-21"
    server.routes["/groq/models"] = lambda q: as_json({"data": [
        {"id": "llama-3.1-8b-instant", "created": "2024-10-21", "note": f"via {name}={q.get(name)}"},
        {"id": "gemma2-9b-it"}]})
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        records = c.fetch_records()
    assert server.seen[-1][1] == {name: token, "api-version": "2024-10-21"}  # sent as configured
    assert records[0]["note"] == f"via {name}=[redacted]" and records[0]["created"] == "2024-10-21"

    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": f"{name} {q.get(name)} expired"}}, 401)
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert f"'{name} [redacted] expired'" in str(caught.value) and token not in rendered(caught.value)


@pytest.mark.parametrize("slug,path,body,named", [
    ("cloudflare-workers-ai", CF_PATH, {"success": True, "result": [{"name": "@cf/a"}],
                                        "result_info": {"page": 1, "per_page": 100, "total_count": "300"}},
     "result_info.total_count is '300'"),
    ("cloudflare-workers-ai", CF_PATH, {"success": True, "result": [{"name": "@cf/a"}], "result_info": "page 1 of 3"},
     "result_info is 'page 1 of 3'"),
    ("google", "/google/models", {"models": [{"name": "models/gemini-x"}], "nextPageToken": {"page": 2}},
     "nextPageToken is {'page': 2}"),
    ("fal", "/fal/models", {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": True, "next_cursor": ["Mg"]},
     "next_cursor is ['Mg']"),
    ("anthropic", "/anthropic/models", {"data": [{"id": "a"}], "has_more": True, "last_id": True},
     "last_id is True"),
], ids=["total-as-text", "result-info-as-text", "token-as-object", "cursor-as-list", "last-id-as-boolean"])
def test_a_page_field_of_the_wrong_type_is_named_not_read_as_the_last_page(server, slug, path, body, named):
    """Read as absent, a total sent as text ended Cloudflare's list at a page-size guess, and a cursor sent as
    an object ended the others' lists at their first page: a short catalog with every check passing."""
    server.routes[path] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert (error.provider, error.step) == (slug, "paginate")
    assert named in error.reason, error.reason


# -- 7. what the deadline, the size cap and the status cover beyond the body ---------------------------


class RawServer:
    """A server that writes whatever `answer(connection)` writes, byte by byte if it likes: for faults an
    HTTP library would not let a handler commit (headers trickling in, a redirect hop's slow body)."""

    def __init__(self, answer):
        import socket

        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self.origin = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

        def serve():
            while not self._stop.is_set():
                try:
                    connection, _ = self._listener.accept()
                except OSError:
                    continue
                threading.Thread(target=self._answer, args=(answer, connection), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def _answer(self, answer, connection):
        with connection:
            try:
                connection.recv(65536)  # the request: one small GET
                answer(connection, self._stop)
            except OSError:
                pass  # the client gave up

    def close(self):
        self._stop.set()
        self._listener.close()


def _raw_client(slug, origin, **kwargs):
    spec = PROVIDERS_BY_SLUG[slug]
    environ = {spec.base_url_env: f"{origin}/{slug}", spec.auth.env_var: KEY}
    return ProviderClient(spec, environ=environ, retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01), **kwargs)


def _trickle(connection, stop, data: bytes, every: float = 0.1):
    for i in range(len(data)):
        if stop.is_set():
            return
        connection.sendall(data[i : i + 1])
        time.sleep(every)


BODY = json.dumps(MODELS).encode()
SLOW_ANSWERS = {
    # ~10 s of header bytes: each arrives well within a read timeout, so only a deadline over them all ends it
    "headers": lambda c, stop: _trickle(c, stop, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: "
                                        + b"a" * 100 + b"\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY),
    # a redirect whose own body takes ~10 s: httpx reads it before following
    "redirect-body": lambda c, stop: (c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /groq/v2\r\nContent-Length: 100\r\n\r\n"),
                                      _trickle(c, stop, b"x" * 100)),
    # every hop of a redirect chain answered after 0.6 s, up to httpx's limit of 20
    "redirect-chain": lambda c, stop: (time.sleep(0.6),
                                       c.sendall(b"HTTP/1.1 302 Found\r\nLocation: /groq/again\r\nContent-Length: 0\r\n"
                                                 b"Connection: close\r\n\r\n")),
}


@pytest.mark.parametrize("fault", list(SLOW_ANSWERS))
def test_the_deadline_bounds_headers_and_redirect_hops_too(fault):
    """A response whose headers, or a redirect's body, or a chain of slow hops, trickle in kept the run (and
    every provider's publish, which waits for all fetches) for minutes past a provider's deadline."""
    raw = RawServer(SLOW_ANSWERS[fault])
    try:
        started = time.monotonic()
        with _raw_client("groq", raw.origin, deadline_seconds=1.5) as c:
            with pytest.raises(ProviderFetchError) as caught:
                c.fetch_records()
        took = time.monotonic() - started
    finally:
        raw.close()
    assert (caught.value.step, "1.5 s deadline" in caught.value.reason) == ("fetch", True), caught.value.reason
    assert "body was still arriving" not in caught.value.reason  # what was slow is what it says
    assert took < 4, f"took {took:.1f} s with a 1.5 s deadline"


def test_a_body_too_large_to_be_a_model_list_is_refused_before_it_fills_memory(server):
    """A gzip bomb: ~1 MB on the wire that decompresses to GBs took 2.1 GB of memory; the run's process, and
    every provider in it, would be killed for a few MB more."""
    bomb = gzip.compress(b'{"data": [' + b" " * (8 * 1024 * 1024) + b'{"id": "a"}]}', compresslevel=9)
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, bomb)
    error = fetch_error("groq", server, max_body_bytes=4 * 1024 * 1024)
    assert error.step == "fetch"
    assert "more than 4,194,304 bytes once decompressed" in error.reason and len(bomb) < 64 * 1024


def test_a_redirect_without_a_location_is_a_failure_not_the_catalog(server):
    """A 302 carrying a model list and no Location was staged as the catalog (15 of 16 models, published)."""
    server.routes["/groq/models"] = lambda q: (302, {"Content-Type": "application/json"}, json.dumps(MODELS).encode())
    error = fetch_error("groq", server)
    assert error.step == "fetch"
    assert "HTTP 302" in error.reason and "without a Location" in error.reason


def test_a_not_modified_answer_is_not_called_a_redirect(server):
    """A 304 read "a redirect without a Location to follow": it is no redirect, and this client sends no
    If-None-Match or If-Modified-Since, so a cache in front of the provider answered a question nobody asked."""
    server.routes["/groq/models"] = lambda q: (304, {}, b"")
    error = fetch_error("groq", server)
    assert error.step == "fetch" and "redirect" not in error.reason, error.reason
    assert error.reason.startswith(f"HTTP 304 from {server.origin}/groq/models (Not Modified), though the request "
                                   "was not conditional"), error.reason


@pytest.mark.parametrize("slug,path,body,cause", [
    ("anthropic", "/anthropic/models", {"error": "quota exceeded for this key", "data": [], "has_more": False},
     "quota exceeded for this key"),
    ("groq", "/groq/models", {"error": {"message": "Rate limit reached for org"}, "data": []}, "Rate limit reached"),
    ("cloudflare-workers-ai", CF_PATH, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}],
                                       "result": []}, "Authentication error"),
    ("cloudflare-workers-ai", CF_PATH, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}],
                                       "result": None}, "Authentication error"),
], ids=["error-string", "error-object", "cloudflare-errors", "cloudflare-errors-null-result"])
def test_an_error_beside_an_empty_list_is_the_cause_reported(server, slug, path, body, cause):
    """Reported as "the provider returned an empty model list", the quota or auth message was lost."""
    server.routes[path] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert cause in error.reason, error.reason


def test_a_key_lower_cased_into_a_hostname_is_still_redacted(server):
    """httpx lower-cases a host: a key a server put into a next-page link's host came out lower-cased,
    and a case-sensitive redaction let every character of it through."""
    server.routes["/huggingface/models"] = lambda q: (200, {
        "Content-Type": "application/json", "Link": f"<http://{KEY}.example.net/next>; rel=\"next\""},
        json.dumps({"data": [{"id": "org/model"}]}).encode())
    error = fetch_error("huggingface", server)
    assert error.step == "paginate"
    assert KEY.lower() not in rendered(error).lower()


@pytest.mark.parametrize("body,named", [
    (b'{"data": [{"id": "a", "context_length": 8192, "context_length": 128000}]}',
     "key \"context_length\" is given twice in one object with different values, 8192 and 128000 "
     "(the object whose id is \"a\")"),
    (b'{"data": [{"id": "a"}], "data": [{"id": "b"}]}', "key \"data\" is given twice"),
    (b'{"data": [{"name": "Llama", "id": "x", "id": "y"}]}',
     "key \"id\" is given twice in one object with different values, \"x\" and \"y\" (the object whose name is \"Llama\")"),
    (b'{"data": [{"id": "a", "is_free": 1, "is_free": true}]}', "1 and true"),  # Python's == says equal
], ids=["field", "envelope", "id", "number-and-boolean"])
def test_a_key_given_twice_with_two_values_is_a_decode_error_naming_both(server, body, named):
    """Python's decoder kept the last of two values silently: a provider's "8192 and 128000" became 128000."""
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    error = fetch_error("groq", server)
    assert (error.provider, error.step) == ("groq", "decode")
    assert f"ambiguous JSON from {server.origin}/groq/models" in error.reason and named in error.reason


@pytest.mark.parametrize("same", [b'"owned_by": "x", "owned_by": "x"', b'"price": 1, "price": 1.0',
                                  b'"tags": [1, {"a": null}], "tags": [1, {"a": null}]', b'"x": NaN, "x": NaN'])
def test_a_key_given_twice_with_one_value_is_harmless(server, same):
    body = b'{"data": [{"id": "a", ' + same + b'}, {"id": "b"}]}'
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    with client("groq", server) as c:
        assert [r["id"] for r in c.fetch_records()] == ["a", "b"]


def test_an_ambiguous_key_echoing_the_key_does_not_leak_it(server):
    long_key = KEY + "X" * 80  # longer than the cut: redacted before it is cut short
    body = json.dumps({"data": [{"id": "a", "note": long_key}]}).encode().replace(
        b'"note"', b'"note": "other", "note"')
    server.routes["/groq/models"] = lambda q: (200, {"Content-Type": "application/json"}, body)
    error = fetch_error("groq", server, key=long_key)
    assert error.step == "decode" and "ambiguous JSON" in error.reason
    assert KEY[:12] not in rendered(error)


# -- 8. an error answer says what the provider said about it --------------------------------------------

GOOGLE_BAD_KEY = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                         "domain": "googleapis.com",
                                         "metadata": {"service": "generativelanguage.googleapis.com"}}]}}
OPENAI_BAD_KEY = {"error": {"message": "Incorrect API key provided: sk-abc***************************xyz. You can find "
                                       "your API key at https://platform.openai.com/account/api-keys.",
                            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}


@pytest.mark.parametrize("slug,status,answer,said", [
    ("google", 400, as_json(GOOGLE_BAD_KEY, 400), "API key not valid. Please pass a valid API key."),
    ("openai", 401, as_json(OPENAI_BAD_KEY, 401), OPENAI_BAD_KEY["error"]["message"]),
    ("anthropic", 401, as_json({"type": "error", "error": {"type": "authentication_error",
                                                           "message": "invalid x-api-key"}}, 401), "invalid x-api-key"),
    ("nebius", 404, as_json({"object": "error", "message": "The model list is not served by this deployment",
                             "type": "NotFoundError", "param": None, "code": 404}, 404),
     "The model list is not served by this deployment"),
    ("chutes", 403, as_json({"detail": "Not authenticated"}, 403), "Not authenticated"),
    ("chutes", 422, as_json({"detail": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 100",
                                         "type": "less_than_equal"}]}, 422),
     "query.limit: Input should be less than or equal to 100"),
    ("mistral", 401, as_json({"message": "Unauthorized", "request_id": "c0ffee"}, 401), "Unauthorized"),
    ("groq", 401, (401, {"Content-Type": "text/plain"}, b"Unauthorized: no valid API key in the request\r\n"),
     "Unauthorized: no valid API key in the request"),
    ("google", 400, (400, {"Content-Type": "application/json", "Content-Encoding": "gzip"},
                     gzip.compress(json.dumps(GOOGLE_BAD_KEY).encode())), "API key not valid. Please pass a valid API key."),
    # a first character whose UTF-8 begins with a byte of the BOM (0xEF: "（" is EF BC 88, "ﬁ" EF AC 81) lost it, and
    # with it the whole explanation, to a strip of the BOM's bytes one at a time
    ("alibaba", 403, (403, {"Content-Type": "text/plain; charset=utf-8"}, "（403）账户已欠费，请充值后再试".encode()),
     "（403）账户已欠费，请充值后再试"),
    ("groq", 401, (401, {"Content-Type": "text/plain; charset=utf-8"}, "\ufeff ﬁx your API key".encode()),
     "ﬁx your API key"),
], ids=["google", "openai", "anthropic", "vllm", "fastapi-detail", "fastapi-validation", "top-level-message",
        "plain-text", "gzip", "full-width-first", "bom-then-ligature"])
def test_an_error_answer_quotes_what_the_provider_said(server, slug, status, answer, said):
    """The reason read "HTTP 400 from .../models": Google's "API key not valid" was in the body, never read."""
    path = f"/{slug}/models"
    server.routes[path] = lambda q: answer
    error = fetch_error(slug, server)
    assert (error.provider, error.step) == (slug, "fetch")
    assert error.reason == f"HTTP {status} from {server.origin}{path}: the provider says {said!r}"


HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            b"</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n" + b"<!-- padding -->\r\n" * 40)


@pytest.mark.parametrize("status,headers,body,suffix", [
    (401, {"Content-Type": "application/json"}, b"", ""),
    (401, {"Content-Type": "application/json"}, b'{"status": 401}', ""),  # JSON, but no error it names
    (401, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00not-gzip-at-all", ""),
    (403, {"Content-Type": "text/plain"}, b"Forbidden " * 1000, ""),  # plain text, but a page of it
    (401, {"Content-Type": "application/json"}, b'{"error": {"message": "' + b"x" * 9000 + b'"}}', ""),  # cut at 8 KiB
    (404, {"Content-Type": "text/plain"}, b"bell\x07 and escape\x1b[31m", ""),
    (401, {"Content-Type": "text/html"}, HTML_502, ": an HTML or XML page"),
], ids=["empty", "json-without-error", "broken-gzip", "long-text", "json-past-8-kib", "control-characters", "html"])
def test_an_error_answer_whose_body_says_nothing_readable_is_just_its_status(server, status, headers, body, suffix):
    """A body that cannot be read as an explanation is left out: the status stays the error (not a decoding
    error, not a retry), and a proxy's page or a wall of text is never quoted."""
    server.routes["/groq/models"] = lambda q: (status, headers, body)
    error = fetch_error("groq", server)
    assert (error.step, error.reason) == ("fetch", f"HTTP {status} from {server.origin}/groq/models{suffix}")
    assert len(server.seen) == 1


def test_only_the_first_8_kib_of_an_error_body_are_read():
    """A 401 whose body never ends: the explanation is looked for in its start, and the fetch fails at once."""
    import httpx

    pulled = []

    class Endless(httpx.SyncByteStream):
        def __iter__(self):
            while True:
                pulled.append(1024)
                yield b"x" * 1024

    spec = PROVIDERS_BY_SLUG["groq"]
    transport = httpx.MockTransport(lambda request: httpx.Response(401, stream=Endless()))
    with ProviderClient(spec, transport=transport, environ={spec.auth.env_var: KEY}) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert caught.value.reason == "HTTP 401 from https://api.groq.com/openai/v1/models"
    assert 8 <= sum(pulled) // 1024 <= 9


@pytest.mark.parametrize("status", [401, 503])
def test_an_error_body_that_does_not_arrive_in_time_leaves_the_status_as_the_error(server, status):
    """The body trickles in past the deadline: the error is still the status (for a 503, the deadline's, naming
    the status as the last answer), never "the body was still arriving"."""
    def drip(query):
        return status, {"Content-Type": "application/json", "Content-Length": "200"}, (
            (time.sleep(0.1), b" ")[1] for _ in range(200))

    server.routes["/groq/models"] = drip
    started = time.monotonic()
    error = fetch_error("groq", server, deadline_seconds=1.0)
    assert time.monotonic() - started < 2.5
    url = f"{server.origin}/groq/models"
    assert error.step == "fetch"
    if status == 401:
        assert error.reason == f"HTTP 401 from {url}"
    else:
        assert error.reason == f"no complete answer within its 1 s deadline (1 attempt; last: HTTP 503 from {url})"


def test_a_retried_error_gives_up_with_the_last_thing_the_provider_said(server):
    answers = iter([as_json({"error": {"code": 429, "message": "Quota exceeded for quota metric 'Requests'",
                                       "status": "RESOURCE_EXHAUSTED"}}, 429, **{"Retry-After": "0"}),
                    as_json({"error": {"code": 503, "message": "The service is currently unavailable.",
                                       "status": "UNAVAILABLE"}}, 503)])
    server.routes["/google/models"] = lambda q: next(answers)
    error = fetch_error("google", server)
    assert error.reason == (f"HTTP 503 from {server.origin}/google/models: the provider says "
                            "'The service is currently unavailable.' (gave up after 2 attempts)")


@pytest.mark.parametrize("answer", [
    lambda key: as_json({"error": {"code": 400, "message": f"Invalid API key {key} for /models?key={quote(key, safe='')}"}},
                        400),
    lambda key: (400, {"Content-Type": "text/plain"}, f"Invalid API key {key} for /models?key={quote(key, safe='')}".encode()),
], ids=["json", "plain-text"])
@pytest.mark.parametrize("key", [NASTY_KEY, KEY], ids=["nasty", "plain"])
def test_an_error_body_that_echoes_the_key_is_quoted_without_it(server, answer, key):
    server.routes["/groq/models"] = lambda q: answer(key)
    error = fetch_error("groq", server, key=key)
    assert error.reason == (f"HTTP 400 from {server.origin}/groq/models: the provider says "
                            "'Invalid API key [redacted] for /models?key=[redacted]'")
    assert leaked_forms(key, rendered(error)) == []


@pytest.mark.parametrize("slug,body,said", [
    ("groq", {"object": "error", "message": "Internal server error", "type": "InternalServerError", "code": 500},
     "expected a list at 'data', got an error object: 'Internal server error'"),
    ("groq", {"detail": "Not authenticated"}, "expected a list at 'data', got an error object: 'Not authenticated'"),
    ("together", {"detail": [{"loc": ["header", "authorization"], "msg": "Field required", "type": "missing"}]},
     "expected a top-level array, got an error object: 'header.authorization: Field required'"),
], ids=["vllm", "fastapi", "fastapi-validation-bare-array"])
def test_an_error_in_a_2xx_body_in_the_vllm_or_fastapi_shape_is_quoted(server, slug, body, said):
    server.routes[f"/{slug}/models"] = lambda q: as_json(body)
    error = fetch_error(slug, server)
    assert (error.step, error.reason) == ("decode", said)


@pytest.mark.parametrize("slug,body", [
    ("groq", {**MODELS, "object": "list", "message": "2 models"}),
    ("groq", {**MODELS, "detail": "cached 12 s ago"}),
    ("together", MODELS["data"]),
    ("aihubmix", {**MODELS, "success": True, "message": "ok"}),
], ids=["message-beside-list", "detail-beside-list", "bare-array", "aihubmix-message"])
def test_a_message_or_detail_beside_a_good_list_is_not_an_error(server, slug, body):
    server.routes[f"/{slug}/models"] = lambda q: as_json(body)
    with client(slug, server) as c:
        assert [record["id"] for record in c.fetch_records()] == ["llama-3.1-8b-instant", "gemma2-9b-it"]


def test_an_error_object_beside_a_list_in_the_vllm_shape_fails_the_fetch(server):
    """`"object": "error"` is what a vLLM or OpenAI-compatible server says instead of `"object": "list"`: a list
    beside it is one the server itself calls an error."""
    server.routes["/groq/models"] = lambda q: as_json({**MODELS, "object": "error", "message": "shard 2 timed out"})
    error = fetch_error("groq", server)
    assert (error.step, error.reason) == ("fetch", "a list of 2 records beside an error object: 'shard 2 timed out'")


def test_a_fetch_error_survives_a_copy_and_a_pickle_whole():
    """What a process pool, a queue or copy.copy do with an exception: the provider, step, reason and status
    come back, not a TypeError from rebuilding it out of its message."""
    import copy
    import pickle

    error = ProviderFetchError("groq", "fetch", "HTTP 503 from https://api.groq.com/openai/v1/models", 503)
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert (again.provider, again.step, again.reason, again.status) == ("groq", "fetch", error.reason, 503)
        assert str(again) == str(error)


@pytest.mark.parametrize("pages", [1, 3])
def test_a_list_of_more_records_than_any_provider_lists_is_not_read(server, pages):
    """An answer of 1,400,000 records took 491 s and ~10 GB to check, in the step every provider shares, and was
    published: no provider lists that many models. The list is refused at MAX_RECORDS, on whichever page."""
    per_page = 6 // pages  # 6 records in all, the 6th past the bound of 5
    answers = iter([as_json({"data": [{"id": f"m{p}-{i}"} for i in range(per_page)],
                             "has_more": p < pages - 1, "last_id": f"m{p}-{per_page - 1}"}) for p in range(pages)])
    server.routes["/anthropic/models"] = lambda q: next(answers)
    error = fetch_error("anthropic", server, max_records=5)
    assert error.step == "fetch" and "the list holds more than 5 records" in error.reason, error.reason
    assert f"by page {pages})" in error.reason


# -- which query parameters of an override are credentials ----------------------------------------------------

from modelsync_pipeline.providers.http import base_url_secrets  # noqa: E402

# How real APIs name a credential in a query string, and names beside them that are data.
CREDENTIAL_NAMES = [
    "key", "api_key", "x-api-key", "apiKeyId", "subscription-key", "hapikey",                       # API keys
    "access_token", "accessTokens", "refresh_token", "id_token", "client_secret", "client_assertion",  # OAuth
    "code", "code_verifier",
    "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",                                  # AWS SigV4
    "sig",                                                                                           # Azure SAS
    "Signature", "Key-Pair-Id",                                                                      # CloudFront
    "token", "secret", "signature", "auth", "authorization", "session", "sessionToken", "jwt",
    "password", "passwd", "pwd", "apikey", "accesskey", "authtoken", "clientsecret",
]
DATA_NAMES = [
    "api-version", "encode", "zipcode", "country_code", "countryCode", "monkey", "keyword", "author", "format",
    "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm",                        # AWS, signed
    "sv", "se", "sp", "sr", "client_id", "state", "page", "region",                                 # SAS, OAuth
]


def _spellings(name: str) -> set[str]:
    """`name` as snake, kebab, camel, Pascal and upper case write it: the same words, so the same verdict."""
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", name)]
    return {name, "_".join(words), "-".join(words), words[0] + "".join(w.title() for w in words[1:]),
            "".join(w.title() for w in words), "_".join(words).upper(), "-".join(w.title() for w in words)}


@pytest.mark.parametrize("name,credential", [(n, True) for n in CREDENTIAL_NAMES] + [(n, False) for n in DATA_NAMES])
def test_an_overrides_query_value_is_secret_exactly_when_its_name_is_a_credentials(name, credential):
    """The credential-name pattern ended in a word ("...key", "...code"): it missed apiKeyId, accessTokens,
    session, code_verifier, client_assertion, and took encode, zipcode, country_code and monkey for credentials,
    whose values were then redacted from the stored records. In every spelling of the same words, the same verdict."""
    value = "v-ALUE-9c2e4f7a1b"
    for spelling in _spellings(name):
        found = base_url_secrets(f"https://gw.example.com/v1?{spelling}={value}&api-version=2024-10-21")
        assert (value in found) is credential, (spelling, found)
        assert "2024-10-21" not in found


@pytest.mark.parametrize("name,credential", [("apiKeyId", True), ("session", True), ("encode", False),
                                             ("country_code", False)])
def test_an_overrides_query_value_reaches_records_and_errors_as_its_name_says(server, name, credential):
    """What an operator sees: a credential's value redacted from the records and the reason, data kept."""
    spec = PROVIDERS_BY_SLUG["groq"]
    value = "Q-VALUE-5e8a1c3f7d"
    base = f"{server.origin}/groq?{name}={value}"
    server.routes["/groq/models"] = lambda q: as_json({"data": [{"id": "llama-3.1-8b-instant", "note": f"{name}={q.get(name)}"}]})
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        records = c.fetch_records()
    assert server.seen[-1][1] == {name: value}  # sent as configured
    assert records[0]["note"] == (f"{name}=[redacted]" if credential else f"{name}={value}")
    server.routes["/groq/models"] = lambda q: as_json({"error": {"message": f"{name} {q.get(name)} refused"}}, 401)
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert (value not in rendered(caught.value)) is credential, rendered(caught.value)


# -- a credential in the path of an override ----------------------------------------------------------------

PATH_TOKEN = "gw9TOKEN3f7a1c5e2b8d"
SHORT_PATH_TOKEN = "t0k3n"  # shorter than any redaction anywhere in a text: hidden where it stands as a segment


@pytest.mark.parametrize("path,shown", [
    (f"/v1/{PATH_TOKEN}/groq", "/v1/[redacted]/groq"),
    (f"/key/{PATH_TOKEN}/groq", "/key/[redacted]/groq"),
    (f"/t/{SHORT_PATH_TOKEN}/groq", "/t/[redacted]/groq"),
    ("/token/lowercaseletters/groq", "/token/[redacted]/groq"),      # a word-like token after a credential's name
    ("/gw/sk-proj-AbCd12/groq", "/gw/[redacted]/groq"),
    ("/openai/v1", "/openai/v1"), ("/api/v1beta", "/api/v1beta"),     # a gateway's words and versions are shown
    ("/chat-completions/v2.1", "/chat-completions/v2.1"),
], ids=["token-segment", "after-key", "short-after-t", "word-after-token", "dashed-key", "words", "beta", "dotted"])
def test_an_overrides_path_is_shown_without_any_segment_that_may_be_a_credential(monkeypatch, path, shown):
    """A gateway that takes its credential in the path ("https://gw/v1/<token>/...") had it printed in the
    progress line and stored in providers.base_url: only user:password and the query were taken off."""
    spec = PROVIDERS_BY_SLUG["groq"]
    override = f"https://gw.example.com{path}"
    assert spec.public_base_url({spec.base_url_env: override}) == f"https://gw.example.com{shown}"
    monkeypatch.setenv(spec.base_url_env, override)
    assert ProviderApi(source="live").endpoint(spec) == f"https://gw.example.com{shown}/models"


def test_the_registrys_own_urls_are_shown_as_written():
    """The rule is for overrides only: every provider's own URL (accounts, versions and all) is public."""
    for spec in PROVIDERS:
        assert spec.public_base_url({}) == spec.base_url, spec.slug


@pytest.mark.parametrize("token", [PATH_TOKEN, SHORT_PATH_TOKEN], ids=["long", "short"])
def test_a_token_in_an_overrides_path_never_reaches_an_error_or_a_record(server, token):
    """The URL a reason shows is the one requested, and a provider echoes it (in an error, in a record): the
    path's token was in the reason (so the log, the check's metadata and sync_attempts) and in the stored records."""
    spec = PROVIDERS_BY_SLUG["groq"]
    base = f"{server.origin}/t/{token}/groq"
    server.routes[f"/t/{token}/groq/models"] = lambda q: as_json(
        {"data": [{"id": "llama-3.1-8b-instant", "note": f"served GET /t/{token}/groq/models"}]})
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        records = c.fetch_records()
    assert server.seen[-1][0] == f"/t/{token}/groq/models"  # requested as configured
    if len(token) >= 8:  # a record is data: only a secret of 8+ characters is taken out of it, as a key is
        assert token not in json.dumps(records) and records[0]["note"] == "served GET /t/[redacted]/groq/models"

    server.routes[f"/t/{token}/groq/models"] = lambda q: as_json({"error": {"message": f"no route GET /t/{token}/groq/models"}}, 401)
    with ProviderClient(spec, environ={spec.base_url_env: base, spec.auth.env_var: KEY}) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert caught.value.reason == (f"HTTP 401 from {server.origin}/t/[redacted]/groq/models: the provider says "
                                   "'no route GET /t/[redacted]/groq/models'")
    assert token not in rendered(caught.value)

    dead = f"http://127.0.0.1:9/v1/{token}/groq"  # a connection error names the URL it happened at
    with ProviderClient(spec, environ={spec.base_url_env: dead, spec.auth.env_var: KEY},
                        retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(ProviderFetchError) as caught:
            c.fetch_records()
    assert "http://127.0.0.1:9/v1/[redacted]/groq/models" in caught.value.reason and token not in rendered(caught.value)
