"""Provider registry, parsers and the one httpx code path that fetches model lists."""

from .registry import PROVIDERS, PROVIDERS_BY_SLUG, Auth, ProviderSpec

__all__ = ["PROVIDERS", "PROVIDERS_BY_SLUG", "Auth", "ProviderSpec"]
