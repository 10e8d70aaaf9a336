"""Staging one provider's validated catalog as its latest good one (`sql/stage_catalog.sql`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterable

import psycopg
import psycopg.sql

from .. import faults
from ..providers.registry import ProviderSpec
from .locks import read_committed, wait_behind_writes
from .statements import statements

if TYPE_CHECKING:  # pandas is imported by the steps that stage, not by every load of the code location
    import pandas as pd


def row_keys(frame: pd.DataFrame):
    """One 64-bit key per row: the first 8 bytes of its content_hash, an md5 over every column including
    model_id (catalog.content_hash), so a key stands for the row's id and content together."""
    import numpy as np

    digests = bytes.fromhex("".join(frame["content_hash"].tolist()))
    return np.frombuffer(digests, dtype="<u8")[::2] if digests else np.zeros(0, dtype="<u8")


def catalog_checksum(frame: pd.DataFrame) -> str:
    """The catalog's rows summarised independently of their order: the row count and the sum and xor of
    their keys. Equal catalogs give equal checksums; any changed row changes it but with odds of 2**-64."""
    return _checksum_of(row_keys(frame))


def _checksum_of(keys) -> str:
    import numpy as np

    total = int(keys.sum(dtype=np.uint64))  # numpy wraps modulo 2**64
    folded = int(np.bitwise_xor.reduce(keys)) if len(keys) else 0
    return f"{len(keys)}:{total:016x}:{folded:016x}"


@dataclass(frozen=True)
class StageResult:
    slug: str
    row_count: int
    changed: bool
    previous_row_count: int | None
    superseded_by: str | None = None  # not staged: why (a catalog fetched later is staged already)


_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str).encode  # one encoder, not one per row


def _nullable(column: pd.Series, dtype: str) -> list:
    """The column as Python scalars of `dtype` ("Int64" gives ints, "float64" floats) with None for NA,
    converted by pandas column-wise rather than a value at a time."""
    return column.astype(dtype).astype(object).where(column.notna(), None).tolist()


def _text_array(values) -> str:
    """A list of strings as a PostgreSQL array literal: each element quoted, with its backslashes and double
    quotes escaped (array input syntax). COPY then escapes the literal as it does any text field. Built
    here because psycopg's list dumper inspects every list in Python (about half of the encoding time)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


# Rows encoded per step of copy_rows: the server parses one step's rows while the next is encoded.
COPY_CHUNK_ROWS = 4096


def copy_rows(frame: pd.DataFrame, run_id: str) -> Iterable[tuple]:
    """The frame as COPY tuples in `provider_catalogs` column order, built column-wise (~4x faster than
    itertuples): every value is a str, int, float, bool or None, so psycopg formats the row in C; the
    jsonb and text[] columns are sent as their text input. Encoded COPY_CHUNK_ROWS at a time, as the COPY
    consumes them: encoded whole first, the server sat idle while a catalog's columns were encoded (a first
    stage of 1M rows in 10 catalogs: 6.8-7.1 s against 7.0-7.8 s in A/B runs here, the raw COPY beside them
    varying 5.2-7.7 s: a small gain, within this machine's noise)."""
    for start in range(0, len(frame), COPY_CHUNK_ROWS):
        yield from _copy_chunk(frame.iloc[start:start + COPY_CHUNK_ROWS], run_id)


def _copy_chunk(frame: pd.DataFrame, run_id: str) -> Iterable[tuple]:
    n = len(frame)
    return zip(
        frame["provider_slug"].tolist(),
        frame["model_id"].tolist(),
        frame["model_name"].tolist(),
        _nullable(frame["context_length"], "Int64"),
        _nullable(frame["input_price_per_mtok"], "float64"),
        _nullable(frame["output_price_per_mtok"], "float64"),
        frame["modality"].tolist(),
        [bool(v) for v in frame["is_free"]],
        frame["quantization"].tolist(),
        frame["release_stage"].tolist(),
        [_JSON(v) for v in frame["metadata"]],  # the server parses it; no per-row adapter object
        frame["raw_name"].tolist(),
        frame["name_rule"].tolist(),
        [_text_array(v) for v in frame["name_steps"]],
        [run_id] * n,
        frame["content_hash"].tolist(),
    )


# A provider's pending changes (migration 0013) are folded into its staged rows once they outnumber this
# fraction of its catalog.
FOLD_FRACTION = 0.1


SOURCES = ("live", "replay", "static")  # where a catalog came from (migration 0014)


def stage_provider_catalog(conn: psycopg.Connection, spec: ProviderSpec, frame: pd.DataFrame, run_id: str,
                           source: str | None = None, *, fetched_at: datetime | None = None) -> StageResult:
    """Make `frame` (already validated) the provider's latest good catalog, in one transaction.

    A catalog identical to the staged one is not touched. Otherwise only the rows that differ are
    written: the ids that left the catalog and the rows new or changed are listed as changes, laid over
    the staged rows (migration 0013), so unchanged rows keep the run that wrote them and a 1%-changed
    catalog writes about 1% of its rows, once. The pending changes are folded into the staged rows once
    they outnumber FOLD_FRACTION of the catalog. `source` (one of SOURCES) is recorded with the catalog,
    an unchanged one included; None: not known.

    `fetched_at` (aware) is when the catalog's fetch began. A catalog fetched before the one staged (another
    run fetched the provider later and staged first) is not staged: the attempt is recorded as 'superseded'
    and the result says by what (superseded_by), so the newer catalog stays. None: no order is known, staged.
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if fetched_at is not None and fetched_at.utcoffset() is None:
        raise ValueError(f"fetched_at must say its time zone (an aware datetime), not {fetched_at!r}")
    import pandas as pd

    sql = statements("stage_catalog")
    keys = row_keys(frame)
    key_index = pd.Index(keys)
    unique_keys = key_index.is_unique  # two rows sharing a key (md5 prefix) cannot be told apart by it
    checksum = _checksum_of(keys)
    params = {"slug": spec.slug, "run_id": run_id, "row_count": len(frame), "checksum": checksum,
              "row_keys": keys.tobytes() if unique_keys else None, "whole": True, "source": source,
              "fetched_at": fetched_at}
    with conn.transaction():
        read_committed(conn)
        wait_behind_writes(conn, sql["lock"], params)
        current = conn.execute(sql["current_checksum"], params).fetchone()
        previous_rows = current[1] if current else None
        why = _superseded(current, fetched_at)
        if why is not None:
            _record_superseded(conn, spec.slug, run_id, why, params["row_count"])
            return StageResult(spec.slug, params["row_count"], False, previous_rows, superseded_by=why)
        changed = current is None or current[0] != checksum
        if changed:
            staged_keys, has_rows = conn.cursor(binary=True).execute(sql["staged_keys"], params).fetchone()
            if staged_keys is not None and unique_keys:
                stale_keys, frame = _diff_against_staged(staged_keys, frame, key_index)
                stale_ids = [r[0] for r in conn.execute(sql["stale_ids"], {**params, "keys": stale_keys})]
                removed_ids = sorted(set(stale_ids).difference(frame["model_id"].tolist()))
                # What this stage removed, added and changed: for the refresh's delta path, and laid over the
                # staged rows as the catalog's new state until folded into them.
                if removed_ids:
                    with conn.cursor().copy(sql["copy_removed"]) as copy:
                        for model_id in removed_ids:
                            copy.write_row((spec.slug, model_id, True))
                with conn.cursor().copy(sql["copy_changed"]) as copy:
                    for values in copy_rows(frame, run_id):
                        copy.write_row(values)
                params["whole"] = False
                faults.point("stage:after_clear")  # (nothing is cleared on this path: the changes are listed)
                pending = conn.execute(sql["pending_changes"], params).fetchone()[0]
                if pending > FOLD_FRACTION * params["row_count"]:
                    conn.execute(sql["whole_catalog_plans"])  # the fold joins the whole catalog with its changes
                    conn.execute(sql["fold_delete"], params)
                    conn.execute(sql["fold_insert"], params)
                    faults.point("stage:after_fold")
                    conn.execute(sql["fold_mark"], params)
                conn.execute(sql["prune_changes"], params)
            else:
                rows = copy_rows(_in_id_order(frame), run_id)  # a whole catalog: streamed
                if has_rows:  # no keys to compare with (or two rows share one): replace whole, refresh in full
                    conn.execute(sql["delete_all"], params)
                    conn.execute(sql["forget_delta"], params)
                # A provider's first catalog goes into a new table of its own, attached once full (migrations 0012,
                # 0018); any later whole catalog into its partition, through the row-key index.
                new_partition = None
                if not conn.execute(sql["has_partition"], params).fetchone()[0]:
                    new_partition = conn.execute(sql["create_partition"], params).fetchone()[0]
                faults.point("stage:after_clear")
                into = psycopg.sql.Identifier(new_partition or "provider_catalogs")
                with conn.cursor().copy(psycopg.sql.SQL(sql["copy"]).format(into)) as copy:
                    for values in rows:
                        copy.write_row(values)
                if new_partition is not None:
                    conn.execute(sql["attach_partition"], params)
            faults.point("stage:after_copy")
            conn.execute(sql["record_version"], params)
        else:
            conn.execute(sql["record_unchanged"], params)
        conn.execute(
            sql["record_attempt"],
            {**params, "outcome": "staged" if changed else "unchanged", "step": "stage", "error": None},
        )
    return StageResult(spec.slug, params["row_count"], changed, previous_rows)


def _superseded(current: tuple | None, fetched_at: datetime | None) -> str | None:
    """Why a catalog fetched at `fetched_at` is not staged over the staged one (`current`: the current_checksum
    row), or None: it is later, or either time is unknown."""
    if fetched_at is None or current is None or current[2] is None or fetched_at >= current[2]:
        return None
    return (f"fetched at {fetched_at.isoformat()}, before the staged catalog's latest fetch "
            f"({current[2].isoformat()}); that catalog (staged by run {current[3]}) stays")


def superseded(conn: psycopg.Connection, slug: str, run_id: str, fetched_at: datetime | None) -> str | None:
    """Before a fetched catalog is checked against the staged one: if that one was fetched later (another run
    staged it meanwhile), records this attempt as 'superseded' and says why; None otherwise. The checks
    compare with the staged catalog, so an older fetch must not reach them: a newer catalog another run
    forced through would fail the older one's shrink or truth check. stage_provider_catalog asks again
    under the provider's lock."""
    if fetched_at is None:
        return None
    sql = statements("stage_catalog")
    why = _superseded(conn.execute(sql["current_checksum"], {"slug": slug}).fetchone(), fetched_at)
    if why is not None:
        _record_superseded(conn, slug, run_id, why, None)
    return why


def _record_superseded(conn: psycopg.Connection, slug: str, run_id: str, why: str, row_count: int | None) -> None:
    """This run's attempt at the provider, recorded as 'superseded' (nothing staged) with why; row_count: the
    catalog's models, None before it is built."""
    conn.execute(statements("stage_catalog")["record_attempt"],
                 {"slug": slug, "run_id": run_id, "outcome": "superseded", "row_count": row_count, "step": "stage",
                  "error": why})


def _as_bigints(keys):
    """Row keys (row_keys) as staging's index holds them: the same 8 bytes read big-endian and signed,
    PostgreSQL's ('x' || 16 hex digits)::bit(64)::bigint (migration 0007)."""
    import numpy as np

    return np.frombuffer(keys.tobytes(), dtype=">i8")


def _in_id_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's rows by model_id (as they come, when a provider lists them so already). A whole catalog is
    staged in this order, and a first load's models rows and their history are read from staging in it, so the
    refresh's unique indexes on model_id are built from presorted rows: at 1M models the models index took
    1.2 s instead of 1.7 s in row-key order, the history one 1.1 s instead of 2.1 s (PostgreSQL 15, this
    machine). The order is an optimisation only; nothing depends on it."""
    import numpy as np

    ids = frame["model_id"]
    if ids.is_monotonic_increasing:
        return frame
    return frame.take(np.argsort(ids.to_numpy(dtype=object), kind="stable"))


def _diff_against_staged(staged_keys: bytes, frame: pd.DataFrame, key_index: pd.Index) -> tuple[list[int], pd.DataFrame]:
    """(keys of the staged rows that left or changed, as bigints; the rows to list as changes) against the
    staged catalog, compared on row keys alone: the new catalog's keys (key_index, unique, so its hash table
    is built once and serves both directions) looked up, vectorised; no staged row is read."""
    import numpy as np

    staged = np.frombuffer(staged_keys, dtype="<u8")
    found = key_index.get_indexer(staged)  # each staged key's row in the new catalog, -1: not in it
    stale = staged[found < 0]              # left the catalog, or its content changed
    differs = np.ones(len(key_index), dtype=bool)
    differs[found[found >= 0]] = False     # new, or its content changed
    return _as_bigints(stale).tolist(), frame[differs]


def last_good_row_count(conn: psycopg.Connection, slug: str) -> int | None:
    row = conn.execute(statements("stage_catalog")["last_good_row_count"], {"slug": slug}).fetchone()
    return row[0] if row else None


def last_good_facts(conn: psycopg.Connection, slug: str) -> dict[str, tuple]:
    """model_id -> (context_length, input price, output price) of the provider's last good catalog."""
    sql = statements("stage_catalog")
    with conn.transaction():
        conn.execute(sql["whole_catalog_plans"])
        rows = conn.execute(sql["last_good_facts"], {"slug": slug}).fetchall()
    return {model_id: (context, input_price, output_price) for model_id, context, input_price, output_price in rows}


# The outcomes of a provider's attempt that brought no catalog (record_failed_attempt); the others are "staged",
# "unchanged" and "superseded". The table keeps such a provider's last good catalog.
FAILED_OUTCOMES = ("fetch_failed", "check_failed", "process_failed")


def record_failed_attempt(conn: psycopg.Connection, slug: str, run_id: str, outcome: str, step: str, error: str) -> None:
    """The audit row of a provider that failed. `error` may quote upstream text (an exception's message): a NUL
    or a lone surrogate in it, which text refuses, is stored as a visible escape or U+FFFD (catalog.storable,
    catalog.encodable), so recording the failure cannot fail in turn."""
    from ..catalog import encodable, storable

    if outcome not in FAILED_OUTCOMES:
        raise ValueError(f"{outcome!r} is not a failed outcome (one of {', '.join(FAILED_OUTCOMES)})")

    with conn.transaction():
        conn.execute(
            statements("stage_catalog")["record_attempt"],
            {"slug": slug, "run_id": run_id, "outcome": outcome, "row_count": None, "step": step,
             "error": storable(encodable(error[:4000]))},
        )


def server_time(conn: psycopg.Connection) -> datetime:
    """The database server's clock (aware): what fetch times are measured against (migration 0015)."""
    return conn.execute(statements("stage_catalog")["server_time"]).fetchone()[0]


def staged_providers(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(statements("stage_catalog")["staged_providers"])]
