"""A list paged by position that changes while it is read, and page-number paging that cannot tell its end.

Cloudflare pages its model search by number: page N is what sits at places (N-1)*size to N*size when page N is
asked for. A model removed before the place reached moves every later one back and one is never received (the
catalog would then drop it: data loss); one added moves them forward and one comes twice. Each test points the
production `ProviderClient` at a loopback server (`Loopback`, from test_fetch_faults) whose listing the test
changes between two page requests, and asserts what an operator would see: the whole list, or an error naming
what changed and where.
"""

from __future__ import annotations

import json

import pytest

from modelsync_pipeline.providers.registry import PROVIDERS_BY_SLUG

from .test_fetch_faults import CF_PATH, KEY, Loopback, as_json, client, fetch_error, rendered

SLUG = "cloudflare-workers-ai"


@pytest.fixture
def server():
    loopback = Loopback()
    yield loopback
    loopback.close()


class ShiftingSearch:
    """Cloudflare's model search over `names`, which `changes[n]` alters just before the n-th request (counted over
    every read) is answered. `cap`: the most a page holds, whatever `per_page` asks; `total` / `per_page`: whether
    `result_info` states them; `past_end`: the status a page past the last one answers (200: an empty page)."""

    def __init__(self, names, *, total=True, per_page=True, cap=None, past_end=200):
        self.names = list(names)
        self.changes: dict[int, object] = {}
        self.asked: list[tuple[int, int]] = []  # (page, per_page) of each request
        self.total, self.per_page, self.cap, self.past_end = total, per_page, cap, past_end

    def __call__(self, query):
        self.asked.append((int(query.get("page", 1)), int(query.get("per_page", 20))))
        if change := self.changes.get(len(self.asked)):
            change(self.names)
        page, asked = self.asked[-1]
        size = min(asked, self.cap) if self.cap else asked
        chunk = self.names[(page - 1) * size : page * size]
        if not chunk and page > 1 and self.past_end != 200:
            return as_json({"detail": "Invalid page."}, self.past_end)
        info = {"page": page, "count": len(chunk)}
        if self.per_page:
            info["per_page"] = size
        if self.total:
            info["total_count"] = len(self.names)
        return as_json({"success": True, "errors": [], "messages": [], "result": [{"name": n} for n in chunk],
                        "result_info": info})


def _names(count: int, prefix: str = "m") -> list[str]:
    return [f"@cf/{prefix}{i:03d}" for i in range(count)]


def _fetched(server: Loopback) -> list[str]:
    with client(SLUG, server) as c:
        return [record["name"] for record in c.fetch_records()]


def _remove(name):
    return lambda names: names.remove(name)


def _insert(place, name):
    return lambda names: names.insert(place, name)


# -- a change between two pages: read again ----------------------------------------------------------------


def test_a_removal_before_the_place_reached_is_seen_and_the_list_read_again(server):
    """Removed after page 1 was read, @cf/m050 moved @cf/m100 back onto page 1's places: page 2 began at @cf/m101,
    and @cf/m100, still listed, would have been dropped from the catalog. The total fell from 250 to 249."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250))
    search.changes[2] = _remove("@cf/m050")
    assert _fetched(server) == [n for n in _names(250) if n != "@cf/m050"]
    assert search.asked == [(1, 100), (2, 100)] + [(1, 100), (2, 100), (3, 100)]  # read again from page 1


def test_an_insertion_before_the_place_reached_is_seen_and_the_list_read_again(server):
    """Added after page 1 was read, @cf/new pushed @cf/m099 onto page 2, where it came a second time (and @cf/new
    itself was never received)."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250))
    search.changes[2] = _insert(10, "@cf/new")
    names = _names(250)
    assert _fetched(server) == names[:10] + ["@cf/new"] + names[10:]


def test_an_insertion_is_seen_without_a_total_by_the_model_that_comes_twice(server):
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250), total=False)
    search.changes[3] = _insert(0, "@cf/new")
    assert _fetched(server) == ["@cf/new"] + _names(250)


def test_a_removal_after_and_an_insertion_before_the_place_reached_are_seen_by_the_model_that_comes_twice(server):
    """The total stays 250, but the insertion before the place reached pushes @cf/m199 onto page 3 again."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250))
    search.changes[3] = lambda names: (names.remove("@cf/m240"), names.insert(5, "@cf/new"))
    names = [n for n in _names(250) if n != "@cf/m240"]
    assert _fetched(server) == names[:5] + ["@cf/new"] + names[5:]


def test_a_removal_before_and_an_insertion_after_the_place_reached_are_not_seen(server):
    """What a page-number read cannot see, pinned so that it is not taken for covered: between pages 1 and 2,
    @cf/m050 (already read) is removed and @cf/new added at the end. The total stays 250 and no model comes twice,
    but every record from page 2 on moved back one place: @cf/m100 is never received. A page-number API offers
    no request that overlaps the page before, and nothing in the pages differs from a list that never changed;
    only a second whole read (twice the requests, every run) could tell, and this client does not make one. The
    catalog would drop @cf/m100 until the next sync reads it again."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250))
    search.changes[2] = lambda names: (names.remove("@cf/m050"), names.append("@cf/new"))
    fetched = _fetched(server)
    assert "@cf/m100" not in fetched and len(fetched) == 250
    assert len(search.asked) == 3  # read once: nothing was seen


# -- a list that keeps changing: fail, naming what changed ------------------------------------------------


def test_a_list_that_changes_on_every_read_fails_naming_what_changed_and_where(server):
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250))
    for request in (3, 5, 7):  # page 3 of the first read, page 2 of the second and of the third
        search.changes[request] = _remove(search.names[request])
    error = fetch_error(SLUG, server)
    assert (error.provider, error.step) == (SLUG, "paginate")
    assert error.reason == ("the listing changed while it was read: result_info.total_count was 248 on page 1 and "
                            "247 on page 2; read 3 times, from its first page each time"), error.reason
    assert len(search.asked) == 3 + 2 + 2
    assert KEY not in rendered(error)


def test_a_model_that_comes_twice_on_every_read_names_the_model_and_its_pages(server):
    search = server.routes[CF_PATH] = ShiftingSearch(_names(250), total=False)
    for request in (2, 4, 6):  # a new model at the front before page 2 of every read
        search.changes[request] = _insert(0, f"@cf/new{request}")
    error = fetch_error(SLUG, server)
    assert (error.provider, error.step) == (SLUG, "paginate")
    assert "the model '@cf/m097' came on page 1 and again on page 2; read 3 times" in error.reason, error.reason


def test_a_model_listed_on_two_pages_of_an_unchanging_list_is_passed_on_as_listed(server):
    """Not every repeat is a shift: a provider may list one id on two pages (one entry per registration). Two reads
    that agree up to it say the list did not change; the third read passes it on, and the catalog's rules decide
    (an identical record twice is one model), as before this was watched."""
    names = _names(150)
    names[120] = names[3]
    search = server.routes[CF_PATH] = ShiftingSearch(names)
    assert _fetched(server) == names
    assert len(search.asked) == 2 + 2 + 2


def test_a_cursor_list_does_not_treat_a_repeated_id_as_a_shift(server):
    """fal's cursor names the next page by what was read, not by place: a change does not shift it, and an id on
    two pages is the provider's listing, passed on as before (read once)."""
    pages = {None: {"models": [{"endpoint_id": "fal-ai/a"}, {"endpoint_id": "fal-ai/b"}], "next_cursor": "2",
                    "has_more": True},
             "2": {"models": [{"endpoint_id": "fal-ai/b"}, {"endpoint_id": "fal-ai/c"}], "has_more": False}}
    server.routes["/fal/models"] = lambda q: as_json(pages[q.get("cursor")])
    with client("fal", server) as c:
        assert [r["endpoint_id"] for r in c.fetch_records()] == ["fal-ai/a", "fal-ai/b", "fal-ai/b", "fal-ai/c"]
    assert len(server.seen) == 2


# -- a page size the server caps without saying so ------------------------------------------------------------


def test_without_a_total_a_page_capped_short_is_not_taken_for_the_last(server):
    """Asked for 100 a page, the server sends 50 and says neither its page size nor a total: the first 50 were
    published as the whole catalog. The next page is asked for in the size it sent, until one comes back empty."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(120), total=False, per_page=False, cap=50)
    assert _fetched(server) == _names(120)
    assert search.asked == [(1, 100), (2, 50), (3, 50), (4, 50)]


def test_without_a_total_a_short_page_that_states_the_page_size_is_still_followed(server):
    """Cloudflare's recorded first page holds 65 records under a `per_page` of 100 (beside a total of 303): a page
    shorter than the size it states is no proof of the end. Without a total, only an empty page ends the list."""
    names = _names(130)

    def filtered(query):  # 100 places a page, some of them filtered out of the answer
        page = int(query.get("page", 1))
        chunk = names[(page - 1) * 100 : page * 100]
        chunk = chunk[:65] if page == 1 else chunk
        return as_json({"success": True, "result": [{"name": n} for n in chunk],
                        "result_info": {"page": page, "per_page": 100, "count": len(chunk)}})

    server.routes[CF_PATH] = filtered
    assert _fetched(server) == names[:65] + names[100:]


def test_with_a_total_a_page_capped_short_without_saying_so_is_read_to_the_total(server):
    search = server.routes[CF_PATH] = ShiftingSearch(_names(120), per_page=False, cap=50)
    assert _fetched(server) == _names(120)
    assert search.asked == [(1, 100), (2, 100), (3, 100)]


@pytest.mark.parametrize("status", [404, 416])
def test_a_page_past_a_short_one_answered_no_such_page_ends_the_list(server, status):
    """Django REST framework answers a page past the end 404 ("Invalid page."), where Cloudflare answers an empty
    page: after a short page, asked for only to see whether the list goes on, that is its end."""
    search = server.routes[CF_PATH] = ShiftingSearch(_names(120), total=False, per_page=False, cap=50,
                                                     past_end=status)
    assert _fetched(server) == _names(120)
    assert search.asked[-1] == (4, 50)


def test_a_page_past_a_full_one_answered_404_is_still_an_error(server):
    """After a full page the list may go on: a 404 there is a failure, never the end of the catalog."""
    server.routes[CF_PATH] = ShiftingSearch(_names(100), total=False, past_end=404)
    error = fetch_error(SLUG, server)
    assert (error.provider, error.step) == (SLUG, "fetch")
    assert "HTTP 404" in error.reason and "(page 2 of the list; 100 records read before it)" in error.reason



def test_without_a_total_a_short_page_answered_again_for_the_next_is_an_error(server):
    """A server that ignores the page number answers page 2 with page 1 again. After a short first page that cannot
    tell a list of 30 from the first 30 of a list it caps without saying so: a paginate error, not a guess."""
    server.routes[CF_PATH] = lambda q: as_json({"success": True, "result": [{"name": n} for n in _names(30)],
                                               "result_info": {"page": 1, "count": 30}})
    error = fetch_error(SLUG, server)
    assert (error.provider, error.step) == (SLUG, "paginate")
    assert "page 2 repeats the page before it (30 records)" in error.reason, error.reason

# -- through the pipeline ------------------------------------------------------------------------------------


def test_a_provider_whose_list_keeps_changing_fails_and_keeps_its_last_good_catalog(synced, redis_url, replay_dir,
                                                                                    monkeypatch):
    """Cloudflare's search, grown to 250 models, flickers: every second request lists one model fewer. Every read
    sees its total change between two pages, so the provider fails at paginate, naming it, and keeps the catalog of
    the last sync; the others publish in the same run."""
    from modelsync_pipeline.providers import http

    from .pipeline import materialized, provider_failures, sync
    from .test_failures import _shrink
    from .test_pipeline import counts_by_provider, table_rows

    database_url = synced  # a full sync of the recorded payloads (conftest.synced)
    before = table_rows(database_url)
    spec = PROVIDERS_BY_SLUG[SLUG]
    template = http.recorded_items(spec, replay_dir)[0]
    grown = [{**template, "name": name} for name in _names(250)]
    (replay_dir / spec.recorded).write_text(json.dumps(spec.envelope(grown, {})))
    _shrink(replay_dir, "openai", 10)  # a real change elsewhere must still be published
    served = http.serve_page
    requests = []

    def flickering(served_spec, payload, request):
        if served_spec.slug == SLUG:
            requests.append(request.url.params.get("page"))
            if len(requests) % 2 == 0:
                payload = spec.envelope(spec.items_in(payload)[1:], {})
        return served(served_spec, payload, request)

    monkeypatch.setattr(http, "serve_page", flickering)
    result = sync(database_url, redis_url, replay_dir, force=True)
    failures = provider_failures(result)
    asset = spec.asset_name
    assert list(failures) == [asset]
    assert (f"provider '{SLUG}' failed at paginate: the listing changed while it was read: result_info.total_count "
            "was 250 on page 1 and 249 on page 2; read 3 times") in failures[asset], failures[asset]
    assert asset not in materialized(result)
    assert result.success and {"models_table", "models_cache"} <= materialized(result)
    after = table_rows(database_url)
    assert {k: v for k, v in after.items() if k[0] == SLUG} == {k: v for k, v in before.items() if k[0] == SLUG}
    assert counts_by_provider(database_url)["openai"] == 10
