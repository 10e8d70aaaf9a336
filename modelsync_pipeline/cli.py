"""`modelsync`: the command behind `make run` (and the lineage lookup behind "a name looks wrong").

`modelsync run` uses DATABASE_URL / REDIS_URL when set, and otherwise starts embedded PostgreSQL and
Redis under the state folder (stopped again on exit). It runs the `sync_all` job on the Dagster instance
whose storage is in that same PostgreSQL, so its runs show up in the UI next to scheduled ones, prints
progress as each provider is fetched, validated and written, and ends with a summary table.

Exit status: 0 when every provider published; 1 when some provider failed (the others are still
published and the failed one keeps its last good catalog); 2 when the table or the cache could not be
refreshed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

SOURCES = ("replay", "live")  # MODELSYNC_SOURCE (resources.ProviderApi)



def _prepare_dagster_home(state_dir: Path) -> Path:
    """The state folder's DAGSTER_HOME, its dagster.yaml replaced whole: copied in place (truncated, then written),
    another run of the same folder starting meanwhile read it empty, and Dagster then kept that run's history in
    SQLite files, apart from the PostgreSQL every other run shares."""
    home = (state_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    staged = home / f".dagster.yaml.{os.getpid()}"
    shutil.copyfile(Path(__file__).resolve().parent / "dagster.yaml", staged)
    os.replace(staged, home / "dagster.yaml")
    return home


def _read_summary(database_url: str, run_ids: list[str]) -> tuple[list[tuple], list[tuple], dict, str | None]:
    """_summary, watched like a write (db.locks): a lock on `models` taken since the run must not hold the
    summary, and the exit code, for ever. (attempts, models per provider, what the runs wrote, why they could
    not be read)."""
    import psycopg

    from . import db

    with db.connect(database_url) as conn:
        try:
            with db.watch_locks(conn, lambda: db.connect(database_url), "the run's summary",
                                lambda line: print(f"  {line}", file=sys.stderr)) as watch:
                return (*_summary(conn, run_ids), None)
        except psycopg.errors.QueryCanceled as exc:
            unread = watch.cancelled(exc)
            if unread is None:
                raise
            return [], [], {}, unread


def _summary(conn, run_ids: list[str]) -> tuple[list[tuple], list[tuple], dict]:
    from . import db

    sql = db.statements("admin")
    in_table = conn.execute(sql["run_models_per_provider"]).fetchall()  # (slug, models, holds its staged catalog)
    attempts = conn.execute(sql["run_attempts"], {"run_ids": run_ids}).fetchall()
    written = {slug: counts for slug, *counts in conn.execute(sql["run_table_changes"], {"run_ids": run_ids})}
    return attempts, sorted(in_table), written


def _unknown_providers(slugs: list[str]) -> str | None:
    from .providers.registry import PROVIDERS_BY_SLUG

    unknown = [p for p in slugs if p not in PROVIDERS_BY_SLUG]
    return f"unknown provider(s): {', '.join(map(repr, unknown))}; known: {', '.join(PROVIDERS_BY_SLUG)}" if unknown else None


def run(args: argparse.Namespace) -> int:
    from .local.services import services

    # Mistakes in what was asked are one line before anything starts (argparse checks a --source given on
    # the command line against its choices, not the default read from MODELSYNC_SOURCE).
    if args.source not in SOURCES:
        print(f"modelsync run: MODELSYNC_SOURCE (or --source) must be one of {', '.join(SOURCES)}, not {args.source!r}",
              file=sys.stderr)
        return 2
    if args.providers and (problem := _unknown_providers(args.providers)):
        print(problem, file=sys.stderr)
        return 2
    if problem := _settings_problem(args.source):
        print(f"modelsync run: {problem}", file=sys.stderr)
        return 2
    from .local.services import state_dir_problem

    if problem := state_dir_problem(args.state_dir):
        print(f"modelsync run: {problem}", file=sys.stderr)
        return 2
    state_dir = Path(args.state_dir)
    with services(state_dir) as endpoints:
        os.environ["DATABASE_URL"] = endpoints.database_url
        os.environ["REDIS_URL"] = endpoints.redis_url
        os.environ["MODELSYNC_SOURCE"] = args.source
        from .local.services import sqlalchemy_url

        try:
            os.environ["DAGSTER_PG_URL"] = sqlalchemy_url(endpoints.database_url)
        except ValueError as exc:  # libpq's key=value form: Dagster's storage takes a URL only
            print(f"modelsync run: DATABASE_URL must be a postgresql:// URL (Dagster's run storage needs one): {exc}",
                  file=sys.stderr)
            return 2
        os.environ["DAGSTER_HOME"] = str(_prepare_dagster_home(state_dir))
        print("modelsync run")
        print(f"  database: {endpoints.summary().splitlines()[0]}")
        print(f"  cache:    {endpoints.summary().splitlines()[1]}")
        print(f"  provider source: {args.source}")
        from . import db

        # Unreachable: one line now (main), not after a dozen seconds of Dagster's storage retries.
        db.connect(endpoints.database_url).close()
        # A schema the run cannot use (a search_path that puts another schema before the catalog's, a database at a
        # newer migration): one line now (main), as for `status`. Left to the steps, the refusal was lost: the
        # provider step failed on it, then the summary's read of `providers` in that schema was all that was said
        # ('UndefinedTable: relation "providers" does not exist'). A pending migration is applied here, as the run's
        # first connection would apply it (resources.PostgresResource).
        db.apply_migrations(endpoints.database_url)
        from . import interrupts

        with interrupts.watch():
            return _run_jobs(args)


def _settings_problem(source: str | None = None) -> str | None:
    """What is wrong with a setting from the environment, read as the run would read it, before anything starts:
    a bad one ended in a traceback (at import, or after the table step had failed on it) and exit 1, which reads
    as "some provider failed". None when all of them read."""
    import importlib

    from .cadence import CadenceError, load_cadence
    from .db import first_line, locks

    try:
        locks.wait_bound()
        importlib.import_module(".cache", __package__)  # MODELSYNC_CACHE_PREFIX is read as it loads
    except ValueError as exc:
        return str(exc)
    try:
        load_cadence()
        importlib.import_module(".defs.cadence", __package__)  # the schedules from it: a cron Dagster refuses
    except CadenceError as exc:
        return f"MODELSYNC_CADENCE_FILE: {exc}"
    except (OSError, ValueError) as exc:  # no such file, a directory, YAML that does not parse
        return f"the cadence file cannot be read (MODELSYNC_CADENCE_FILE): {type(exc).__name__}: {first_line(exc)}"
    replay = os.environ.get("MODELSYNC_REPLAY_DIR")
    if source == "replay" and replay and not Path(replay).is_dir():
        return (f"MODELSYNC_REPLAY_DIR is {replay!r}, which is no directory: replay serves the recorded payloads "
                f"from there (unset it for the ones in the package)")
    return None


def _run_jobs(args: argparse.Namespace) -> int:
    import dagster as dg

    from . import cache, db, interrupts
    from .defs.jobs import fail_runs_of_dead_processes, process_tags, should_publish_after
    from .definitions import defs
    from .resources import hold_storage_connection

    quiet = {"loggers": {"progress": {}}}  # progress lines only; the full event log is in the UI
    with dg.DagsterInstance.get() as instance:
        # One pooled storage connection for the run's ~700 events, checked before each use (the provider step
        # does the same for runs launched from the UI).
        hold_storage_connection(instance)
        for run_id in fail_runs_of_dead_processes(instance):
            print(f"run {run_id} was left unfinished by a killed or stopped modelsync run: marked failed")
        selection = None
        if args.providers:
            from .providers.registry import PROVIDERS_BY_SLUG

            selection = [dg.AssetKey(PROVIDERS_BY_SLUG[p].asset_name) for p in args.providers]
            selection += [dg.AssetKey("models_table"), dg.AssetKey("models_cache")]
        job = defs.resolve_job_def("sync_all")
        print("\nsync_all:")
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet, asset_selection=selection,
            tags={"modelsync/launched_by": "cli", **process_tags()},
        )
        run_ids = [result.run_id]
        run = instance.get_run_by_id(result.run_id)
        publish = None
        # Ctrl-C: Dagster turns it into a failed step and ends the run; the operator asked to stop, so nothing
        # more is published here (the failure sensor, or the next run, publishes what was staged). An interrupt
        # something else swallowed is known all the same (interrupts), and failed the first step that writes.
        interrupted = _interrupted(result) or interrupts.received()
        if not result.success and not interrupted and should_publish_after(instance, run):
            print("\nmodels_table was not refreshed by this run; publishing the catalogs that were staged "
                  "(publish_catalog):")
            publish = defs.resolve_job_def("publish_catalog").execute_in_process(
                instance=instance, raise_on_error=False, run_config=quiet,
                tags={"modelsync/after_run": result.run_id, "modelsync/launched_by": "cli", **process_tags()},
            )
            run_ids.append(publish.run_id)
        publish_failed = publish is not None and not publish.success
        published_after = publish is not None and publish.success
        sync_failures = _failures(result)
        publish_failures = _failures(publish) if publish is not None else []
        failures = sync_failures + publish_failures
        # The table and the cache are what the last write left: the publish after a failed run, if there was one.
        last_write = publish_failures if publish is not None else sync_failures

    # Whether this run's table step, or the publish after it, committed: the summary's "staged but NOT in the table"
    # is then another run's newer catalog, staged since (the latest staged is what the summary compares with).
    table_key = dg.AssetKey("models_table")
    table_written = any(event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key == table_key
                        for ran in (result, publish) if ran is not None for event in ran.all_events)
    attempts, in_table, written, unread = _read_summary(os.environ["DATABASE_URL"], run_ids)
    cache_info, live = _cache_state()
    # Readers are on a version this command published: the table was written and the cache published from it,
    # whatever step failed after (the status step, Dagster's own event write after the switch). Exit 2 said "the
    # table or the cache could not be refreshed" of both refreshed.
    switched = live is not None and any(cache.published_by(live, rid) for rid in run_ids)
    failed_providers = [a for a in attempts if a[1] in db.FAILED_OUTCOMES]
    table_or_cache_failed = not switched and (
        publish_failed or any(step in ("models_table", "models_cache") for step, _ in last_write))
    published_after = published_after or switched
    # A failed step anywhere fails the run (a provider's own failure does not: it is a failed check), and is
    # never exit 0: 1 when the catalogs staged before it were published after it ("the rest published"), else
    # 2. Read from the run's own result, which this process holds: a database that went away mid-run may not
    # have recorded the step's failure, nor the providers' attempts.
    run_failed = not result.success

    print("\nsummary")
    if unread is not None:
        print(f"  the table could not be read for this summary: {unread}")
    width = max([len(row[0]) for row in [*in_table, *attempts]] + [8])
    print(f"  {'provider':<{width}}  {'models':>7}  this run")
    outcome_by_slug = {a[0]: a for a in attempts}
    listed = {slug for slug, _, _ in in_table}
    for slug, count, holds_staged in in_table:
        a = outcome_by_slug.get(slug)
        status = "not synced in this run" if a is None else (
            _staged_status(a[1], holds_staged, written.get(slug), table_written) if a[1] in ("staged", "unchanged")
            else f"superseded: {a[3]}" if a[1] == "superseded"
            else f"FAILED at {a[2]}: {a[3]} (kept its last good catalog)"
        )
        print(f"  {slug:<{width}}  {count:>7}  {status}")
    for slug, outcome, step, error in attempts:
        if slug in listed:
            continue
        if outcome in ("staged", "unchanged"):  # a first catalog the table step did not write
            print(f"  {slug:<{width}}  {0:>7}  {_staged_status(outcome, False, table_written=table_written)}")
        elif outcome in db.FAILED_OUTCOMES:
            print(f"  {slug:<{width}}  {0:>7}  FAILED at {step}: {error} (no good catalog yet)")
    print(f"  {'total':<{width}}  {sum(count for _, count, _ in in_table):>7}")
    print(f"  cache: {cache_info}")
    for step, message in failures:
        print(f"  FAILED {step}: {message}")
    if run_failed and not failures:
        print("  FAILED: the run did not succeed, and no step says why (see the run in the UI)")
    print(f"  runs: {', '.join(run_ids)} (open them in the Dagster UI: make ui)")
    if interrupted:
        # A stop can land after a write committed: say what the run did write, never "as before" for a table the
        # run changed (from model_history), or for a cache it switched.
        if switched:
            print("  INTERRUPTED (Ctrl-C) after this run wrote the table and published it to the cache: both hold "
                  "this run's catalog; nothing more was done after the interrupt.")
        elif written:
            print("  INTERRUPTED (Ctrl-C) after this run wrote the table (written to the table, above): the cache "
                  "still holds what it held before, and nothing was published after the interrupt. The next run (or "
                  "publish_catalog) publishes the table to the cache.")
        else:
            print("  INTERRUPTED (Ctrl-C): nothing was published after it; the table and cache hold what they held "
                  "before the interrupted step. The next run (or publish_catalog) publishes the catalogs staged.")
        return INTERRUPTED
    if written and run_failed and not switched:
        # The table step's write committed and a step failed after it (the connection lost right after the COMMIT,
        # the cache step), so readers are still on the previous catalog: the summary named the table as failed.
        print("  the table holds this run's catalog (written to the table, above), the cache does not yet: "
              "materialize models_cache (or run publish_catalog, or the next sync) to publish it")
    if table_or_cache_failed or (run_failed and not published_after):
        return 2
    return 1 if failed_providers or run_failed or unread is not None else 0


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def _staged_status(outcome: str, holds_staged: bool, written: list[int] | None = None,
                   table_written: bool = False) -> str:
    """A good attempt's line: whether it brought a new catalog, whether the table now holds it, and what the
    run wrote to the provider's rows ((added, changed, removed), from their history): a catalog fetched unchanged
    is written again after a flush, or when a run before staged it and failed to write it. With `table_written`
    (this run's table step, or the publish after it, committed) a latest staged catalog the table lacks is another
    run's, staged since: this run's table step wrote what was staged when it ran."""
    catalog = "new catalog" if outcome == "staged" else "unchanged"
    parts = [f"{count} {kind}" for count, kind in zip(written or (), ("added", "changed", "removed")) if count]
    line = f"{catalog}; written to the table: {', '.join(parts)}" if parts else catalog
    if holds_staged:
        return line
    if table_written:
        return f"{line}; another run has staged a newer catalog since, not yet in the table"
    return f"{catalog}, staged but NOT in the table (the table step did not write it; publish_catalog does)"


def _interrupted(result) -> bool:
    """Whether a step of the run ended because the process was interrupted (SIGINT)."""
    return any(event.event_type_value == "STEP_FAILURE"
               and getattr(_innermost(event.step_failure_data.error), "cls_name", None) in (
                   "DagsterExecutionInterruptedError", "KeyboardInterrupt")
               for event in result.all_events)


def _innermost(error):
    while error is not None and error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return error


def step_failures(result) -> dict[str, str]:
    """{step: reason} for every failed step, the reason taken from the innermost error (not Dagster's wrapper).

    Read from the error's structure (its class name and cause), not from the text of Dagster's messages; the
    class is dropped from the reason for Dagster's and our own errors, whose text says it all, and kept for
    any other (a `psycopg.errors.UniqueViolation: ...` says more with its class)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = _innermost(event.step_failure_data.error)
        if error is None:
            out[event.step_key] = event.message or ""
            continue
        message = error.message.strip()
        qualified, sep, reason = message.partition(": ")
        ours = qualified.startswith(("dagster.", "modelsync_pipeline.")) and qualified.rsplit(".", 1)[-1] == error.cls_name
        out[event.step_key] = reason if sep and ours else message
    return out


def _failures(result) -> list[tuple[str, str]]:
    from .db import first_line

    return [(step, first_line(message)) for step, message in step_failures(result).items()]


def _cache_summary() -> str:
    return _cache_state()[0]


def _cache_state() -> tuple[str, str | None]:
    """The summary's cache line, and the version readers are on (None if none, or Redis cannot be read)."""
    from . import cache

    from .urls import without_passwords

    url = os.environ["REDIS_URL"]
    try:
        client = cache.client_from_url(url, decode_responses=True, socket_timeout=5)
        version = cache.current_version(client)
        if not version:
            return "no version published", None
        info = cache.manifest(client, version)
        return f"version {version}, {info.get('row_count')} models, {info.get('key_count')} keys", version
    except (*cache.REDIS_ERRORS, ValueError) as exc:  # ValueError: a URL redis-py cannot read (client_from_url)
        return f"unreachable ({type(exc).__name__}: {without_passwords(str(exc), url)})", None


_STEP_MEANING = {
    "remove_invisible_characters": "removed control, zero-width or bidi characters",
    "collapse_whitespace": "collapsed runs of spaces / trimmed the ends",
    "strip_company_prefix": 'removed the "Company: " prefix',
    "keep_family_word": "kept the company word because it names the model family",
    "keep_company_word": "kept the company (or family) word: one word alone reads as a common word, not a model",
    "free_flag": 'moved "(free)" into is_free',
    "quantization_flag": "moved a quantisation tag into the quantization column",
    "release_stage_flag": "recorded a release stage (kept as a plain word)",
    "flatten_brackets": "turned a bracketed part (\"(...)\", \"[...]\", \"{...}\", \"<...>\") into plain words",
    "neutralise_colon": 'replaced a ": " inside the name with " - " (with a space before a bracket)',
    "trim_edge_punctuation": "trimmed punctuation at the ends",
    "truncated": "cut an over-long name at a word boundary",
    "disambiguated": "two ids shared this name: it was told apart with words from the id (added to it, or the "
                     "name the id itself reads as)",
    "drop_doubled_word": "removed a word that followed itself",
    "drop_id_path": 'removed an id path ("vendor/") or a "/" or "@" from the name',
    "spell_out_with": 'wrote "w/" and "w/o" as the words "with" and "without"',
    "read_other_colon": 'read a full-width colon ("\uff1a") as ":"',
    "drop_bedrock_namespace": 'removed a Bedrock namespace ("us.", "anthropic.") from the id',
    "drop_bedrock_namespace_words": 'removed the words of the id\'s Bedrock namespace ("US Anthropic ") from the name',
    "read_company_separator": 'read "Company - " or "Company | " as "Company: " (the id names that organisation)',
    "derived_from_id_like_name": "the name field held an id (the model id is a UUID): the name was derived from it",
    "no_readable_text": "nothing readable was left (no letter or digit)",
    "not_a_string": "the field was not text",
    "id_unreadable": "no readable word in the id: the name is 'Model' and a short hash of the id",
    "read_dash": 'read a spaced en or em dash (" – ") as " - "',
    "read_bracketed_company": 'read "(Company)" before or after the name as "Company: " (the id names that organisation)',
    "drop_html_tags": 'removed HTML tags from the name ("Llama 3 <b>New</b>" -> "Llama 3 New")',
    "drop_trailing_company": 'removed the company named after the name, the one the id names ("Claude 3 Haiku | Anthropic")',
    "drop_repeated_in_brackets": 'removed a bracketed word the name already says ("Llama 3.1 70B Turbo (70B)")',
    "drop_bracketed_id": 'removed a bracket holding the model\'s own id ("Llama 3 70B (meta-llama/llama-3-70b)")',
    "read_percent_escapes": 'read percent escapes copied from a URL ("%20", "%2F") as their characters',
    "read_html_references": 'read an HTML character reference ("&amp;", "&nbsp;", "&#8211;") as its character',
    "read_ascii_lookalikes": 'read full-width letters or digits and typographic hyphens ("\uff2c\uff4c\uff41\uff4d\uff41", "GPT\u20114o") as ASCII',
    "drop_wrapping_quotes": 'removed the quotes around the whole name (\'"Llama 3"\' -> "Llama 3")',
    "recase_lower_case_name": 'wrote an all lower-case name as an id\'s words are ("llama 3 70b" -> "Llama 3 70B")',
}
# Steps named after the field they passed over ("ignored_id_like_display_name", "fallback_from_name").
_STEP_PREFIX_MEANING = {
    "ignored_id_like_": "passed over the field {}: it held an id, not a name",
    "ignored_placeholder_": 'passed over the field {}: it held a placeholder ("null", "unknown"), not a name',
    "fallback_from_": "the field {} cleaned to nothing readable: the next source was used",
}


def step_meaning(step: str) -> str:
    """What a lineage step (models.name_steps) did, in words; '' for a step with no description."""
    if step in _STEP_MEANING:
        return _STEP_MEANING[step]
    for prefix, meaning in _STEP_PREFIX_MEANING.items():
        if step.startswith(prefix):
            return meaning.format(step[len(prefix):])
    return ""


def _catalog_database(command: str):
    """A connection to DATABASE_URL for the read-only commands, or None after saying why not."""
    from . import db

    url = os.environ.get("DATABASE_URL")
    if not url:
        print(f"DATABASE_URL is not set (`make {command}` sets it to the same database as `make run`)", file=sys.stderr)
        return None
    db.apply_migrations(url)  # a database nothing has synced into yet answers "0 providers", not an SQL error
    return db.connect(url)


# How many of a model's changes `explain` lists, newest first.
EXPLAIN_HISTORY = 5
_RULE_SOURCES = {"display_name": "a display name the provider sends", "name": "a name field the provider sends",
                 "derived_from_id": "derived from the model id (the provider sends no usable name)"}
# What a history row's snapshot holds that is no change of its own (they change with every write).
_BOOKKEEPING = {"content_hash", "sync_run_id", "id", "created_at", "updated_at"}


def explain(args: argparse.Namespace) -> int:
    """Where did this name come from: raw upstream value, rule, cleaning steps, the run that named it, the run that
    wrote it to the table, and the model's latest changes; for a model no longer in the table, its last change."""
    from psycopg.rows import namedtuple_row

    from . import db
    from .providers.registry import PROVIDERS_BY_SLUG

    if not args.provider.strip() or not args.model.strip():
        print("usage: make explain P=<provider slug> M=<model id, display name or raw name>  (modelsync explain "
              "<provider> <model>), e.g. make explain P=openrouter M=deepseek/deepseek-prover-v2:free", file=sys.stderr)
        return 2
    unknown = _unknown_providers([args.provider])
    try:
        conn = _catalog_database("explain")
    except Exception:
        if unknown:  # a typo, most likely: said even when the database cannot be asked whether it has that slug
            print(f"modelsync explain: {unknown}", file=sys.stderr)
        raise
    if conn is None:
        return 2
    statements = db.statements("admin")
    with conn:
        # A provider the registry no longer lists keeps its rows (`status` flags it): it is still explained.
        if unknown and not conn.execute(statements["provider_known"], {"provider": args.provider}).fetchone()[0]:
            print(f"modelsync explain: {unknown}", file=sys.stderr)
            return 2
        rows = conn.execute(statements["explain_model"], {"provider": args.provider, "q": args.model}).fetchall()
        histories = {model_id: conn.cursor(row_factory=namedtuple_row).execute(statements["explain_history"], {
            "provider": args.provider, "model_id": model_id, "limit": EXPLAIN_HISTORY}).fetchall()
            for model_id in [row[2] for row in rows] or [args.model]}
    if not rows:
        history = histories[args.model]
        print(f"no model {args.model!r} of provider {args.provider!r} in the models table", file=sys.stderr)
        if not history:
            return 1
        last = history[0]
        name = (last.old_values or {}).get("model_name")
        print(f"{args.provider} / {args.model}  (not in the models table)")
        print(f"  last name   {name!r}" if name else "  last name   (not recorded)")
        _print_history(history)
        return 1
    spec = PROVIDERS_BY_SLUG.get(args.provider)
    for (slug, row_id, model_id, name, raw, rule, steps, free, quant, stage, run_id, updated, created) in rows:
        print(f"{slug} / {model_id}  (models.id {row_id})")
        print(f"  name        {name!r}")
        print(f"  raw value   {raw!r}")
        source = _RULE_SOURCES.get(rule, rule)
        if spec is not None and rule in ("display_name", "name"):
            source += f" (this provider's name source: {spec.name_source})"
        print(f"  rule        {rule}: {source}")
        for step in steps or []:
            print(f"  step        {step}: {step_meaning(step)}".rstrip(": "))
        flags = [f for f, on in (("free", free), (f"quantization={quant}", quant), (f"release_stage={stage}", stage)) if on]
        if flags:
            print(f"  flags       {', '.join(flags)}")
        # The run that fetched, named and checked this content staged it; the run that wrote it to the table may be
        # a later one (a table step that failed and was run again, a reset or a flush reloading staged catalogs).
        history = histories[model_id]
        writer, written = (history[0].run_id, history[0].changed_at) if history else (run_id, updated)
        print(f"  written by  run {writer} at {written.isoformat()}")
        if writer != run_id:
            print(f"  named by    run {run_id} (it fetched, named and checked this content; a later run wrote it)")
        first = history[0].first_listed if history else created
        if first < written:
            print(f"  first listed {first.isoformat()}")
        if history and history[0].entries > 1:
            _print_history(history)
    return 0


def _print_history(history: list) -> None:
    """A model's latest changes, newest first (`explain_history`), one line each."""
    for entry in history:
        print(f"  history     {entry.changed_at.isoformat()} run {entry.run_id}: {_described_change(entry)}")
    if history and history[0].entries > len(history):
        print(f"  history     ... {history[0].entries - len(history)} earlier (model_history, or SQL model_as_of)")


def _described_change(entry) -> str:
    """What one history row changed: its labels, and each field's old and new value ('added' and 'removed' hold one
    side only; the row or its next change holds the other)."""
    said = ", ".join(entry.changes)
    old, new = entry.old_values or {}, entry.new_values or {}
    if not old or not new:
        return said
    changed = [field for field in sorted(set(old) | set(new))
               if field not in _BOOKKEEPING and old.get(field) != new.get(field)]
    fields = [f"{field} {_shown(old.get(field))} -> {_shown(new.get(field))}" for field in changed]
    return f"{said} ({'; '.join(fields)})" if fields else f"{said} (the raw upstream record only)"


def _shown(value) -> str:
    from .providers.parsers import shown_value

    return "null" if value is None else shown_value(value)


def status(args: argparse.Namespace) -> int:
    """GET /status as a command: the same SQL report as the catalog_status asset, printed."""
    from . import db

    if problem := _settings_problem():
        print(f"modelsync status: {problem}", file=sys.stderr)
        return 2
    conn = _catalog_database("status")
    if conn is None:
        return 2
    from .providers.registry import PROVIDERS_BY_SLUG

    with conn:
        report = db.catalog_status(conn)
    totals = report["totals"]
    print(f"providers {totals['providers']} (with models {totals['with_models']}, without {totals['without_models']}); "
          f"models {totals['models']} (active {totals['active_models']})")
    if not totals["providers"]:
        print("  no catalog yet: `make run` syncs every provider")
    from .cadence import load_cadence, stale_since

    default, cadence = load_cadence()
    width = max([len(p["provider"]) for p in report["providers"]] + [8])
    print(f"  {'provider':<{width}}  {'models':>7}  {'source':<7}  {'last synced':<32}  last attempt")
    stale, unregistered = [], []
    for p in report["providers"]:
        synced = p["last_synced_at"].isoformat(timespec="seconds") if p["last_synced_at"] else "never"
        if p["provider"] not in PROVIDERS_BY_SLUG:
            flag = "NOT IN REGISTRY: still published; reset_and_resync removes it"
            unregistered.append(p["provider"])
        else:
            flag = stale_since(cadence.get(p["provider"], default), p["last_good_attempt"])
            if flag:
                stale.append(p["provider"])
            if not p["holds_staged"]:  # the models beside it are the older catalog's
                flag = ((flag + "; ") if flag else "") + ("a newer catalog is staged, NOT yet in the table "
                                                          "(publish_catalog, or the next sync, writes it)")
        print(f"  {p['provider']:<{width}}  {p['models']:>7}  {p['source'] if p['last_good_catalog'] else '':<7}  "
              f"{synced:<32}  {p['last_attempt'] or ''}"
              + (f"  {flag}" if flag else ""))
    if stale:
        print(f"  stale (last good catalog older than its max age in cadence.yaml): {', '.join(stale)}")
    if unregistered:
        print(f"  not in the provider registry (removed or renamed; their models are still published until a "
              f"reset_and_resync): {', '.join(unregistered)}")
    from .defs.catalog import replayed_beside_live

    replayed = replayed_beside_live({p["provider"]: p["source"] for p in report["providers"] if p["last_good_catalog"]})
    if replayed:
        print(f"  replayed beside live (recorded payloads, not fetched live since): {', '.join(replayed)}")
    print("  by modality: " + ", ".join(f"{m} {n}" for m, n in report["modalities"].items()))
    for w in report["writes_without_outcome"]:  # audit rows still 'started' (migration 0021)
        began = w["began"].isoformat(timespec="seconds")
        said = ("in progress" if w["running"] else
                "its session ended with no outcome recorded (its process killed?): "
                + ("it committed, and its change stands" if w["committed"] else "nothing was changed, it rolled back")
                + "; the next write records it")
        print(f"  audit {w['audit_id']}: {w['action']} (run {w['run_id']}) began {began}: {said}")
    return 0


APPROVAL_ARGS = {  # the arguments each destructive job's code is bound to
    "flush_models": (),
    "flush_providers": ("provider_count",),
    "restore_backup": ("backup_id",),
    "reset_and_resync": (),
}


def approve(args: argparse.Namespace) -> int:
    """Print a one-time code approving one destructive job with exactly these arguments."""
    from . import approval

    bound = {name: getattr(args, name) for name in APPROVAL_ARGS[args.job]}
    missing = [approval.option(name) for name, value in bound.items() if value is None]
    if missing:
        print(f"{args.job} codes are bound to {', '.join(missing)}: give the value the run will use", file=sys.stderr)
        return 2
    try:
        code = approval.issue(os.environ.get(approval.SECRET_ENV), args.job, bound)
    except approval.ApprovalRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    print(code)
    what = args.job + (f" with {bound}" if bound else "")
    where = ("`ops: {models_table: {config: {approval: <code>}}}` (the job is models_table in mode reset)"
             if args.job == "reset_and_resync" else "`approval: <code>` at the top of the job's config")
    print(f"approves {what} once, for {approval.DEFAULT_TTL_SECONDS // 60} minutes: put it in the run config as "
          f"{where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelsync", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="sync every provider (or --providers) into PostgreSQL and Redis")
    run_parser.add_argument("--source", choices=SOURCES, default=os.environ.get("MODELSYNC_SOURCE") or "replay")
    run_parser.add_argument("--providers", type=lambda s: [p for p in s.split(",") if p], default=None,
                            help="comma-separated provider slugs; the others keep their last good catalog")
    run_parser.add_argument("--state-dir", default=os.environ.get("MODELSYNC_STATE_DIR", ".modelsync"))
    run_parser.set_defaults(func=run)
    explain_parser = sub.add_parser("explain", help="where did this name come from (reads DATABASE_URL)")
    explain_parser.add_argument("provider", help="provider slug, e.g. openrouter")
    explain_parser.add_argument("model", help="model id, display name or raw upstream name")
    explain_parser.set_defaults(func=explain)
    status_parser = sub.add_parser("status", help="providers, models per provider and modality, last syncs (reads DATABASE_URL)")
    status_parser.set_defaults(func=status)
    approve_parser = sub.add_parser("approve", help="one-time approval code for a destructive job (reads MODELSYNC_ADMIN_TOKEN)")
    approve_parser.add_argument("job", choices=sorted(APPROVAL_ARGS))
    approve_parser.add_argument("--provider-count", type=int, help="flush_providers: the provider_count of its config")
    approve_parser.add_argument("--backup-id", type=int, help="restore_backup: the backup_id of its config")
    approve_parser.set_defaults(func=approve)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`make status | head`): nothing more to say. Python's recipe: point stdout at
        # /dev/null, so the flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - only PostgreSQL's errors are answered here; the rest re-raised
        from .db import MigrationError

        if isinstance(exc, MigrationError):
            print(f"modelsync {args.command}: the catalog schema cannot be brought up to date: {exc}", file=sys.stderr)
            return 2
        problem = _database_problem(exc)
        if problem is None:
            raise
        print(f"modelsync {args.command}: {problem}", file=sys.stderr)
        return 2


# SQLSTATEs of a server that is not there: connection exceptions (class 08), and one shutting down, crashed or
# starting (57P01-57P03). A connection that never opened has none. Any other error is a statement that failed.
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")
# A database that takes no writes fails first in Dagster's run storage, before modelsync's own write can say why.
_READ_ONLY_STATE = "25006"


def _read_only(state: str | None) -> str:
    """What to do, for a statement refused because the database takes no writes; '' for any other."""
    from .writes import READ_ONLY_REMEDY

    return f". The database takes no writes {READ_ONLY_REMEDY}" if state == _READ_ONLY_STATE else ""


def _database_problem(exc: BaseException) -> str | None:
    """What `exc` (or what caused it) says went wrong with PostgreSQL, in one line; None when it is not
    PostgreSQL's: unreachable (psycopg, or dagster-postgres giving up on its run storage), or a statement it
    failed (a statement or lock timeout, ...), which is not the same thing to an operator."""
    import psycopg

    from .urls import redact_url, without_passwords

    url = os.environ.get("DATABASE_URL", "")
    where = redact_url(url) or "DATABASE_URL not set"

    def first_line(error) -> str:  # a URL the driver could not parse is quoted by it in pieces, the password's too
        from .db import first_line

        return without_passwords(first_line(error), url)

    seen = 0
    while exc is not None and seen < 10:
        said = first_line(exc)
        if isinstance(exc, psycopg.Error):
            state = exc.sqlstate
            if state is None and "FATAL:" in str(exc):
                # The server answered and refused the session (no such database or role, authentication): psycopg
                # gives no SQLSTATE for a connection that failed, and "unreachable" sent the operator to the network.
                refused = first_line(str(exc).split("FATAL:", 1)[1]) or said
                return f"PostgreSQL answered but refused the session ({where}): {refused}"
            if state is None or state.startswith(_UNREACHABLE_STATES):
                return f"PostgreSQL is unreachable ({where}): {said}"
            return f"PostgreSQL failed a statement ({where}): {type(exc).__name__}: {said}{_read_only(state)}"
        postgres = sys.modules.get("dagster_postgres.utils")
        if postgres is not None and isinstance(exc, postgres.DagsterPostgresException):
            return f"PostgreSQL is unreachable ({where}): {said}"
        # Dagster's run and event storage: SQLAlchemy over psycopg2, whose error carries the SQLSTATE (none
        # for a server that closed the connection or is not there).
        sqlalchemy = sys.modules.get("sqlalchemy.exc")
        if sqlalchemy is not None and isinstance(exc, sqlalchemy.DBAPIError):
            state = getattr(exc.orig, "pgcode", None)
            cause = first_line(exc.orig)
            if state is None or state.startswith(_UNREACHABLE_STATES):
                return f"PostgreSQL is unreachable ({where}): {cause}"
            return (f"PostgreSQL failed a statement of Dagster's run storage ({where}): {type(exc.orig).__name__}: "
                    f"{cause}{_read_only(state)}")
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def console_main() -> None:
    """The `modelsync` command (and `python -m modelsync_pipeline.cli`): main(), then the process ends without
    tearing the interpreter down. Freeing every module of Dagster, pandas and pandera one by one took 0.7 s
    after a run had printed its summary, every command paid it, and nothing in it is ours to wait for: what an
    exit runs is run here first (threads still working, atexit callbacks: logging's flush among them), then
    the output is flushed. Ctrl-C outside a run is one line and status 130; any other exception out of main()
    takes Python's own way out (its traceback, status 1)."""
    import atexit
    import signal
    import threading

    # A SIGTERM is a stop as Ctrl-C is (Dagster answers it so within a run): before one began, its default ended the
    # process at once, status -15, its embedded servers left running until the next command noticed them. Ignored
    # as inherited (a harness that ignores it), it is a stop all the same, as Dagster makes it within a run.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN):
        signal.signal(signal.SIGTERM, _terminated)
    try:
        code = main()
    except KeyboardInterrupt:  # before a run began or after it ended (a run's own interrupt is in its summary)
        print("modelsync: interrupted (Ctrl-C); nothing after the interrupt was written", file=sys.stderr)
        code = INTERRUPTED
    # What the interpreter waits for before it exits: threading's exit callbacks, then every thread that is not
    # a daemon. The callbacks wake the idle workers of a thread pool left open (a step Dagster abandoned at an
    # interrupt); joined without them first, the command waited for those workers for ever.
    threading._shutdown()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after main() returned (`make status | head`): as main() does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.stderr.flush()
    os._exit(code)


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    console_main()
