"""`models_table`: the atomic refresh of providers and models from every provider's latest good catalog."""


import dagster as dg

from .. import db
from ..providers.registry import PROVIDERS
from ..resources import PostgresResource
from .provider_catalogs import OWNERS, _markdown, provider_catalog_assets

GROUP = "catalog"


def _stale_providers(conn, run_id: str) -> list[dict]:
    """Providers whose latest attempt failed: the table keeps their last good catalog."""
    rows = conn.execute(
        """SELECT DISTINCT ON (a.provider_slug) a.provider_slug, a.outcome, a.step, a.error, a.run_id,
                  v.validated_at
           FROM sync_attempts a LEFT JOIN provider_catalog_versions v USING (provider_slug)
           ORDER BY a.provider_slug, a.attempted_at DESC, a.id DESC"""
    ).fetchall()
    return [
        {"provider": slug, "outcome": outcome, "step": step, "error": (error or "")[:300],
         "in_this_run": attempt_run == run_id, "last_good_catalog": str(validated) if validated else "never"}
        for slug, outcome, step, error, attempt_run, validated in rows
        if outcome in ("fetch_failed", "check_failed")
    ]


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    owners=OWNERS,
    deps=provider_catalog_assets,
    description=(
        "providers and models refreshed from the latest good catalog of every provider in ONE transaction: "
        "readers see the old catalog or the new one, never an empty or partial table. Unchanged rows keep "
        "their id and are not rewritten."
    ),
)
def models_table(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    with postgres.connect() as conn:
        result = db.refresh_models_table(conn, PROVIDERS, context.run.run_id)
        stale = _stale_providers(conn, context.run.run_id)
        row_count, checksum = db.table_checksum(conn)
    if not result.providers:
        raise dg.Failure(description="no provider has a good catalog yet: nothing to publish")
    context.log.info(
        f"models_table: {result.total_rows} models from {len(result.providers)} providers "
        f"(+{sum(result.inserted.values())} ~{sum(result.updated.values())} -{sum(result.deleted.values())})"
    )
    for s in stale:
        context.log.warning(f"{s['provider']}: latest attempt {s['outcome']} at {s['step']}; keeping its catalog from {s['last_good_catalog']}")
    per_provider = [
        {"provider": slug, "rows": n, "inserted": result.inserted.get(slug, 0),
         "updated": result.updated.get(slug, 0), "deleted": result.deleted.get(slug, 0)}
        for slug, n in result.rows_per_provider.items()
    ]
    return dg.MaterializeResult(
        metadata={
            "row_count": dg.MetadataValue.int(row_count),
            "checksum": checksum,
            "rows_written": dg.MetadataValue.int(result.rows_written),
            "providers_published": dg.MetadataValue.int(len(result.providers)),
            "per_provider": dg.MetadataValue.md(_markdown(per_provider)),
            "stale_providers": dg.MetadataValue.md(_markdown(stale)),
        }
    )
