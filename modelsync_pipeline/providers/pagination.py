"""How each provider pages its model list: one definition per style, used by both sides of the wire.

A style says which parameters the first request carries, how the client finds the next page from a
response (`next_page`), and how a server cuts a full list into pages for a request (`serve`). The real
`ProviderClient` uses the first two; `ReplayTransport` and the test tooling's fake provider server use
`serve`, so replayed pagination cannot drift from what the client expects: a style is written once.

A response that holds no list where the provider's belongs is a decode error, except where a style says it is
an empty page of its own (`empty_page`): an answer of nothing but the next token (PageToken: AIP-158; Cursor).

`next_page` is also told how many records the client has received so far, so a style whose responses
state a total keeps asking until it has that many. A style stops only when the response says it is the
last page; when the response says there is more (a total not reached, `has_more`, a cursor) but gives no
way to get it, or says it in a way the style cannot read, it raises `PaginationError` with the reason
(the client turns it into a `ProviderFetchError` at step `paginate`): a truncated catalog is never a
success.

A list paged by position (PageNumber: page N is records (N-1)*size to N*size of the list as it is when page N is
asked for) can change between two page requests: a model removed before the place reached moves every later one
back, and one is never received (then taken as removed from the catalog); one added moves them forward, and one is
received twice. `ListingWatch` sees what a read can see of that (a stated total that differs between its pages, a
model received on two of them) and raises `ListingChanged`; the client reads the list again from its first page.
Not seen: a removal before the place reached and an addition after it, between the same two requests, where the
total is unchanged or not stated (one record moves back past the place, none forward, and no page shows it).
Token and cursor styles are not watched: their next page is the one the server names (Anthropic's by the last id
read), they state no total, and a model on two of their pages is passed on to the catalog's rules as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping
from urllib.parse import urlencode

import httpx

# Values of a body an error quotes are cut short, as a reading problem quotes them (a megabyte in a paging field
# made a megabyte of error in every log and record of it). Safe here: the client hands a style a body already
# scrubbed of the key (http.ProviderClient._pages), so no key is cut short and left unfound.
from .parsers import shown_value


class PaginationError(ValueError):
    """The response does not say where the next page is, in the way this style expects."""


class ListingChanged(Exception):
    """The list changed between two page requests of one read, in a way that moves records across pages (what
    changed, and on which pages). `repeated` is the model id received twice, when that is how it showed, and
    `read` the records received up to the page that showed it: the client tells a listing that changes from a
    provider that lists one id on two pages by reading it again (`ListingWatch`)."""

    def __init__(self, what: str, repeated: str | None = None, read: list | None = None):
        super().__init__(what)
        self.repeated, self.read = repeated, read or []


def _flag(body: Any, name: str) -> bool | None:
    """A boolean field of the body (`has_more`): None when absent, an error when not a boolean, since
    reading "false" as true (or 0 as false) would turn a wrong guess into a short or looping catalog."""
    value = body.get(name) if isinstance(body, dict) else None
    if value is None or isinstance(value, bool):
        return value
    raise PaginationError(f"{name} is {shown_value(value)} ({type(value).__name__}), not a boolean true/false")


def _count(value: Any, name: str) -> int | None:
    """A non-negative whole count from the body (120 or 120.0), or None when absent; an error otherwise, since
    a total the style cannot read would end the list at a guess."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise PaginationError(f"{name} is {shown_value(value)} ({type(value).__name__}), not a count")


def _token(body: Any, name: str, strict: bool = True) -> str | int | None:
    """A page token or cursor from the body: a string or a whole number, None when absent, empty or 0; an
    error for anything else (an object, a list, a boolean), which no next request could carry. Not `strict`
    (a response that should hold the whole list, _more_pages): anything else, and a blank or "0", is None, since
    a field a paging style would refuse must not fail a provider that does not page."""
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return (value or None) if strict else (value if str(value).strip() not in ("", "0") else None)
    if value is None or not strict:
        return None
    raise PaginationError(f"{name} is {shown_value(value)} ({type(value).__name__}), not a page token")


@dataclass(frozen=True)
class Page:
    """What a server answers to one page request: the items, envelope fields beside them, and headers."""

    items: list
    fields: dict
    headers: dict


@dataclass(frozen=True)
class NextPage:
    """Where the client goes next: new query parameters, or an absolute URL the provider handed out.
    `ends_if_missing`: the page is asked for only to see whether the list goes on (the one before it was short),
    so an answer that there is no such page (404, 416) ends the list rather than failing it."""

    params: dict | None = None
    url: str | None = None
    ends_if_missing: bool = False


class _Style:
    """What every style shares unless it says otherwise."""

    # Whether a page is a place in the list (page N of size S) rather than what comes after a token: then a list
    # that changes while it is read shifts records across pages (ListingWatch).
    by_position: ClassVar[bool] = False
    total_field: ClassVar[str] = "the total"

    def empty_page(self, body: Any) -> bool:
        """Whether a body holding no list is a page with no records rather than a wrong answer: never, here."""
        return False

    def stated_total(self, body: Any) -> int | None:
        """How many records the response says the whole list holds, where the style reads one: none, here."""
        return None


def _only_next(body: Any, field: str, beside: tuple[str, ...] = ()) -> bool:
    """Whether `body` is an object holding a non-empty next token in `field` and no field but those `beside`: a
    page of no records that names the next. Serializers that leave an empty list out (proto3's JSON, many
    others) send such a page where a list API filters a page to nothing before the end. Following its token is
    safe: the records still have to arrive on later pages, and a page like this never ends the list. Anything
    else without the list (no token, an empty one, another field) stays a decode error: read as an empty page, it
    would end a catalog on whatever came before it, nothing on a first page. The token's type is checked here,
    not with _token: a wrong type is a decode error, not a page."""
    if not isinstance(body, dict) or field not in body or not set(body) <= {field, *beside}:
        return False
    token = body[field]
    return isinstance(token, (str, int)) and not isinstance(token, bool) and bool(token)


# What a response says about pages beyond it, in the words list APIs use, in its envelope or in an object of it
# (`meta`, `pagination`, `result_info`, `links` ...). A provider that answered its whole list in one response
# and starts paging, or caps a response at N rows, says so in one of these.
_MORE_FLAGS = ("has_more", "hasMore", "has_next", "hasNext", "has_next_page", "hasNextPage", "more")
_NEXT_POINTERS = ("next", "next_cursor", "nextCursor", "next_page", "nextPage", "next_page_token",
                  "nextPageToken", "next_page_url", "nextPageUrl", "next_token", "nextToken")
_TOTALS = ("total", "total_count", "totalCount", "total_items", "totalItems", "total_results", "totalResults")


_YES_WORDS = frozenset({"true", "yes", "1"})
_COUNT_TEXT = re.compile(r"\s*([0-9]{1,18})(?:\.0*)?\s*")  # 18 digits: int() of a longer one costs, and no list holds more


def _says_yes(value: Any) -> bool:
    """Whether a flag of the envelope says yes in a form list APIs write one: true, 1, "true", "True", "yes". Only
    `true` was read: "has_more": "true" (a PHP or a form-encoded API's) ended the list at its first page."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().casefold() in _YES_WORDS


def _stated_count(value: Any) -> int | None:
    """A total of the envelope as list APIs write one: 500, 500.0 (_count) or "500"; None for anything else (a
    boolean, a word, a negative). Only an int was read: "total": "500" beside 100 records was taken for the whole
    list."""
    if isinstance(value, str) and (match := _COUNT_TEXT.fullmatch(value)):
        return int(match.group(1))
    try:
        return _count(value, "total")
    except PaginationError:
        return None


def _more_pages(body: Any, received: int) -> str | None:
    """Where a response that should hold the whole list says there is more than it holds, or None."""
    if not isinstance(body, dict):
        return None
    places = [("", body)] + [(f"{key}.", value) for key, value in body.items() if isinstance(value, dict)]
    for prefix, fields in places:
        for name in _MORE_FLAGS:
            if _says_yes(value := fields.get(name)):
                return f"{prefix}{name} is {'true' if value is True else shown_value(value)}"
        for name in _NEXT_POINTERS:
            if _token(fields, name, strict=False) is not None:
                # Not quoted: a next-page URL may carry a key.
                return f"{prefix}{name} names a next page"
        for name in _TOTALS:
            total = _stated_count(fields.get(name))
            if total is not None and total > received:
                return f"{prefix}{name} is {total}, but the response holds {received} record{'s' if received != 1 else ''}"
    return None


@dataclass(frozen=True)
class NoPagination(_Style):
    """One request returns the whole list. A response that says otherwise (`has_more`, a next cursor or link, a
    total above the records it holds) is a PaginationError naming what it said: the provider pages or caps its
    list now, and taken as the whole list, the models past the first page would be removed from the catalog."""

    page_size: int = 0

    def describe(self) -> str:
        return "none"

    def first_params(self) -> dict:
        return {}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        said = _more_pages(body, received)
        if said is None and next_link(response.headers.get("link")) is not None:
            said = 'its Link header names a rel="next" page'
        if said is not None:
            raise PaginationError(f"the response says there is more than it holds ({said}); this provider's "
                                  "list is read as one response (registry: pagination none), so the models past "
                                  "it would be lost: its paging needs a style in providers/pagination.py")
        return None

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        return Page(items, {}, {})


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise PaginationError(f"query parameter {name}={value!r} is not an integer") from None
    if number < 0:
        raise PaginationError(f"query parameter {name}={value!r} is negative")
    return number


@dataclass(frozen=True)
class PageToken(_Style):
    """An opaque token in the body names the next page (Google, Vertex, Cohere); absent on the last page."""

    size_param: str = "pageSize"
    token_param: str = "pageToken"
    next_field: str = "nextPageToken"
    page_size: int = 50

    def describe(self) -> str:
        return f"`{self.token_param}` / `{self.next_field}`"

    def first_params(self) -> dict:
        return {self.size_param: self.page_size}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        token = _token(body, self.next_field)
        if token is None:
            return None
        if token == params.get(self.token_param):
            raise PaginationError(f"{self.next_field} {shown_value(token)} repeats the token of the page just read")
        return NextPage(params={**params, self.token_param: token})

    def empty_page(self, body: Any) -> bool:
        """`{"nextPageToken": "..."}` alone (_only_next). AIP-158 lets a server answer fewer results than asked,
        none included, anywhere in the list (the first page too), and proto3's JSON leaves an empty list out."""
        return _only_next(body, self.next_field)

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        size = _int_param(query, self.size_param, self.page_size) or self.page_size
        start = _int_param(query, self.token_param, 0)
        fields = {self.next_field: str(start + size)} if start + size < len(items) else {}
        return Page(items[start : start + size], fields, {})


@dataclass(frozen=True)
class AfterId(_Style):
    """Anthropic: `has_more` and `last_id` in the body; the next request asks for ids after `last_id`."""

    limit_param: str = "limit"
    after_param: str = "after_id"
    page_size: int = 100

    def describe(self) -> str:
        return f"`{self.after_param}` / `has_more`"

    def first_params(self) -> dict:
        return {self.limit_param: self.page_size}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        if not _flag(body, "has_more"):
            return None
        last_id = _token(body, "last_id")
        if last_id is None:
            raise PaginationError("has_more is true but last_id is missing")
        if last_id == params.get(self.after_param):
            raise PaginationError(f"last_id {shown_value(last_id)} did not advance")
        return NextPage(params={**params, self.after_param: last_id})

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        size = _int_param(query, self.limit_param, self.page_size) or self.page_size
        start = 0
        if after := query.get(self.after_param):
            ids = [item.get("id") if isinstance(item, dict) else None for item in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        chunk = items[start : start + size]
        first = chunk[0].get("id") if chunk and isinstance(chunk[0], dict) else None
        last = chunk[-1].get("id") if chunk and isinstance(chunk[-1], dict) else None
        return Page(chunk, {"has_more": start + size < len(items), "first_id": first, "last_id": last}, {})


def _result_info(body: Any) -> dict:
    """Cloudflare's `result_info` object ({} when the body has none); PaginationError when it is not an object."""
    info = body.get("result_info") if isinstance(body, dict) else None
    if info is not None and not isinstance(info, dict):
        raise PaginationError(f"result_info is {shown_value(info)} ({type(info).__name__}), not an object")
    return info or {}


@dataclass(frozen=True)
class PageNumber(_Style):
    """Cloudflare: numbered pages; `result_info.total_count` says how many there are in all.

    With a total, the client asks for the next page until it has that many records: a server may send
    fewer than asked per page (it caps `per_page`; Cloudflare's recorded first page holds 65 of a `per_page` of
    100 beside a total of 303), so a short page is not the last one, and an empty page before the total is an
    error, as is a total below the records already received.

    Without a total, only an empty page ends the list, as Cloudflare's TypeScript SDK reads it (its next page is
    always page N+1, so a page that comes back empty is its only end). A short page was taken for the last, and a
    server that caps the page size without saying so (asked for 100, it sends 50 and no `per_page`) had its first
    50 published as the whole catalog. When the first page is that short and states no page size, the next is
    asked for in the size it sent, since a server that caps may count its pages in the size asked for. A page
    asked for after a short one, only to see whether the list goes on, may be answered 404 or 416 (Django REST
    framework answers a page past the end 404): that ends the list too (`NextPage.ends_if_missing`).

    Pages are positions in the list as it is when each is asked for, so a list that changes while it is read
    shifts records across them (`ListingWatch`, `by_position`).
    """

    by_position: ClassVar[bool] = True
    total_field: ClassVar[str] = "result_info.total_count"

    page_param: str = "page"
    size_param: str = "per_page"
    page_size: int = 100

    def describe(self) -> str:
        return f"`{self.page_param}` / `{self.size_param}`"

    def first_params(self) -> dict:
        return {self.size_param: self.page_size, self.page_param: 1}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        number = int(params.get(self.page_param, 1))
        info = _result_info(body)
        total = _count(info.get("total_count"), "result_info.total_count")
        if total is None:
            if not items:
                return None
            stated = _count(info.get("per_page"), "result_info.per_page")
            asked = _int_param({k: str(v) for k, v in params.items()}, self.size_param, self.page_size)
            following = {**params, self.page_param: number + 1}
            if number == 1 and stated is None and 0 < len(items) < asked:
                following[self.size_param] = len(items)
            short = len(items) < (stated or asked)
            return NextPage(params=following, ends_if_missing=short)
        if received > total:
            # A total of 0 beside 100 records: the count is wrong, so it cannot say the list is complete.
            raise PaginationError(f"result_info.total_count {total} is fewer than the {received} records "
                                  f"received up to page {number}")
        if received == total:
            return None
        if not items:
            raise PaginationError(
                f"page {number} was empty but the response says total_count {total}; got {received}"
            )
        return NextPage(params={**params, self.page_param: number + 1})

    def stated_total(self, body: Any) -> int | None:
        """`result_info.total_count`, or None when absent or unreadable (next_page names an unreadable one)."""
        try:
            return _count(_result_info(body).get("total_count"), "result_info.total_count")
        except PaginationError:
            return None

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        size = _int_param(query, self.size_param, self.page_size) or self.page_size
        number = max(1, _int_param(query, self.page_param, 1))
        chunk = items[(number - 1) * size : number * size]
        info = {"page": number, "per_page": size, "count": len(chunk), "total_count": len(items)}
        return Page(chunk, {"success": True, "errors": [], "messages": [], "result_info": info}, {})


@dataclass(frozen=True)
class Cursor(_Style):
    """fal: `next_cursor` and `has_more` in the body; the next request passes the cursor back.

    fal's pages carry both (the recorded first page ends in `"next_cursor": "Mg", "has_more": true`).
    `has_more: false` ends the list; when `has_more` is absent the cursor decides, so a page that names a
    next cursor is followed rather than taken for the last one.
    """

    limit_param: str = "limit"
    cursor_param: str = "cursor"
    next_field: str = "next_cursor"
    page_size: int = 100

    def describe(self) -> str:
        return f"`{self.cursor_param}` / `{self.next_field}`"

    def first_params(self) -> dict:
        return {self.limit_param: self.page_size}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        more = _flag(body, "has_more")
        cursor = _token(body, self.next_field)
        if more is False or (more is None and cursor is None):
            return None
        if cursor is None:
            raise PaginationError(f"has_more is true but {self.next_field} is missing")
        if cursor == params.get(self.cursor_param):
            raise PaginationError(f"{self.next_field} {shown_value(cursor)} did not advance")
        return NextPage(params={**params, self.cursor_param: cursor})

    def empty_page(self, body: Any) -> bool:
        """The cursor alone, or with `has_more: true` (_only_next): the page a server that leaves empty lists out
        sends when a page filters to nothing. With `has_more: false` it would end the list: a decode error."""
        return _only_next(body, self.next_field, ("has_more",)) and body.get("has_more", True) is True

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        size = _int_param(query, self.limit_param, self.page_size) or self.page_size
        start = _int_param(query, self.cursor_param, 0)
        more = start + size < len(items)
        return Page(items[start : start + size], {"next_cursor": str(start + size) if more else None, "has_more": more}, {})


# RFC 8288: link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param ), link-values joined by ",";
# link-param = token BWS [ "=" BWS ( token / quoted-string ) ]. An empty one (a trailing ";") is passed over.
_LINK_TARGET = re.compile(r"[\s,]*<([^>]*)>\s*")
_LINK_PARAM = re.compile(r';\s*(?:([^\s=;,"]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;,"]+)))?\s*)?')
_LINK_END = re.compile(r"[\s,]*\Z")


def _links(header: str) -> list[tuple[str, dict[str, str]]] | None:
    """Each link of a Link header: its target and its parameters (names lower-cased, a quoted value unescaped,
    the first of a repeated name kept, as RFC 8288 says for rel); None when the header is not in that grammar."""
    links, position = [], 0
    while not _LINK_END.match(header, position):
        target = _LINK_TARGET.match(header, position)
        if target is None:
            return None
        params: dict[str, str] = {}
        position = target.end()
        while param := _LINK_PARAM.match(header, position):
            name, quoted, token = param.groups()
            if name is not None:
                value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else token or ""
                params.setdefault(name.lower(), value)
            position = param.end()
        if header[position:position + 1] not in ("", ","):
            return None
        links.append((target.group(1), params))
    return links


def next_link(header: str | None) -> str | None:
    """The `rel="next"` target of an RFC 8288 Link header, or None when it names no next page. Relation types
    and parameter names are compared in any case, and rel may come after other parameters, with spaces around
    "=", or hold several types ("next last"). A header that mentions next but is not in the RFC's grammar is a
    PaginationError: read as no next page, it would end the list at the page just read."""
    if not header:
        return None
    links = _links(header)
    if links is None:
        if "next" in header.casefold():
            # Not quoted: its URLs may carry a key, and a quote cut short would keep part of it.
            raise PaginationError('the Link header mentions next but is not in the form <url>; rel="next" '
                                  f"(RFC 8288; {len(header)} characters, not shown)")
        return None
    for target, params in links:
        if "next" in params.get("rel", "").casefold().split():
            return target
    return None


@dataclass(frozen=True)
class LinkHeader(_Style):
    """Hugging Face: the response's `Link: <url>; rel="next"` header is the next page's full URL."""

    limit_param: str = "limit"
    cursor_param: str = "cursor"
    page_size: int = 1000

    def describe(self) -> str:
        return '`Link: <…>; rel="next"` header'

    def first_params(self) -> dict:
        return {self.limit_param: self.page_size}

    def next_page(self, body: Any, response: httpx.Response, items: list, params: dict,
                  received: int) -> NextPage | None:
        target = next_link(response.headers.get("Link"))
        if not target:
            return None
        try:
            url = response.url.join(target)
        except httpx.InvalidURL as exc:
            raise PaginationError(f"Link rel=next is not a URL ({exc})") from None
        if url == response.url:
            raise PaginationError("Link rel=next points at the page just read "
                                  f"({url.copy_with(query=None, fragment=None, userinfo=b'')})")
        return NextPage(url=str(url))

    def serve(self, items: list, query: Mapping[str, str], url: httpx.URL) -> Page:
        size = _int_param(query, self.limit_param, self.page_size) or self.page_size
        start = _int_param(query, self.cursor_param, 0)
        headers = {}
        if start + size < len(items):
            following = {**query, self.limit_param: str(size), self.cursor_param: str(start + size)}
            headers["Link"] = f'<{url.copy_with(query=urlencode(following).encode())}>; rel="next"'
        return Page(items[start : start + size], {}, headers)


Pagination = NoPagination | PageToken | AfterId | PageNumber | Cursor | LinkHeader


class ListingWatch:
    """What one read of a list paged by position has seen that a later page of it can contradict, because the list
    changed between two page requests (ListingChanged):

    - a total that differs from the one an earlier page stated: a model added or removed anywhere. Seen whatever
      the change's place, so a removal before the place reached (a record moved back past it, never received) is
      seen whenever the provider states its total;
    - a model id on a page that an earlier page held: a model added before the place reached (or one moved
      forward) pushed it across. Seen with or without a total. An id twice on one page is not this: no page
      boundary was crossed, and it is the provider's own listing (one id per registration) for the catalog's rules.

    Not seen: a removal and an addition between the same two requests, one before and one after the place
    reached, with no total or the total unchanged: one record moves back past the place, none forward, and no page
    shows it. A page-number API gives no way to ask for a page that overlaps the last one read (offsets would),
    so nothing here claims to. Styles not paged by position are not watched (`by_position`).
    """

    def __init__(self, style: Any, id_of: Callable[[Any], str | None], allowed: frozenset[str] = frozenset()):
        self._style = style
        self._id_of = id_of
        self._allowed = allowed  # ids the provider lists on two pages of a list that read the same twice
        self._total: tuple[int, int] | None = None  # (the first total stated, its page)
        self._pages_of: dict[str, int] = {}  # model id -> the page it first came on
        self._read: list = []

    def see(self, number: int, body: Any, items: list) -> None:
        """Check page `number` against the pages before it; ListingChanged when they cannot all be one list."""
        if not self._style.by_position:
            return
        total = self._style.stated_total(body)
        if total is not None:
            if self._total is None:
                self._total = (total, number)
            elif total != self._total[0]:
                first, page = self._total
                raise ListingChanged(f"{self._style.total_field} was {first} on page {page} and {total} on page "
                                     f"{number}")
        self._read.extend(items)
        on_this_page: dict[str, int] = {}
        for item in items:
            model_id = self._id_of(item)
            if model_id is None:
                continue
            earlier = self._pages_of.get(model_id)
            if earlier is not None and earlier != number and model_id not in self._allowed:
                raise ListingChanged(f"the model {shown_value(model_id)} came on page {earlier} and again on page "
                                     f"{number}", repeated=model_id, read=list(self._read))
            on_this_page.setdefault(model_id, number)
        self._pages_of.update(on_this_page)
