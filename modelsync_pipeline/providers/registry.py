"""The provider registry: one `ProviderSpec` per provider, data first.

Adding a provider is one entry here, one parser in `parsers.py`, one recorded payload in
`modelsync_pipeline/recorded/` and one test. Keys never live here: a spec names the environment variable
that holds its key, and `http.ProviderClient` reads it at request time.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit
from dataclasses import dataclass, field
from typing import Any, Callable

from ..urls import hide_path_segments, secret_path_segments
from . import parsers
from .pagination import AfterId, Cursor, LinkHeader, NoPagination, PageNumber, PageToken, Pagination


@dataclass(frozen=True)
class Auth:
    """How a request carries the key: a header (`Bearer ` prefix or none) or a query parameter."""

    env_var: str
    header: str | None = "Authorization"
    prefix: str = "Bearer "
    query_param: str | None = None
    required: bool = True


@dataclass(frozen=True)
class ProviderSpec:
    slug: str
    display_name: str
    base_url: str
    path: str
    parse: parsers.Parser
    items_key: str | None  # where the list is in the body ("data", "data.models"); None for a bare array
    # The record's field its parser reads the model id from: a report of a missing or malformed id names it.
    id_key: str = "id"
    auth: Auth | None = None
    pagination: Pagination = NoPagination()
    headers: dict[str, str] = field(default_factory=dict)
    path_params_env: dict[str, str] = field(default_factory=dict)  # {placeholder: env var}
    recorded: str = ""  # payload file in modelsync_pipeline/recorded/
    # A documented drop of records that are not sellable models; None keeps everything.
    keep: Callable[[dict], bool] | None = None
    keep_rule: str = "keep every record"
    # When a provider lists one id several times (Morpheus: one entry per on-chain registration), the record
    # with the largest value of this field is the model; None leaves duplicates to the checks (blocked).
    duplicates_keep_largest: str | None = None
    # A provider with no list API: its catalog is a file kept in the repo (modelsync_pipeline/static/),
    # served through the same client in every mode; README says how to refresh it.
    static: bool = False
    price_unit: str = "none listed"  # the provider's own price unit, before conversion to USD per 1M
    name_source: str = "derived from id"

    def items_in(self, body: Any) -> Any:
        """The value at `items_key` in a decoded body (the body itself for a bare array); None if absent."""
        if self.items_key is None:
            return body
        for key in self.items_key.split("."):
            if not isinstance(body, dict):
                return None
            body = body.get(key)
        return body

    def envelope(self, items: list, fields: dict) -> Any:
        """A body holding `items` at `items_key`, beside `fields` (the inverse of `items_in`)."""
        if self.items_key is None:
            return items
        *outer, last = self.items_key.split(".")
        body = dict(fields)
        node = body
        for key in outer:
            node[key] = dict(node.get(key) or {}) if isinstance(node.get(key), dict) else {}
            node = node[key]
        node[last] = items
        return body

    @property
    def asset_name(self) -> str:
        return f"{self.slug.replace('-', '_')}_catalog"

    @property
    def base_url_env(self) -> str:
        return f"MODELSYNC_{self.slug.upper().replace('-', '_')}_BASE_URL"

    def resolved_base_url(self, environ: dict[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        return environ.get(self.base_url_env) or self.base_url

    def base_url_problem(self, environ: dict[str, str] | None = None) -> str | None:
        """What makes the base URL (override) unusable, in words that quote nothing of it; None when usable."""
        try:
            parts = urlsplit(self.resolved_base_url(environ))
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            return "its host or port cannot be read: a password holding '/', '?', '#' or '@' must be percent-encoded"
        if parts.scheme not in ("http", "https"):
            return "its scheme is not http or https"
        if not parts.hostname:
            return "it names no host"
        return None

    def public_path(self, environ: dict[str, str] | None = None) -> str:
        """The list path as requested: each placeholder ("{account_id}") filled from its environment variable,
        left as written where that is unset (a live fetch then fails at step `request`, naming it)."""
        environ = os.environ if environ is None else environ
        values = {name: (environ.get(var) or "").strip() or f"{{{name}}}" for name, var in self.path_params_env.items()}
        return self.path.format(**values)

    def public_base_url(self, environ: dict[str, str] | None = None) -> str:
        """The base URL as logs, metadata and `providers.base_url` show it: without user:password, query or
        fragment, and an override's path without the segments that may be a credential
        (urls.secret_path_segments: "https://gw.example.com/v1/<token>/openai"). An override may carry a credential
        in any of them, which nothing stores. (httpx sends a user:password as HTTP Basic auth in `Authorization`,
        replacing a provider key sent in that header; a proxy of its own is better given as HTTPS_PROXY, which
        httpx reads.)"""
        if self.base_url_problem(environ) is not None:
            return f"(unusable {self.base_url_env}, not shown)"
        parts = urlsplit(self.resolved_base_url(environ))
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # IPv6
        netloc = f"{host}:{parts.port}" if parts.port else host
        path = parts.path
        if self.resolved_base_url(environ) != self.base_url:  # the registry's own URL is public
            path = hide_path_segments(path, secret_path_segments(path))
        return urlunsplit((parts.scheme, netloc, path, "", ""))


def _nested(record: dict, *path: str) -> Any:
    """The value at `path` in a record, None where any step is absent or not an object (a filter reads
    whatever the provider sent, a string where an object was documented included)."""
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        slug="openrouter",
        display_name="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        path="/models",
        parse=parsers.parse_openrouter,
        items_key="data",
        auth=Auth(env_var="OPENROUTER_API_KEY", required=False),  # the list is public
        recorded="openrouter.json",
        price_unit="USD per token (strings)",
        name_source="`name` (\"Company: Model (free)\")",
    ),
    ProviderSpec(
        slug="deepinfra",
        display_name="DeepInfra",
        base_url="https://api.deepinfra.com/v1/openai",
        path="/models",
        parse=parsers.parse_deepinfra,
        items_key="data",
        auth=Auth(env_var="DEEPINFRA_API_KEY"),
        recorded="deepinfra.json",
        price_unit="USD per 1M tokens",
    ),
    ProviderSpec(
        slug="cerebras",
        display_name="Cerebras",
        base_url="https://api.cerebras.ai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="CEREBRAS_API_KEY"),
        recorded="cerebras.json",
    ),
    ProviderSpec(
        slug="groq",
        display_name="Groq",
        base_url="https://api.groq.com/openai/v1",
        path="/models",
        parse=parsers.parse_groq,
        items_key="data",
        auth=Auth(env_var="GROQ_API_KEY"),
        recorded="groq.json",
        keep=lambda record: parsers.filter_flag(record, "active") is not False,
        keep_rule="drop records with active == false (Groq lists retired models as inactive)",
    ),
    ProviderSpec(
        slug="nebius",
        display_name="Nebius AI Studio",
        base_url="https://api.tokenfactory.nebius.com/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="NEBIUS_API_KEY"),
        recorded="nebius.json",
    ),
    ProviderSpec(
        slug="google",
        display_name="Google Gemini",
        base_url="https://generativelanguage.googleapis.com/v1beta",
        path="/models",
        parse=parsers.parse_google,
        items_key="models",
        id_key="name",
        auth=Auth(env_var="GOOGLE_API_KEY", header="x-goog-api-key", prefix=""),
        pagination=PageToken(page_size=50),
        recorded="google-gemini.json",
        name_source="`displayName`",
    ),
    ProviderSpec(
        slug="anthropic",
        display_name="Anthropic",
        base_url="https://api.anthropic.com/v1",
        path="/models",
        parse=parsers.parse_anthropic,
        items_key="data",
        auth=Auth(env_var="ANTHROPIC_API_KEY", header="x-api-key", prefix=""),
        headers={"anthropic-version": "2023-06-01"},
        pagination=AfterId(page_size=100),
        recorded="anthropic.json",
        name_source="`display_name`",
    ),
    ProviderSpec(
        slug="openai",
        display_name="OpenAI",
        base_url="https://api.openai.com/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="OPENAI_API_KEY"),
        recorded="openai.json",
    ),
    ProviderSpec(
        slug="mistral",
        display_name="Mistral AI",
        base_url="https://api.mistral.ai/v1",
        path="/models",
        parse=parsers.parse_mistral,
        items_key="data",
        auth=Auth(env_var="MISTRAL_API_KEY"),
        recorded="mistral.json",
        name_source="derived from id (`name` is an id)",
    ),
    ProviderSpec(
        slug="cloudflare-workers-ai",
        display_name="Cloudflare Workers AI",
        base_url="https://api.cloudflare.com/client/v4",
        path="/accounts/{account_id}/ai/models/search",
        parse=parsers.parse_cloudflare,
        items_key="result",
        id_key="name",
        auth=Auth(env_var="CLOUDFLARE_API_TOKEN"),
        pagination=PageNumber(page_size=100),
        path_params_env={"account_id": "CLOUDFLARE_ACCOUNT_ID"},
        recorded="cloudflare-workers-ai_2026-08.json",
        price_unit="USD per 1M tokens (`price` property, per-token units only)",
        name_source="derived from `name` (the `@cf/...` id; never `description`)",
    ),
    ProviderSpec(
        slug="together",
        display_name="Together AI",
        base_url="https://api.together.xyz/v1",
        path="/models",
        parse=parsers.parse_together,
        items_key=None,
        auth=Auth(env_var="TOGETHER_API_KEY"),
        recorded="together.constructed.json",
        price_unit="USD per 1M tokens",
        name_source="`display_name`",
    ),
    ProviderSpec(
        slug="fireworks",
        display_name="Fireworks AI",
        base_url="https://api.fireworks.ai/inference/v1",
        path="/models",
        parse=parsers.parse_fireworks,
        items_key="data",
        auth=Auth(env_var="FIREWORKS_API_KEY"),
        recorded="fireworks.constructed.json",
        name_source="derived from id (`accounts/fireworks/models/<id>`, \"p\" for \".\")",
    ),
    ProviderSpec(
        slug="xai",
        display_name="xAI",
        base_url="https://api.x.ai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="XAI_API_KEY"),
        recorded="xai.json",
    ),
    ProviderSpec(
        slug="huggingface",
        display_name="Hugging Face Inference Providers",
        base_url="https://router.huggingface.co/v1",
        path="/models",
        parse=parsers.parse_huggingface,
        items_key="data",
        auth=Auth(env_var="HF_TOKEN", required=False),  # the router's list is public
        pagination=LinkHeader(page_size=1000),
        recorded="huggingface.json",
        price_unit="USD per 1M tokens (per serving provider; the cheapest live one)",
        name_source="derived from id (last segment)",
    ),
    ProviderSpec(
        slug="featherless",
        display_name="Featherless AI",
        base_url="https://api.featherless.ai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="FEATHERLESS_API_KEY", required=False),
        recorded="featherless.json",
        keep=lambda record: parsers.filter_flag(record, "available_on_current_plan") is not False,
        keep_rule="drop records with available_on_current_plan == false (calling them answers 403)",
        name_source="derived from id (`name` repeats the id)",
    ),
    ProviderSpec(
        slug="novita",
        display_name="Novita AI",
        base_url="https://api.novita.ai/v3/openai",
        path="/models",
        parse=parsers.parse_novita,
        items_key="data",
        auth=Auth(env_var="NOVITA_API_KEY"),
        recorded="novita.json",
        price_unit="0.0001 USD per 1M tokens (`input_token_price_per_m`)",
        name_source="derived from id (`title` repeats the id)",
    ),
    ProviderSpec(
        slug="zai",
        display_name="Z.ai",
        base_url="https://api.z.ai/api/paas/v4",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="ZAI_API_KEY"),
        recorded="zai.constructed.json",
    ),
    ProviderSpec(
        slug="chutes",
        display_name="Chutes",
        base_url="https://llm.chutes.ai/v1",
        path="/models",
        parse=parsers.parse_chutes,
        items_key="data",
        auth=Auth(env_var="CHUTES_API_KEY", required=False),
        recorded="chutes.json",
        price_unit="USD per 1M tokens (`price.usd`, one rate for input and output)",
    ),
    ProviderSpec(
        slug="fal",
        display_name="fal",
        base_url="https://api.fal.ai/v1",
        path="/models",
        parse=parsers.parse_fal,
        items_key="models",
        id_key="endpoint_id",
        auth=Auth(env_var="FAL_KEY", prefix="Key "),
        pagination=Cursor(page_size=100),
        recorded="fal.json",
        keep=lambda record: parsers.label(_nested(record, "metadata", "category"), "") != "training",
        keep_rule="drop records whose metadata.category is training (fine-tuning jobs, not models)",
        name_source="`metadata.display_name`",
    ),
    ProviderSpec(
        slug="vercel-ai-gateway",
        display_name="Vercel AI Gateway",
        base_url="https://ai-gateway.vercel.sh/v1",
        path="/models",
        parse=parsers.parse_vercel,
        items_key="data",
        auth=Auth(env_var="AI_GATEWAY_API_KEY", required=False),  # the list is public
        recorded="vercel-ai-gateway.constructed.json",
        price_unit="USD per token (strings)",
        name_source="`name`",
    ),
    ProviderSpec(
        slug="helicone",
        display_name="Helicone",
        base_url="https://jawn.helicone.ai/v1/public/model-registry",
        path="/models",
        parse=parsers.parse_helicone,
        items_key="data.models",
        recorded="helicone.constructed.json",
        name_source="`name`",
    ),
    ProviderSpec(
        slug="alibaba",
        display_name="Alibaba Cloud Model Studio",
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="DASHSCOPE_API_KEY"),
        recorded="alibaba.constructed.json",
    ),
    ProviderSpec(
        slug="clarifai",
        display_name="Clarifai",
        base_url="https://api.clarifai.com/v2/ext/openai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="CLARIFAI_PAT"),
        recorded="clarifai.json",
        name_source="derived from id (`<user>/<app>/models/<model>`)",
    ),
    ProviderSpec(
        slug="aihubmix",
        display_name="AIHubMix",
        base_url="https://aihubmix.com/api/v1",
        path="/models",
        parse=parsers.parse_aihubmix,
        items_key="data",
        id_key="model_id",
        auth=Auth(env_var="AIHUBMIX_API_KEY", required=False),  # the priced list is public
        recorded="aihubmix.json",
        price_unit="USD per 1M tokens (docs say per 1K; the values are per 1M)",
        name_source="derived from `model_id`",
    ),
    ProviderSpec(
        slug="google-vertex",
        display_name="Google Vertex AI",
        base_url="https://us-central1-aiplatform.googleapis.com/v1beta1",
        path="/publishers/google/models",
        parse=parsers.parse_google_vertex,
        items_key="publisherModels",
        id_key="name",
        auth=Auth(env_var="GOOGLE_VERTEX_ACCESS_TOKEN"),
        pagination=PageToken(page_size=100),
        recorded="google-vertex.constructed.json",
        name_source="derived from `name` (`publishers/google/models/<id>`)",
    ),
    ProviderSpec(
        slug="cohere",
        display_name="Cohere",
        base_url="https://api.cohere.com/v1",
        path="/models",
        parse=parsers.parse_cohere,
        items_key="models",
        id_key="name",
        auth=Auth(env_var="CO_API_KEY"),
        pagination=PageToken(size_param="page_size", token_param="page_token", next_field="next_page_token",
                             page_size=100),
        recorded="cohere.constructed.json",
        name_source="derived from `name` (an id)",
    ),
    ProviderSpec(
        slug="near",
        display_name="NEAR AI Cloud",
        base_url="https://cloud-api.near.ai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="NEARAI_API_KEY"),
        recorded="near.constructed.json",
    ),
    ProviderSpec(
        slug="sybil",
        display_name="Sybil",
        base_url="https://api.sybil.com/v1",
        path="/models",
        parse=parsers.parse_sybil,
        items_key="data",
        auth=Auth(env_var="SYBIL_API_KEY", required=False),
        recorded="sybil.json",
        price_unit="USD per token (strings)",
        name_source="`name` (\"Company: Model\"), else derived from id",
    ),
    ProviderSpec(
        slug="onerouter",
        display_name="OneRouter",
        base_url="https://llm.onerouter.pro/v1",
        path="/models",
        parse=parsers.parse_onerouter,
        items_key="data",
        auth=Auth(env_var="ONEROUTER_API_KEY", required=False),  # the catalog answers without a key
        recorded="onerouter.json",
        keep=lambda record: parsers.filter_flag(record, "is_display_only") is not True
        and parsers.label(record.get("category_type"), "llm") == "llm",
        keep_rule="drop is_display_only records and category_type other than LLM",
        price_unit="USD per 1M tokens (`min_prompt_price`, the lowest across upstreams)",
        name_source="`display_name`, else derived from id (`model@version`)",
    ),
    ProviderSpec(
        slug="anannas",
        display_name="Anannas AI",
        base_url="https://api.anannas.ai/v1",
        path="/models",
        parse=parsers.parse_per_token_prices,
        items_key="data",
        auth=Auth(env_var="ANANNAS_API_KEY"),
        recorded="anannas.json",
        price_unit="USD per token (strings)",
        name_source="`name`, else derived from id",
    ),
    ProviderSpec(
        slug="morpheus",
        display_name="Morpheus",
        base_url="https://api.mor.org/api/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="MORPHEUS_API_KEY", required=False),
        recorded="morpheus.json",
        # The API writes UNKNOWN for a registration that gave no type (its default): not known to be anything
        # else, so kept, as a record without the field is.
        keep=lambda record: parsers.label(record.get("modelType"), "llm") in ("llm", "unknown"),
        keep_rule="drop records whose modelType names another kind than LLM (UNKNOWN is kept); an id registered "
                  "twice keeps its newest registration",
        duplicates_keep_largest="created",
    ),
    ProviderSpec(
        slug="canopywave",
        display_name="CanopyWave",
        base_url="https://inference.canopywave.io/v1",
        path="/models",
        parse=parsers.parse_per_mtok_fields,
        items_key="data",
        auth=Auth(env_var="CANOPYWAVE_API_KEY"),
        recorded="canopywave.json",
        price_unit="USD per 1M tokens (`input_token_price_per_m`)",
        name_source="`display_name`, else derived from id",
    ),
    ProviderSpec(
        slug="simplismart",
        display_name="Simplismart",
        base_url="https://api.simplismart.live/v1",
        path="/models",
        parse=parsers.parse_static,
        items_key="data",
        recorded="simplismart.json",
        static=True,
        price_unit="USD per token (strings, in the static file)",
        name_source="`name` (static catalog file)",
    ),
    ProviderSpec(
        slug="cloudflare-ai-gateway",
        display_name="Cloudflare AI Gateway",
        base_url="https://gateway.ai.cloudflare.com/v1",
        path="/{account_id}/{gateway_id}/compat/models",
        parse=parsers.parse_cloudflare_ai_gateway,
        items_key="data",
        auth=Auth(env_var="CLOUDFLARE_API_TOKEN"),
        path_params_env={"account_id": "CLOUDFLARE_ACCOUNT_ID", "gateway_id": "CLOUDFLARE_GATEWAY_ID"},
        recorded="cloudflare-ai-gateway.json",
        price_unit="USD per token (`cost_in`/`cost_out`; 0/0 means not priced)",
    ),
    ProviderSpec(
        slug="deepseek",
        display_name="DeepSeek",
        base_url="https://api.deepseek.com",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="DEEPSEEK_API_KEY"),
        recorded="deepseek.json",
    ),
    ProviderSpec(
        slug="sambanova",
        display_name="SambaNova Cloud",
        base_url="https://api.sambanova.ai/v1",
        path="/models",
        parse=parsers.parse_per_token_prices,
        items_key="data",
        auth=Auth(env_var="SAMBANOVA_API_KEY"),
        recorded="sambanova.json",
        price_unit="USD per token (`pricing.prompt`/`completion`)",
    ),
    ProviderSpec(
        slug="moonshotai",
        display_name="Moonshot AI",
        base_url="https://api.moonshot.ai/v1",
        path="/models",
        parse=parsers.parse_openai_compatible,
        items_key="data",
        auth=Auth(env_var="MOONSHOT_API_KEY"),
        recorded="moonshotai.json",
    ),
)


PROVIDERS_BY_SLUG: dict[str, ProviderSpec] = {spec.slug: spec for spec in PROVIDERS}
