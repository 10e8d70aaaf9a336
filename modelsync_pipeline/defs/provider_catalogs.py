"""One asset per provider catalog, built by a factory over the registry.

Each asset fetches its provider's list, normalises it, validates it against `CatalogSchema` (a blocking
check whose result is emitted before anything is written), and only then stages it in PostgreSQL as that
provider's latest good catalog. A failure names the provider, the step and the reason, and leaves the
previous good catalog in place.
"""


import collections

import dagster as dg
import pandas as pd
from pydantic import Field

from ..catalog import build_catalog
from ..db import last_good_facts, last_good_row_count, record_failed_attempt, stage_provider_catalog
from ..providers.http import ProviderFetchError
from ..providers.registry import PROVIDERS, ProviderSpec
from ..resources import PostgresResource, ProviderApi
from ..schema import validate_catalog
from ..truth import DEFAULT_FACTOR, implausible_changes

GROUP = "provider_catalogs"
CHECK_NAME = "catalog_contract"
SHRINK_CHECK = "catalog_not_shrunk"
TRUTH_CHECK = "catalog_truth"


class ProviderCatalogConfig(dg.Config):
    max_shrink_fraction: float = Field(
        default=0.5, description="hold back a catalog that lost more than this fraction of its last good one")
    max_change_factor: float = Field(
        default=DEFAULT_FACTOR,
        description="hold back a catalog in which a price moved more than this many times, or a context "
                    "length fell below 1/this, against the last good catalog")
    force: bool = Field(default=False, description="accept a catalog held back by catalog_not_shrunk or catalog_truth")
OWNERS = ["team:modelsync"]
MAX_REPORTED_VIOLATIONS = 200


def _markdown(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    columns = list(rows[0])
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _name_metadata(frame: pd.DataFrame) -> dict:
    cleaned = frame[frame["name_steps"].map(len) > 0]
    sample = [
        {"model_id": r.model_id, "raw": r.raw_name, "name": r.model_name, "rule": r.name_rule, "steps": ", ".join(r.name_steps)}
        for r in cleaned.head(15).itertuples()
    ]
    return {
        "names_by_rule": dg.MetadataValue.json(dict(collections.Counter(frame["name_rule"]))),
        "names_cleaned": dg.MetadataValue.int(len(cleaned)),
        "raw_to_clean_sample": dg.MetadataValue.md(_markdown(sample)),
    }


def _build_provider_catalog_asset(*, spec: ProviderSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.asset_name,
        group_name=GROUP,
        kinds={"python", "postgres"},
        owners=OWNERS,
        description=(
            f"{spec.display_name} model list (GET {spec.base_url}{spec.path}), normalised to the common "
            f"schema and staged as this provider's latest good catalog. Filter: {spec.keep_rule}."
        ),
        metadata={"provider": spec.slug, "endpoint": f"{spec.base_url}{spec.path}", "base_url_env": spec.base_url_env},
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=spec.asset_name,
                blocking=True,
                description="pandera CatalogSchema: clean unique names, unique ids, non-negative context and prices, known modality.",
            ),
            dg.AssetCheckSpec(
                SHRINK_CHECK,
                asset=spec.asset_name,
                blocking=True,
                description="the catalog did not shrink by more than max_shrink_fraction (default 50%) against the "
                            "last good one, unless the run sets force: true",
            ),
            dg.AssetCheckSpec(
                TRUTH_CHECK,
                asset=spec.asset_name,
                blocking=True,
                description="no price moved more than max_change_factor (default 10x) and no context length fell "
                            "below 1/max_change_factor against the last good catalog (a unit or field bug "
                            "upstream), unless the run sets force: true; the offending rows are in the metadata",
            ),
        ],
    )
    def _catalog(context: dg.AssetExecutionContext, config: ProviderCatalogConfig, provider_api: ProviderApi, postgres: PostgresResource):
        run_id = context.run.run_id
        log = context.log
        log.info(f"{spec.slug}: fetching {spec.base_url}{spec.path} ({provider_api.source})")
        with postgres.connect() as conn:
            try:
                records = provider_api.fetch_records(spec)
            except ProviderFetchError as exc:
                record_failed_attempt(conn, spec.slug, run_id, "fetch_failed", exc.step, exc.reason)
                raise dg.Failure(
                    description=str(exc),
                    metadata={"provider": spec.slug, "step": exc.step, "reason": exc.reason},
                ) from None
            if not records:
                reason = "the provider returned an empty model list; the previous catalog is kept"
                record_failed_attempt(conn, spec.slug, run_id, "fetch_failed", "fetch", reason)
                raise dg.Failure(description=f"provider {spec.slug!r} failed at fetch: {reason}",
                                 metadata={"provider": spec.slug, "step": "fetch", "reason": reason})
            frame = build_catalog(spec, records)
            log.info(f"{spec.slug}: fetched {len(records)} records, {len(frame)} models after filter")

            violations = validate_catalog(frame)
            reported = [v.as_dict() for v in violations[:MAX_REPORTED_VIOLATIONS]]
            yield dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=not violations,
                metadata={
                    "rows_checked": len(frame),
                    "violations": len(violations),
                    "offending_rows": dg.MetadataValue.md(_markdown(reported)),
                },
            )
            if violations:
                rows = sorted({v.row for v in violations})
                reason = (
                    f"{len(violations)} check violations in {len(rows)} of {len(frame)} rows; first: "
                    + "; ".join(f"{v.model_id!r} {v.check}" for v in violations[:5])
                )
                record_failed_attempt(conn, spec.slug, run_id, "check_failed", "validate", reason)
                raise dg.Failure(
                    description=f"provider {spec.slug!r} failed at validate: {reason}. Its previous good catalog stays.",
                    metadata={"provider": spec.slug, "step": "validate", "offending_rows": dg.MetadataValue.md(_markdown(reported))},
                )
            log.info(f"{spec.slug}: validated {len(frame)} models")

            previous = last_good_row_count(conn, spec.slug)
            shrunk = previous is not None and len(frame) < previous * (1 - config.max_shrink_fraction)
            yield dg.AssetCheckResult(
                check_name=SHRINK_CHECK,
                passed=not shrunk or config.force,
                metadata={"previous_rows": previous, "rows": len(frame), "max_shrink_fraction": config.max_shrink_fraction,
                          "forced": config.force and shrunk},
            )
            if shrunk and not config.force:
                reason = (f"catalog shrank from {previous} to {len(frame)} models, more than the allowed "
                          f"{config.max_shrink_fraction:.0%}; re-run with config force: true to accept it")
                record_failed_attempt(conn, spec.slug, run_id, "check_failed", "shrink_guard", reason)
                raise dg.Failure(description=f"provider {spec.slug!r} held back: {reason}. Its previous good catalog stays.",
                                 metadata={"provider": spec.slug, "step": "shrink_guard"})

            implausible = implausible_changes(last_good_facts(conn, spec.slug), frame, config.max_change_factor)
            offending = [change.as_dict() for change in implausible[:MAX_REPORTED_VIOLATIONS]]
            yield dg.AssetCheckResult(
                check_name=TRUTH_CHECK,
                passed=not implausible or config.force,
                metadata={"implausible_changes": len(implausible), "max_change_factor": config.max_change_factor,
                          "forced": config.force and bool(implausible),
                          "offending_rows": dg.MetadataValue.md(_markdown(offending))},
            )
            if implausible and not config.force:
                reason = (f"{len(implausible)} implausible changes against the last good catalog (more than "
                          f"{config.max_change_factor:g}x); first: "
                          + "; ".join(f"{c.model_id!r} {c.field} {c.previous:g} -> {c.new:g}" for c in implausible[:3])
                          + "; re-run with config force: true to accept them")
                record_failed_attempt(conn, spec.slug, run_id, "check_failed", "truth_guard", reason)
                raise dg.Failure(description=f"provider {spec.slug!r} held back: {reason}. Its previous good catalog stays.",
                                 metadata={"provider": spec.slug, "step": "truth_guard",
                                           "offending_rows": dg.MetadataValue.md(_markdown(offending))})

            staged = stage_provider_catalog(conn, spec, frame, run_id)
        log.info(f"{spec.slug}: written {staged.row_count} models to staging ({'changed' if staged.changed else 'unchanged'})")
        preview = frame[["model_id", "model_name", "raw_name", "name_rule", "modality", "context_length"]].head(10)
        yield dg.MaterializeResult(
            metadata={
                "provider": spec.slug,
                "row_count": dg.MetadataValue.int(len(frame)),
                "records_fetched": dg.MetadataValue.int(len(records)),
                "filter": spec.keep_rule,
                "catalog_changed": staged.changed,
                "previous_row_count": staged.previous_row_count,
                "preview": dg.MetadataValue.md(_markdown(preview.astype(object).where(preview.notna(), None).to_dict("records"))),
                **_name_metadata(frame),
            }
        )

    return _catalog


provider_catalog_assets = [_build_provider_catalog_asset(spec=spec) for spec in PROVIDERS]
