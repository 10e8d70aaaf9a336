"""The provider registry: one `ProviderSpec` per provider, data first.

Adding a provider is one entry here, one parser in `parsers.py`, one recorded payload in
`modelsync_pipeline/recorded/` and one test. Keys never live here: a spec names the environment variable
that holds its key, and `http.ProviderClient` reads it at request time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Literal

from . import parsers

Pagination = Literal["none", "google_page_token", "anthropic_after_id", "cloudflare_page"]


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
    items_key: str | None  # where the list is in the body; None for a bare JSON array
    auth: Auth | None = None
    pagination: Pagination = "none"
    page_size: int = 100
    headers: dict[str, str] = field(default_factory=dict)
    path_params_env: dict[str, str] = field(default_factory=dict)  # {placeholder: env var}
    recorded: str = ""  # payload file in modelsync_pipeline/recorded/
    # A documented drop of records that are not sellable models; None keeps everything.
    keep: Callable[[dict], bool] | None = None
    keep_rule: str = "keep every record"

    @property
    def asset_name(self) -> str:
        return f"{self.slug.replace('-', '_')}_catalog"

    @property
    def base_url_env(self) -> str:
        return f"MODELSYNC_{self.slug.upper().replace('-', '_')}_BASE_URL"

    def resolved_base_url(self, environ: dict[str, str] | None = None) -> str:
        environ = os.environ if environ is None else environ
        return environ.get(self.base_url_env) or self.base_url


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
        keep=lambda record: record.get("active") is not False,
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
        auth=Auth(env_var="GOOGLE_API_KEY", header="x-goog-api-key", prefix=""),
        pagination="google_page_token",
        page_size=50,
        recorded="google-gemini.json",
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
        pagination="anthropic_after_id",
        page_size=100,
        recorded="anthropic.json",
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
    ),
    ProviderSpec(
        slug="cloudflare-workers-ai",
        display_name="Cloudflare Workers AI",
        base_url="https://api.cloudflare.com/client/v4",
        path="/accounts/{account_id}/ai/models/search",
        parse=parsers.parse_cloudflare,
        items_key="result",
        auth=Auth(env_var="CLOUDFLARE_API_TOKEN"),
        pagination="cloudflare_page",
        page_size=100,
        path_params_env={"account_id": "CLOUDFLARE_ACCOUNT_ID"},
        recorded="cloudflare-workers-ai.json",
    ),
)

PROVIDERS_BY_SLUG: dict[str, ProviderSpec] = {spec.slug: spec for spec in PROVIDERS}
