"""The provider HTTP code path: replayed payloads, pagination, retries, errors that name the provider."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from modelsync_pipeline.providers.http import (
    RECORDED_DIR,
    ProviderClient,
    ProviderFetchError,
    ReplayTransport,
    RetryPolicy,
)
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG


def _recorded_items(spec):
    payload = json.loads((RECORDED_DIR / spec.recorded).read_text())
    return payload if isinstance(payload, list) else payload[spec.items_key]


@pytest.mark.parametrize("spec", PROVIDERS, ids=lambda s: s.slug)
def test_replay_returns_every_recorded_record(spec):
    with ProviderClient(spec, transport=ReplayTransport(spec), require_key=False) as client:
        records = client.fetch_records()
    assert records == _recorded_items(spec)


@pytest.mark.parametrize("slug", ["google", "anthropic", "cloudflare-workers-ai"])
def test_pagination_walks_every_page(slug):
    spec = dataclasses.replace(PROVIDERS_BY_SLUG[slug], page_size=4)
    if slug == "cloudflare-workers-ai":
        spec = dataclasses.replace(spec, page_size=1)
    seen = []

    class Counting(ReplayTransport):
        def handle_request(self, request):
            seen.append(str(request.url))
            return super().handle_request(request)

    with ProviderClient(spec, transport=Counting(spec), require_key=False) as client:
        records = client.fetch_records()
    expected = _recorded_items(spec)
    assert [r.get("id") or r.get("name") for r in records] == [r.get("id") or r.get("name") for r in expected]
    assert len(seen) >= max(1, -(-len(expected) // spec.page_size))


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
    with ProviderClient(spec, transport=ReplayTransport(spec, replay_dir), require_key=False) as client:
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
