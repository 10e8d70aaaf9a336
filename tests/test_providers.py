"""The provider HTTP code path: replayed payloads, pagination, retries, errors that name the provider."""

from __future__ import annotations

import dataclasses
import re

import httpx
import pytest

from modelsync_pipeline.providers.http import (
    ProviderClient,
    ProviderFetchError,
    ReplayTransport,
    RetryPolicy,
    recorded_items,
)
from modelsync_pipeline.providers.pagination import AfterId, Cursor, NoPagination, PageToken
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG


def _recorded_items(spec):
    return recorded_items(spec)


@pytest.mark.parametrize("spec", PROVIDERS, ids=lambda s: s.slug)
def test_replay_returns_every_recorded_record(spec):
    with ProviderClient(spec, transport=ReplayTransport(spec), require_key=False) as client:
        records = client.fetch_records()
    assert records == _recorded_items(spec)


PAGINATED = [spec for spec in PROVIDERS if not isinstance(spec.pagination, NoPagination)]


@pytest.mark.parametrize("spec", PAGINATED, ids=lambda s: s.slug)
def test_pagination_walks_every_page(spec):
    """Small pages force several requests; every record arrives once, in order, through the client."""
    expected = _recorded_items(spec)
    size = max(1, len(expected) // 3)
    spec = dataclasses.replace(spec, pagination=dataclasses.replace(spec.pagination, page_size=size))
    seen = []

    class Counting(ReplayTransport):
        def handle_request(self, request):
            seen.append(request.url)
            return super().handle_request(request)

    with ProviderClient(spec, transport=Counting(spec), require_key=False) as client:
        records = client.fetch_records()
    assert records == expected
    assert len(seen) >= -(-len(expected) // size) >= 2 or len(expected) == 1


def test_link_header_pagination_follows_rel_next():
    spec = PROVIDERS_BY_SLUG["huggingface"]
    spec = dataclasses.replace(spec, pagination=dataclasses.replace(spec.pagination, page_size=1))
    links = []

    class Recording(ReplayTransport):
        def handle_request(self, request):
            response = super().handle_request(request)
            links.append(response.headers.get("Link"))
            return response

    with ProviderClient(spec, transport=Recording(spec), require_key=False) as client:
        records = client.fetch_records()
    assert records == _recorded_items(spec)
    assert all('rel="next"' in link for link in links[:-1]) and links[-1] is None


@pytest.mark.parametrize("style", [PageToken(page_size=2), AfterId(page_size=2), Cursor(page_size=2)], ids=lambda s: type(s).__name__)
def test_a_cursor_that_does_not_advance_is_a_paginate_error(style):
    spec = dataclasses.replace(PROVIDERS_BY_SLUG["groq"], pagination=style)
    stuck = {"nextPageToken": "same", "has_more": True, "last_id": "same", "next_cursor": "same"}

    def handler(request):
        return httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}], **stuck})

    with ProviderClient(spec, transport=httpx.MockTransport(handler), environ={"GROQ_API_KEY": "k"}) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert err.value.step == "paginate"


@pytest.mark.parametrize("tokens,named", [
    (["p1", "p2", "p1"], "the next page is one already read; refusing to loop"),
    (["p1", "p1"], "nextPageToken 'p1' repeats the token of the page just read (page 2 of the list; 1 record read "
                   "before it)"),
    ([f"p{i}" for i in range(1, 100)], "more than 20 pages; refusing to go on"),
], ids=["tokens-in-a-cycle", "token-repeated", "endless"])
def test_pages_that_hold_only_a_token_are_still_bound_by_the_loop_guards(monkeypatch, tokens, named):
    """A page of no models but a next token is followed (AIP-158): the guards against a loop still end it."""
    import modelsync_pipeline.providers.http as http

    monkeypatch.setattr(http, "MAX_PAGES", 20)
    spec = PROVIDERS_BY_SLUG["google"]
    answers = iter([{"models": [{"name": "models/a"}], "nextPageToken": tokens[0]},
                    *({"nextPageToken": token} for token in tokens[1:])])
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=next(answers)))
    with ProviderClient(spec, transport=transport, environ={"GOOGLE_API_KEY": "k"}) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert (err.value.step, err.value.reason) == ("paginate", named)


UNPAGED = [spec for spec in PROVIDERS if isinstance(spec.pagination, NoPagination) and not spec.static]
# How list APIs say a response is not the whole list: in the envelope, or in an object of it.
MORE = [({"has_more": True}, "has_more is true"),
        ({"meta": {"hasMore": True}}, "meta.hasMore is true"),
        ({"next_cursor": "c2"}, "next_cursor names a next page"),
        ({"nextPageToken": "p2"}, "nextPageToken names a next page"),
        ({"links": {"next": "https://example.invalid/models?page=2"}}, "links.next names a next page"),
        ({"pagination": {"next_page": 2}}, "pagination.next_page names a next page"),
        ({"total": 100_000}, "total is 100000, but the response holds"),
        ({"result_info": {"total_count": 100_000}}, "result_info.total_count is 100000"),
        # ... also in the forms a PHP or form-encoded API writes them: read only as true and an int, they were not.
        ({"has_more": "true"}, "has_more is 'true'"),
        ({"meta": {"hasMore": 1}}, "meta.hasMore is 1"),
        ({"total": "100000"}, "total is 100000, but the response holds"),
        ({"meta": {"total_count": 100_000.0}}, "meta.total_count is 100000, but the response holds")]
# ... and how they say it is: none of these is more.
WHOLE = [{"has_more": False}, {"next": None}, {"links": {"next": None}}, {"next_cursor": ""}, {"nextPageToken": ""},
         {"pagination": {"next_page": 0}}, {"has_more": "false"}, {"has_more": 0}, {"total": True},
         {"total": "many"}, {"total": "9" * 5000}]


def _one_response(body, headers=None):
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body, headers=headers or {}))


@pytest.mark.parametrize("spec", UNPAGED, ids=lambda s: s.slug)
def test_a_provider_read_in_one_response_refuses_a_response_that_says_there_is_more(spec):
    """Read as one response, a list a provider started paging (or capping at N rows) was published cut short: the
    models past the first page were removed from the catalog, though the response said there was more."""
    items = _recorded_items(spec)
    cases = [(spec.envelope(items, fields), {}, said) for fields, said in MORE if spec.items_key is not None]
    cases.append((spec.envelope(items, {}), {"Link": '<https://example.invalid/models?page=2>; rel="next"'},
                  'Link header names a rel="next" page'))
    for body, headers, said in cases:
        with ProviderClient(spec, transport=_one_response(body, headers), require_key=False) as client:
            with pytest.raises(ProviderFetchError) as err:
                client.fetch_records()
        assert err.value.step == "paginate" and said in err.value.reason, (body if isinstance(body, list) else
                                                                            {k: v for k, v in body.items()})
    totals = {"total": len(items), "count": len(items)}
    for fields in [*WHOLE, totals] if spec.items_key is not None else []:
        with ProviderClient(spec, transport=_one_response(spec.envelope(items, fields)), require_key=False) as client:
            assert client.fetch_records() == items, fields


def _sequence_transport(responses):
    calls = []

    def handler(request):
        calls.append(request)
        return responses[min(len(calls), len(responses)) - 1]

    return httpx.MockTransport(handler), calls


def test_retries_5xx_and_429_honouring_retry_after():
    spec = PROVIDERS_BY_SLUG["groq"]
    ok = httpx.Response(200, json={"data": [{"id": "llama-3.3-70b-versatile"}]})
    transport, calls = _sequence_transport(
        [httpx.Response(503), httpx.Response(429, headers={"Retry-After": "7"}), ok]
    )
    sleeps = []
    with ProviderClient(spec, transport=transport, environ={"GROQ_API_KEY": "sk-test"}, sleep=sleeps.append,
                        retry=RetryPolicy(max_attempts=4, backoff_seconds=0.5)) as client:
        assert client.fetch_records() == [{"id": "llama-3.3-70b-versatile"}]
    assert len(calls) == 3
    assert sleeps == [0.5, 7.0]
    assert calls[0].headers["Authorization"] == "Bearer sk-test"


def test_gives_up_after_bounded_attempts_and_names_the_provider():
    spec = PROVIDERS_BY_SLUG["deepinfra"]
    transport, calls = _sequence_transport([httpx.Response(500)])
    with ProviderClient(spec, transport=transport, environ={"DEEPINFRA_API_KEY": "sk-secret-value"},
                        sleep=lambda s: None, retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert len(calls) == 3
    assert err.value.provider == "deepinfra" and err.value.step == "fetch"
    assert "HTTP 500" in str(err.value) and "3 attempts" in str(err.value)
    assert "sk-secret-value" not in str(err.value)


def test_client_errors_are_not_retried():
    spec = PROVIDERS_BY_SLUG["openai"]
    transport, calls = _sequence_transport([httpx.Response(401)])
    with ProviderClient(spec, transport=transport, environ={"OPENAI_API_KEY": "k"}, sleep=lambda s: None) as client:
        with pytest.raises(ProviderFetchError, match="HTTP 401"):
            client.fetch_records()
    assert len(calls) == 1


def test_malformed_json_is_a_decode_error(replay_dir):
    spec = PROVIDERS_BY_SLUG["groq"]
    (replay_dir / spec.recorded).write_text('{"data": [{"id": "x"},')
    # A body cut short is retried, as a live one may arrive whole next time: no waiting between the attempts here.
    with ProviderClient(spec, transport=ReplayTransport(spec, replay_dir), require_key=False,
                        sleep=lambda seconds: None) as client:
        with pytest.raises(ProviderFetchError) as err:
            client.fetch_records()
    assert (err.value.provider, err.value.step) == ("groq", "decode")
    assert "malformed JSON" in err.value.reason


def test_wrong_envelope_is_a_decode_error():
    spec = PROVIDERS_BY_SLUG["openai"]
    transport, _ = _sequence_transport([httpx.Response(200, json={"error": "quota"})])
    with ProviderClient(spec, transport=transport, environ={"OPENAI_API_KEY": "k"}) as client:
        with pytest.raises(ProviderFetchError, match="expected a list at 'data'"):
            client.fetch_records()


def test_live_mode_without_key_names_the_variable_not_a_value():
    spec = PROVIDERS_BY_SLUG["mistral"]
    with ProviderClient(spec, transport=httpx.MockTransport(lambda r: httpx.Response(200)), environ={}) as client:
        with pytest.raises(ProviderFetchError, match="MISTRAL_API_KEY is not set"):
            client.fetch_records()


def test_base_url_is_overridable_per_provider():
    spec = PROVIDERS_BY_SLUG["cerebras"]
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": []})

    environ = {"MODELSYNC_CEREBRAS_BASE_URL": "http://127.0.0.1:9/v9", "CEREBRAS_API_KEY": "k"}
    with ProviderClient(spec, transport=httpx.MockTransport(handler), environ=environ) as client:
        client.fetch_records()
    assert seen == ["http://127.0.0.1:9/v9/models"]


def test_google_key_travels_in_a_header_not_the_url():
    spec = PROVIDERS_BY_SLUG["google"]
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"models": []})

    with ProviderClient(spec, transport=httpx.MockTransport(handler), environ={"GOOGLE_API_KEY": "g-secret"}) as client:
        client.fetch_records()
    assert "g-secret" not in str(seen[0].url)
    assert seen[0].headers["x-goog-api-key"] == "g-secret"


def test_the_readme_names_every_optional_key_and_no_other():
    """The README called OPENROUTER_API_KEY alone optional; eight more providers' lists answer without a key."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = readme.split("Optional, as their list answers without one (sent when set): ", 1)[1].split(".", 1)[0]
    optional = {spec.auth.env_var for spec in PROVIDERS if spec.auth is not None and not spec.auth.required}
    assert set(re.findall(r"`(\w+)`", listed)) == optional
