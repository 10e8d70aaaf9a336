"""`models_cache`: the models table fanned out to Redis. It reads only the database, never a provider API."""

import dagster as dg
import psycopg
from pydantic import Field

from .. import cache, interrupts
from ..resources import PostgresResource, RedisResource
from .catalog import GROUP, models_table
from .provider_catalogs import OWNERS


class CacheConfig(dg.Config):
    rewrite: bool = Field(default=False, description="write a new version even when the live one already holds "
                                                      "the table (it is checked either way, and rewritten if it fails)")


def _tls_hint(url: str, exc: BaseException) -> str:
    """What a timeout through rediss:// most likely means: a server that speaks no TLS leaves the handshake
    unanswered, and the client says only "Timeout connecting to server" after its connect timeout."""
    import redis

    if url.casefold().startswith("rediss://") and isinstance(exc, redis.exceptions.TimeoutError):
        return " (the URL asks for TLS, rediss://: a server without TLS never answers the handshake; redis:// if so)"
    return ""


@dg.asset(
    group_name=GROUP,
    kinds={"redis"},
    owners=OWNERS,
    deps=[models_table],
    # The fan-out: whenever models_table is materialized without it (e.g. selected alone in the UI),
    # the `cache_fan_out` automation sensor (run by the daemon of `make ui`) republishes the cache.
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "The models table fanned out to Redis as a new version (whole catalog, per model, by provider and "
        "by modality), checked against the table snapshot it was read from, then switched in one atomic "
        "step; a table the live version already holds (checked again) is not rewritten. Reads only the "
        "database, never a provider API."
    ),
)

def models_cache(context: dg.AssetExecutionContext, config: CacheConfig, postgres: PostgresResource,
                 redis: RedisResource) -> dg.MaterializeResult:
    interrupts.refuse_after_stop("models_cache")
    try:
        client = redis.client()
    except ValueError as exc:  # cache.client_from_url's: the URL named redacted
        raise dg.Failure(description=f"{exc}. Nothing was published; readers keep the previous cache version.") from None
    try:
        with postgres.connect() as conn:
            published = cache.publish_cache(conn, client, context.run.run_id, redis.previous_version_ttl_seconds,
                                            unless_unchanged=not config.rewrite, reconnect=postgres.connect,
                                            log=context.log.warning)
    except cache.REDIS_ERRORS as exc:
        from ..urls import redact_url

        # Which server: a URL pointing at something that is not Redis (PostgreSQL's port, an HTTP server)
        # fails with words about a protocol or a closed connection that name neither. An error reply the
        # publish translated (cache._refusal) names the server, the step and what to do already.
        said = (str(exc).rstrip(".") if getattr(exc, "publish_step", None) else
                f"Redis at {redact_url(redis.redis_url)} failed while publishing the cache: "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}" + _tls_hint(redis.redis_url, exc))
        raise dg.Failure(
            description=f"{said}. "
            "The models table is untouched by this step (a change models_table made in this run stays committed); "
            "readers keep the previous cache version (or fall back to the database). Materialize models_cache "
            "(or run publish_catalog) to publish a whole new version."
        ) from None
    except cache.CacheMismatch as exc:
        # A slug the key layout cannot hold is healed in the providers table, and another deployment's cache by
        # configuration (the message says which), not by publishing again.
        then = ("" if isinstance(exc, (cache.UncacheableProvider, cache.OtherCatalogLive))
                else " Materialize models_cache to heal it.")
        raise dg.Failure(description=f"the new cache version was refused: {str(exc).rstrip('.')}. Readers stay on the "
                                     "previous cache version; the models table is untouched by this step (a change "
                                     f"models_table made in this run stays committed).{then}") from None
    except cache.PublishGaveUp as exc:
        raise dg.Failure(description=f"{exc}. Nothing was published; readers keep the previous cache version, and the "
                                     "models table is untouched by this step (a change models_table made in this run "
                                     "stays committed).") from None
    except cache.NewerCatalogLive as exc:
        if exc.behind is not False:  # the database went back (or that could not be told): the live version may
            # serve a table it no longer holds
            raise dg.Failure(description=f"{exc}.") from None
        # Readers are on a later snapshot of the table, which holds whatever this run wrote to it (catalog_version
        # only grows): what this step is for is done. It failed the run, which then exited 2 ("the cache could not
        # be refreshed") and had publish_after_partial_sync publish once more.
        context.log.warning(f"models_cache: {exc}. Readers stay on the newer version, which holds this run's table "
                            "and the changes since: nothing to do")
        return dg.MaterializeResult(metadata={
            "version": exc.live, "rewritten": dg.MetadataValue.bool(False),
            "superseded": f"this publish's snapshot (cache version {exc.refused}) was older than the live version's",
        })
    except psycopg.Error as exc:
        from ..urls import redact_url

        # Connection lost (failover, pg_terminate_backend), or a statement of the snapshot read failed.
        raise dg.Failure(
            description=f"PostgreSQL at {redact_url(postgres.database_url)} failed while the cache was published "
            f"from it: {type(exc).__name__}: {exc}. The models table is untouched by this step (a change "
            "models_table made in this run stays committed); readers keep the previous cache version (PostgreSQL is "
            "only read before the switch). Materialize models_cache "
            "(or run publish_catalog) to publish a whole new version."
        ) from None
    except cache.SwitchUncertain as exc:
        raise dg.Failure(description=f"{exc}. Both versions are whole and checked against the table, so readers see "
                                     "a whole catalog either way. Materialize models_cache to publish a new one.") from None
    finally:
        client.close()
    if published.previous_expired is False:
        said = f" ({published.previous_expire_error})" if published.previous_expire_error else ""
        context.log.warning(f"models_cache: readers are on version {published.version}, but Redis failed before the "
                            f"previous version {published.previous_version} got its TTL{said}; a later publish "
                            "expires it")
    if published.unchanged:
        context.log.info(
            f"models_cache: the table is unchanged since version {published.version} ({published.row_count} models, "
            f"checksum {published.checksum}); its keys checked again, readers stay on it, nothing rewritten "
            f"({published.seconds:.2f} s)"
        )
    else:
        context.log.info(
            f"models_cache: version {published.version} with {published.row_count} models "
            f"({published.key_count} keys, ~{_mib(published.bytes_used)}) in {published.seconds:.2f} s"
        )
    return dg.MaterializeResult(
        metadata={
            "version": published.version,
            "rewritten": dg.MetadataValue.bool(not published.unchanged),
            "previous_version": published.previous_version or "none",
            "row_count": dg.MetadataValue.int(published.row_count),
            "cached_row_count": dg.MetadataValue.int(published.cached_row_count),
            "checksum": published.checksum,
            "matches_table": dg.MetadataValue.bool(published.matches_table),
            "key_count": dg.MetadataValue.int(published.key_count),
            "bytes_used": dg.MetadataValue.int(published.bytes_used) if published.bytes_used is not None
            else "unknown: this Redis user may not run MEMORY USAGE, or the server has no such command",
            "bytes_used_method": (
                f"estimate: MEMORY USAGE of every index key and the manifest + mean MEMORY USAGE of "
                f"{cache.MEMORY_SAMPLE} random model keys x row count"
            ),
            "seconds": dg.MetadataValue.float(round(published.seconds, 3)),
            "previous_version_ttl_seconds": dg.MetadataValue.int(published.previous_version_ttl),
            "orphan_versions_expired": dg.MetadataValue.int(len(published.orphans_expired)),
            "maxmemory_policy": published.eviction_policy or "unknown",
            # Said only when there was a previous version to expire: "true" beside "previous_version: none", or
            # beside a kept live version with no TTL, read as a version expired that was not.
            **({"previous_version_expired": dg.MetadataValue.bool(published.previous_expired)}
               if published.previous_expired is not None else {}),
        }
    )


cache_fan_out = dg.AutomationConditionSensorDefinition(
    "cache_fan_out",
    target=[models_cache],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Republishes models_cache after any models_table materialization that did not include it.",
)


def _mib(used: int | None) -> str:
    return "? MiB (MEMORY USAGE not permitted or unknown)" if used is None else f"{used / 2**20:.1f} MiB"
