"""Every provider catalog, fetched concurrently in one step, each still its own asset in the UI.

Why one `multi_asset` and not one asset per provider: a Dagster step costs ~0.3 s of engine time and, from
the UI's default executor, a fresh interpreter (seconds); with 37 providers that was most of a sync. Here
one step fetches every selected provider at once (a thread per provider, at most `max_concurrency` in
flight, each with its own deadline across its retries), then checks and stages each catalog as it
arrives. Each provider keeps what a user opens in the UI: its own asset (`<slug>_catalog`) with its own
materialization history and metadata, its own checks, and it can be selected alone for a backfill
(`can_subset=True`).

Per provider, in order, nothing written until every check passed:
    catalog_fetched      the list arrived, whole and non-empty, within the provider's deadline
    catalog_contract     the pandera CatalogSchema (names above all, every value readable): every offending row
                         in the metadata; a list whose every record the provider's filter drops fails here
    catalog_not_shrunk   not smaller than (1 - max_shrink_fraction) of the last good catalog, unless forced
    catalog_truth        no price moved more than max_change_factor x, no context fell below 1/x, no price or
                         context lost by most of the models that had it (truth.LOST_FRACTION), and the list is
                         still the provider's (truth.implausible_list: not grown x times, not replaced), unless forced
A provider that fails one is not staged (it keeps its last good catalog), its failed check says why, and
the attempt is recorded; the others are staged and published in the same run. The checks gate staging in
code rather than through Dagster's `blocking` flag, which would skip the table for everyone when one
provider fails.

`provider_catalogs` (the staging table as a whole: every provider's latest good catalog) is materialized
by the same step whenever it runs, so the table downstream never waits on a provider that failed.
"""


import collections
import concurrent.futures
import contextlib
import importlib
import os
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta

from typing import TYPE_CHECKING

import dagster as dg
import psycopg
from pydantic import Field

from .. import faults
from ..cadence import load_cadence
from ..db import (
    last_good_facts, last_good_row_count, record_failed_attempt, server_time, stage_provider_catalog, superseded,
    watch_locks,
)
from ..providers.http import ProviderFetchError, prepare_http, provider_secrets, redact, secret_forms
from ..providers.registry import PROVIDERS, ProviderSpec
from ..resources import PostgresResource, ProviderApi, hold_storage_connection
from ..truth import DEFAULT_FACTOR, implausible_changes, implausible_list
from .plans import TABLE_STEP, plans_step

if TYPE_CHECKING:  # pandas and pandera load in the step that needs them, not with the code location
    import pandas as pd

GROUP = "provider_catalogs"
OWNERS = ["team:modelsync"]
STAGING_ASSET = "provider_catalogs"
FETCH_CHECK = "catalog_fetched"
CHECK_NAME = "catalog_contract"
SHRINK_CHECK = "catalog_not_shrunk"
TRUTH_CHECK = "catalog_truth"
MAX_REPORTED_VIOLATIONS = 200
PROVIDER_KEYS = {dg.AssetKey(spec.asset_name): spec for spec in PROVIDERS}
_, CADENCE = load_cadence()


class ProviderCatalogConfig(dg.Config):
    max_shrink_fraction: float = Field(
        default=0.5, description="hold back a catalog that lost more than this fraction of its last good one")
    max_change_factor: float = Field(
        default=DEFAULT_FACTOR,
        description="hold back a catalog in which a price moved more than this many times, or a context "
                    "length fell below 1/this, against the last good catalog")
    force: bool = Field(default=False, description="accept catalogs held back by catalog_not_shrunk or "
                                                   "catalog_truth, for every selected provider")
    force_providers: list[str] = Field(default=[], description="the same, for these provider slugs only")


def _markdown(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    columns = list(rows[0])
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _name_metadata(frame: "pd.DataFrame") -> dict:
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


class _HeldBack(Exception):
    """A provider's catalog failed a check: which one, at which step, why, and what to show for it."""

    def __init__(self, check: str, step: str, reason: str, metadata: dict | None = None):
        super().__init__(reason)
        self.check, self.step, self.reason, self.metadata = check, step, reason, metadata or {}

    def redacted(self, forms: list[str]) -> "_HeldBack":
        """This failure with every form of the provider's secrets redacted from its reason and the text of its
        metadata: a check's reason and offending rows quote record values (a price holding the key)."""
        metadata = {
            name: dg.MetadataValue.md(redact(value.md_str, forms)) if isinstance(value, dg.MarkdownMetadataValue)
            else redact(value, forms) if isinstance(value, str) else value
            for name, value in self.metadata.items()
        }
        return _HeldBack(self.check, self.step, redact(self.reason, forms), metadata)


def _check_specs(spec: ProviderSpec) -> list[dg.AssetCheckSpec]:
    described = {
        FETCH_CHECK: "the model list arrived whole and non-empty within the provider's deadline "
                     "(ProviderApi.deadline_seconds, across retries)",
        CHECK_NAME: "pandera CatalogSchema: clean unique names (no prefix, brackets, '/', '@', doubled word, "
                    "another model's id), unique clean ids, non-negative context and prices within range, known "
                    "modality, every value readable (none sent in a form no rule reads); at least one model kept",
        SHRINK_CHECK: "the catalog did not shrink by more than max_shrink_fraction (default 50%) against the "
                      "last good one, unless the run forces it",
        TRUTH_CHECK: "no price moved more than max_change_factor (default 10x) and no context length fell "
                     "below 1/max_change_factor against the last good catalog (a unit or field bug "
                     "upstream), no price or context length was lost by more than half of the models "
                     "that had it (a renamed field), and the list did not grow more than max_change_factor "
                     "times or have 90% of its models replaced (another list), unless the run forces it; the "
                     "offending rows are in the metadata",
    }
    return [dg.AssetCheckSpec(name, asset=spec.asset_name, description=text) for name, text in described.items()]


def _asset_spec(spec: ProviderSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        spec.asset_name,
        group_name=GROUP,
        kinds={"python", "postgres"},
        owners=OWNERS,
        skippable=True,  # a provider that fails keeps its last good catalog: no new materialization
        # Stale in the UI once its last good catalog is older than its max age (cadence.yaml).
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=CADENCE[spec.slug].max_age),
        description=(
            f"{spec.display_name} model list ("
            + (f"a file kept in the repo, modelsync_pipeline/static/{spec.recorded}: the provider has no list API"
               if spec.static else f"GET {spec.base_url}{spec.path}")
            + f"), normalised to the common schema and staged as this provider's latest good catalog. "
            f"Filter: {spec.keep_rule}."
        ),
        metadata={"provider": spec.slug, "endpoint": f"{spec.base_url}{spec.path}",
                  "base_url_env": spec.base_url_env, "price_unit": spec.price_unit,
                  "cadence": CADENCE[spec.slug].cron, "max_age_hours": CADENCE[spec.slug].max_age_hours},
    )


@dataclass(frozen=True)
class _Fetched:
    records: list
    seconds: float
    began: datetime  # when the fetch began: a catalog fetched earlier never replaces it (migration 0015)


@dataclass(frozen=True)
class _Clock:
    """The database server's clock, read once, carried forward by this process's monotonic clock. Fetch
    times order catalogs staged by every worker, so they never come from a worker's own wall clock: one set a
    year ahead would have had every later fetch of its providers refused as older for a year."""
    read_at: datetime
    monotonic: float

    def now(self) -> datetime:
        return self.read_at + timedelta(seconds=time.monotonic() - self.monotonic)


def _fetch(provider_api: ProviderApi, spec: ProviderSpec, clock: _Clock) -> _Fetched:
    began, started = clock.now(), time.monotonic()
    records = provider_api.fetch_records(spec)
    return _Fetched(records, time.monotonic() - started, began)


def _log_superseded(context, slug: str, why: str) -> None:
    context.log.warning(f"{slug}: not staged: this run's catalog was {why}")


def _check_and_stage(context, conn, spec: ProviderSpec, fetched: _Fetched, config: ProviderCatalogConfig, source: str):
    """The checks of one fetched catalog, each result yielded before anything is written, then staging (with
    where the catalog came from: live, replay or static, and when its fetch began). Returns the provider's
    outcome: "staged", or "superseded" when another run had staged a catalog it fetched later, found before
    the checks or under the stage's lock (nothing is written then, and the provider's asset is not
    materialized: its catalog is the other run's)."""
    records, seconds = fetched.records, fetched.seconds
    checks_began = time.monotonic()
    from ..catalog import build_catalog
    from ..providers.parsers import shown_value
    from ..schema import READING_CHECK, validate_catalog

    key, run_id = dg.AssetKey(spec.asset_name), context.run.run_id
    forced = config.force or spec.slug in config.force_providers
    if not records:
        raise _HeldBack(FETCH_CHECK, "fetch", "the provider returned an empty model list; the previous catalog is kept")
    yield dg.AssetCheckResult(asset_key=key, check_name=FETCH_CHECK, passed=True,
                              metadata={"records_fetched": len(records), "seconds": round(seconds, 3)})
    # Only a live fetch has a time worth ordering by: a recorded payload (replay) or a provider's file (static)
    # says nothing of when its list was true upstream, and is staged over any catalog, as before migration 0015.
    began = fetched.began if source == "live" else None

    def overtaken() -> bool:
        """Whether another run has staged a later fetch (recorded as this attempt's outcome if so): asked before
        the checks, and again before a check against the staged catalog fails, as one may have been staged
        meanwhile. The stage asks a last time under the provider's lock."""
        why = superseded(conn, spec.slug, run_id, began)
        if why is not None:
            _log_superseded(context, spec.slug, why)
        return why is not None

    if overtaken():
        return "superseded"

    frame = build_catalog(spec, records)
    violations = validate_catalog(frame)
    reported = [v.as_dict() for v in violations[:MAX_REPORTED_VIOLATIONS]]
    contract = {"rows_checked": len(frame), "violations": len(violations),
                "offending_rows": dg.MetadataValue.md(_markdown(reported))}
    if violations:
        rows = sorted({v.row for v in violations})
        # A row's reading problem is quoted once, beside the check that reports it (listed first: it explains
        # the row's other checks), not again after each of them.
        # Each id quoted cut short (shown_value), and each reading problem as the report shows it: a refused id of
        # 100,000 characters made a 100 KB reason, in the log, the check's metadata and sync_attempts.
        first = [f"{shown_value(v.model_id)} {v.check}"
                 + (f" ({v.as_dict()['detail']})" if v.detail and v.check == READING_CHECK
                    else f" ({v.column} {v.as_dict()['value']})" if v.value is not None else "")
                 for v in violations[:5]]
        reason = f"{len(violations)} check violations in {len(rows)} of {len(frame)} rows; first: " + "; ".join(first)
        raise _HeldBack(CHECK_NAME, "validate", reason, contract)
    if frame.empty:  # every record fetched was dropped by the filter: never "success, 0 models"
        reason = (f"none of the {len(records)} records fetched is a model the catalog keeps (filter: "
                  f"{spec.keep_rule}); the previous catalog is kept")
        raise _HeldBack(CHECK_NAME, "validate", reason, contract)
    yield dg.AssetCheckResult(asset_key=key, check_name=CHECK_NAME, passed=True, metadata=contract)

    previous = last_good_row_count(conn, spec.slug)
    shrunk = previous is not None and len(frame) < previous * (1 - config.max_shrink_fraction)
    shrink = {"previous_rows": previous, "rows": len(frame), "max_shrink_fraction": config.max_shrink_fraction,
              "forced": forced and shrunk}
    if shrunk and not forced:
        if overtaken():  # compared with a later catalog, not with the one this fetch followed
            return "superseded"
        reason = (f"catalog shrank from {previous} to {len(frame)} models, more than the allowed "
                  f"{config.max_shrink_fraction:.0%}; re-run with config force: true to accept it")
        raise _HeldBack(SHRINK_CHECK, "shrink_guard", reason, shrink)
    yield dg.AssetCheckResult(asset_key=key, check_name=SHRINK_CHECK, passed=True, metadata=shrink)

    facts = last_good_facts(conn, spec.slug)
    implausible = implausible_changes(facts, frame, config.max_change_factor)
    other_list = implausible_list(facts, frame["model_id"], config.max_change_factor)
    offending = [change.as_dict() for change in implausible[:MAX_REPORTED_VIOLATIONS]]
    truth = {"implausible_changes": len(implausible), "max_change_factor": config.max_change_factor,
             "another_list": other_list or "no",
             "forced": forced and bool(implausible or other_list),
             "offending_rows": dg.MetadataValue.md(_markdown(offending))}
    if other_list and not forced:
        if overtaken():
            return "superseded"
        raise _HeldBack(TRUTH_CHECK, "truth_guard", f"{other_list}; re-run with config force: true to accept it",
                        truth)
    if implausible and not forced:
        if overtaken():
            return "superseded"
        reason = (f"{len(implausible)} implausible changes against the last good catalog (a move of more than "
                  f"{config.max_change_factor:g}x, or a value most models lost); first: "
                  + "; ".join(f"{c.model_id!r} {c.field} {c.previous:g} -> "
                              + ("unknown" if c.new is None else f"{c.new:g}") for c in implausible[:3])
                  + "; re-run with config force: true to accept them")
        raise _HeldBack(TRUTH_CHECK, "truth_guard", reason, truth)
    yield dg.AssetCheckResult(asset_key=key, check_name=TRUTH_CHECK, passed=True, metadata=truth)

    staged = stage_provider_catalog(conn, spec, frame, run_id, source, fetched_at=began)
    if staged.superseded_by is not None:
        _log_superseded(context, spec.slug, staged.superseded_by)
        return "superseded"
    # Both times: the fetch's, and the checks' and stage's since it arrived, which a large catalog spends in this
    # step's one thread (a catalog of 300,000 models said "staged in 2.55 s" after 53 s of checks).
    context.log.info(f"{spec.slug}: {len(records)} record{'s' if len(records) != 1 else ''}, {staged.row_count} model{'s' if staged.row_count != 1 else ''} staged "
                     f"({'changed' if staged.changed else 'unchanged'}); fetched in {seconds:.2f} s, checked and "
                     f"staged in {time.monotonic() - checks_began:.2f} s")
    preview = frame[["model_id", "model_name", "raw_name", "name_rule", "modality", "context_length"]].head(10)
    yield dg.MaterializeResult(
        asset_key=key,
        metadata={
            "provider": spec.slug,
            "source": source,
            "row_count": dg.MetadataValue.int(len(frame)),
            "records_fetched": dg.MetadataValue.int(len(records)),
            "fetch_seconds": round(seconds, 3),
            "filter": spec.keep_rule,
            "catalog_changed": staged.changed,
            "previous_row_count": staged.previous_row_count,
            "preview": dg.MetadataValue.md(_markdown(preview.astype(object).where(preview.notna(), None).to_dict("records"))),
            **_name_metadata(frame),
        },
    )
    return "staged"


def _noting_checks(events, reported: set[str]):
    """Passes on one provider's events, adding the name of each check result to `reported`; returns what the
    events' generator returns."""
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if isinstance(event, dg.AssetCheckResult):
            reported.add(event.check_name)
        yield event


@dg.multi_asset(
    name="fetch_provider_catalogs",
    specs=[
        *(_asset_spec(spec) for spec in PROVIDERS),
        dg.AssetSpec(
            STAGING_ASSET,
            group_name=GROUP,
            kinds={"postgres"},
            owners=OWNERS,
            deps=[spec.asset_name for spec in PROVIDERS],
            description="Staging: every provider's latest good catalog (the ones that failed in a run keep their "
                        "previous one), read through the view staged_catalogs (provider_catalogs with the changes "
                        "listed since laid over it). models_table reads it.",
        ),
    ],
    check_specs=[check for spec in PROVIDERS for check in _check_specs(spec)],
    can_subset=True,
)
def fetch_provider_catalogs(context: dg.AssetExecutionContext, config: ProviderCatalogConfig,
                            provider_api: ProviderApi, postgres: PostgresResource):
    # ~17 Dagster events per provider: one pooled storage connection for them (a no-op for other storages).
    hold_storage_connection(context.instance)
    selected = [PROVIDER_KEYS[key] for key in context.selected_asset_keys if key in PROVIDER_KEYS]
    if not selected:  # never "success, 0 providers staged"
        raise dg.Failure(description="provider_catalogs is staged by the provider assets: select at least one of "
                                     "them with it (or launch sync_all); nothing was fetched or staged")
    outcomes: dict[str, str] = {}
    with contextlib.ExitStack() as connections, concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(provider_api.max_concurrency, len(selected))), thread_name_prefix="fetch"
    ) as pool:
        conn = connections.enter_context(postgres.connect())
        from .catalog import preflight  # (defs.catalog imports this module)

        preflight(context, conn, postgres)  # a reset that will be refused fetches nothing
        # Staging waits behind another run's stage of the same provider (legitimate) and behind whoever locks
        # the staging tables; the watch reports the wait and bounds the second kind (db/locks.py).
        watching = connections.enter_context(contextlib.ExitStack())  # the watch of the current connection

        def watched(conn):
            return watching.enter_context(watch_locks(conn, postgres.connect, "staging", context.log.warning))

        watch = watched(conn)
        prepare_http()
        clock = _Clock(server_time(conn), time.monotonic())
        pending = {}
        for spec in selected:
            context.log.info(f"{spec.slug}: fetching {provider_api.endpoint(spec)} "
                             f"({'static' if spec.static else provider_api.resolved_source})")
            if provider_api.resolved_source == "replay" and not spec.static and os.environ.get(spec.base_url_env):
                context.log.warning(f"{spec.slug}: {spec.base_url_env} is set, but the provider source is replay: the "
                                    "recorded payload is served whatever the URL, and nothing is requested from it "
                                    "(MODELSYNC_SOURCE=live requests it)")
            pending[pool.submit(_fetch, provider_api, spec, clock)] = spec
        faults.point("fetch:submitted")
        # The checks' pandas and pandera (~0.45 s to import, which the code location does not pay) load while the
        # fetches are in flight, not after the first catalog has arrived.
        for module in ("..catalog", "..schema"):
            importlib.import_module(module, __package__)
        for future in concurrent.futures.as_completed(pending):
            spec = pending[future]
            key = dg.AssetKey(spec.asset_name)
            reported: set[str] = set()  # checks already yielded for this provider (each is yielded once)
            try:
                source = "static" if spec.static else provider_api.resolved_source
                events = _check_and_stage(context, conn, spec, future.result(), config, source)
                outcomes[spec.slug] = yield from _noting_checks(events, reported)
            except Exception as exc:  # noqa: BLE001 - one provider's failure is its own, whatever it is
                if conn.broken or conn.closed:
                    # The connection was lost under this provider (terminated, a failover): it fails with that
                    # cause, recorded through a new connection, and the others go on with it.
                    conn = connections.enter_context(postgres.connect())
                    watching.close()  # the lost connection's watch ends with it
                    watch = watched(conn)
                # Any library's message may quote a request or a header, and a check's reason a record's value:
                # every failure is redacted like a fetch error before it is logged or recorded.
                forms = secret_forms(provider_secrets(spec))
                if isinstance(exc, ProviderFetchError):
                    exc = _HeldBack(FETCH_CHECK, exc.step, exc.reason)
                elif (waited := watch.cancelled(exc)) is not None:
                    exc = _HeldBack(FETCH_CHECK, "stage", waited)
                elif not isinstance(exc, _HeldBack):
                    context.log.error(redact(f"{spec.slug}: unexpected error\n{traceback.format_exc()}", forms))
                    exc = _HeldBack(FETCH_CHECK, "process", f"{type(exc).__name__}: {exc}")
                exc = exc.redacted(forms)
                outcome = ("process_failed" if exc.step in ("process", "stage")
                           else "fetch_failed" if exc.check == FETCH_CHECK else "check_failed")
                message = f"provider {spec.slug!r} failed at {exc.step}: {exc.reason}"
                try:
                    record_failed_attempt(conn, spec.slug, context.run.run_id, outcome, exc.step, exc.reason)
                except psycopg.errors.QueryCanceled as unrecorded:
                    # sync_attempts locked by the holder this provider already waited for: the watch cuts the
                    # insert at once. The failure stays in this run's log and checks; the others go on.
                    waited = watch.cancelled(unrecorded)
                    if waited is None:
                        raise
                    context.log.error(f"{message}. Its failure could not be recorded in sync_attempts: {waited}")
                context.log.error(f"{message}. It keeps its last good catalog.")
                if exc.check not in reported:  # an error after every check passed (staging) is logged only
                    yield dg.AssetCheckResult(
                        asset_key=key, check_name=exc.check, passed=False, severity=dg.AssetCheckSeverity.ERROR,
                        metadata={"provider": spec.slug, "step": exc.step, "failure": message, **exc.metadata},
                    )
                outcomes[spec.slug] = f"FAILED at {exc.step}"
    staged = sorted(slug for slug, outcome in outcomes.items() if outcome == "staged")
    if staged and not plans_step(context.instance, context.run, TABLE_STEP):
        # A selection without downstream: green, and the table and cache still show the previous catalogs.
        context.log.warning(f"staged only, not published: {', '.join(staged)} (models_table is not in this run); "
                            "publish_catalog publishes them (the sensor publish_after_recovery launches it when "
                            "this run re-executes a sync), or the next sync does")
    if dg.AssetKey(STAGING_ASSET) in context.selected_asset_keys:
        failed = {slug: o for slug, o in outcomes.items() if o not in ("staged", "superseded")}
        superseded = sorted(slug for slug, o in outcomes.items() if o == "superseded")
        yield dg.MaterializeResult(
            asset_key=STAGING_ASSET,
            metadata={"providers_staged": dg.MetadataValue.int(len(staged)),
                      "providers_failed": dg.MetadataValue.int(len(failed)),
                      "failed": dg.MetadataValue.json(failed),
                      # fetched before the catalog another run had staged, which stays (migration 0015)
                      "providers_superseded": dg.MetadataValue.json(superseded)},
        )


provider_catalog_assets = [fetch_provider_catalogs]
