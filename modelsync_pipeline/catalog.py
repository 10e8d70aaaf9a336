"""From raw provider records to one provider catalog in the common schema (pure: no I/O, no Dagster).

Every row keeps its lineage: the raw upstream value the name came from, which seed rule produced it, the
cleaning steps, and the untouched upstream record in `metadata`. `content_hash` fingerprints everything a
reader can see, so the refresh can tell an unchanged row from a changed one without comparing columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from typing import Any

import pandas as pd

from .naming import DisplayName, make_names_unique, resolve_display_name
from .providers.parsers import UpstreamModel, reading_problems, shown_value
from .providers.registry import ProviderSpec

COLUMNS = [
    "provider_slug",
    "model_id",
    "model_name",
    "raw_name",
    "name_rule",
    "name_steps",
    "context_length",
    "input_price_per_mtok",
    "output_price_per_mtok",
    "modality",
    "is_free",
    "quantization",
    "release_stage",
    "metadata",
    "content_hash",
]
# What `content_hash` covers: all of the above but the hash itself.
HASHED_COLUMNS = COLUMNS[:-1]
# The column beside them that says what in a record could not be read (schema.CatalogSchema refuses it).
PROBLEMS = "reading_problems"


def _parse(spec: ProviderSpec, record: Any, where: str) -> UpstreamModel:
    """The parser's reading of one record, with the problems noted while reading it (a value sent in a form no
    rule reads). A record it cannot read at all becomes a row whose problem says why and which record it is
    (`where`, "record 3 of 120"), under the record's id (`spec.id_key`) when it has one (for the report only: the
    contract refuses any row with a problem), instead of one bad record crashing the whole catalog."""
    if not isinstance(record, dict):
        return UpstreamModel(model_id=None, upstream={"unparsable_record": repr(record)[:500]},
                             problems=(f"{spec.slug} {where}: the record is {_described(record)}, not an object",))
    with reading_problems() as problems:
        try:
            model = spec.parse(record)
        except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            return UpstreamModel(model_id=record.get(spec.id_key),
                                 upstream={"unparsable_record": repr(record)[:500], "parse_error": error},
                                 problems=(f"{spec.slug} {where}: the parser could not read the record: {error}",))
    return dataclasses.replace(model, problems=tuple(problems)) if problems else model


def _kept(spec: ProviderSpec, record: Any) -> bool:
    """Whether the spec's documented filter keeps the record. A filter that cannot read a record fails the
    catalog naming the record, rather than crashing without a name or guessing."""
    if spec.keep is None or not isinstance(record, dict):
        return True
    try:
        return bool(spec.keep(record))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ValueError(f"the filter ({spec.keep_rule}) could not read the record with id "
                         f"{record.get(spec.id_key)!r}: {type(exc).__name__}: {exc}") from exc


def _model_id(value: Any) -> str | None:
    """Only a non-blank string is an id; anything else leaves the row without one, and _id_problem says why."""
    if isinstance(value, str) and value.strip() and "\x00" not in value:
        return value
    return None


_ABSENT = object()  # an id field the record does not have, told apart from one sent as null
_KINDS = ((bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "a list"), (dict, "an object"))


def _described(value: Any) -> str:
    """A decoded JSON value in JSON's words, with the value: "null", "a number, 123", "a string, 'x'", "a boolean,
    true". Python's ("a NoneType", "a str") tell an operator reading a provider's payload nothing."""
    if value is None:
        return "null"
    kind = next((kind for types, kind in _KINDS if isinstance(value, types)), f"a {type(value).__name__}")
    shown = json.dumps(value) if isinstance(value, bool) else shown_value(value)
    return f"{kind}, {shown}"


# A number is refused as an id, not read as its string form: no registered provider sends one (every recorded
# payload and PROVIDERS.md have string ids), so 123 where "gpt-4o" belongs is a malformed payload, and "123" an
# id no request would reach. A provider whose API does use whole-number ids converts them in its own parser.
def _id_found(value: Any) -> str | None:
    """What an id field holds, in an operator's words, when it is no id; None when it is one."""
    if value is _ABSENT:
        return "is missing"
    if value is None:
        return "is null"
    if isinstance(value, str):
        if value == "":
            return "is an empty string"
        if not value.strip():
            return f"is a blank string, {shown_value(value)}"
        if "\x00" in value:
            return f"holds a NUL character, {shown_value(value)}, which no text column can store"
        if "\ufffd" in value:
            # encodable() puts U+FFFD where a lone surrogate was ("\ud800" is valid JSON, and a provider can take
            # it back in a JSON request): stored so, the id would be one the provider does not list.
            return (f"holds U+FFFD, {shown_value(value)}, where a character was lost (a lone UTF-16 surrogate such "
                    "as \"\\ud800\", which no UTF-8 text can hold), so it is not the id the provider lists")
        return None
    return f"is {_described(value)}, where a string was expected"


def _id_problem(spec: ProviderSpec, record: Any, model: UpstreamModel, where: str) -> str | None:
    """The reading problem of a record whose id is missing, null, blank or not a string, naming the provider,
    the record (`where`, and its name when it has one) and what its id field holds; None when the id is usable.
    Without it the contract saw only an empty id and reported its consequences (not_nullable, a duplicate of
    every other empty id), never the cause."""
    if not isinstance(record, dict):
        return None  # reported by _parse: the record is no object at all
    raw = record.get(spec.id_key, _ABSENT)
    found = _id_found(raw)
    if found is None and _model_id(model.model_id) is None:  # the parser's reading of a usable value is empty
        found = f"is {shown_value(raw)}, which reads as the id {shown_value(model.model_id)}"
    if found is None:
        return None
    name = next((n for n in (model.display_name, model.name) if isinstance(n, str) and n.strip()), None)
    named = f" ({shown_value(name)})" if name is not None else ""
    return f"{spec.slug} {where}{named}: its id field {spec.id_key!r} {found}"


def storable(value: Any) -> Any:
    """The value with what PostgreSQL cannot hold made visible instead of fatal.

    text and jsonb refuse NUL characters and JSON refuses NaN/Infinity; a hostile payload may carry
    either. Lineage keeps them as visible escapes ("\\u0000", "NaN") rather than dropping the record.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


# Deeper than this, a part of an upstream record is kept as a marker, not as data: JSON allows ~990 levels, and
# every walk of a record (this one, storable, the hashing) would otherwise run out of Python's stack on it.
MAX_NESTING = 64
TOO_DEEP = f"[nested deeper than {MAX_NESTING} levels: not kept]"


def encodable(value: Any, depth: int = 0) -> Any:
    """The upstream value with every lone UTF-16 surrogate replaced by U+FFFD, as a UTF-8 decoder replaces a
    broken sequence. JSON may escape one ("\\ud800"), json.loads keeps it, and no UTF-8 text can hold it:
    left in, it failed the catalog's hashing and would fail PostgreSQL's text and jsonb. A part nested deeper
    than MAX_NESTING becomes the visible marker TOO_DEEP."""
    if depth > MAX_NESTING and isinstance(value, (dict, list, tuple)):
        return TOO_DEEP
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {encodable(k): encodable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(v, depth + 1) for v in value]
    return value


def content_hash(row: dict) -> str:
    material = json.dumps([row[c] for c in HASHED_COLUMNS], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.md5(material.encode("utf-8"), usedforsecurity=False).hexdigest()


def build_catalog(spec: ProviderSpec, records: list[Any]) -> pd.DataFrame:
    """One row per upstream record kept by the spec's documented filter, names resolved and unique."""
    fetched = [encodable(record) for record in records]
    # Each record's place in the list as fetched, for a report that names it: the steps below drop records but
    # keep the objects (encodable made a new one per object), so an object is found by identity. Any other
    # record (null, a number: shared objects) is never dropped, and keeps its order.
    places = {id(record): place for place, record in enumerate(fetched, 1) if isinstance(record, dict)}
    other_places = iter([place for place, record in enumerate(fetched, 1) if not isinstance(record, dict)])
    records = _without_repeats(fetched)
    kept = [r for r in records if _kept(spec, r)]
    if spec.duplicates_keep_largest:
        kept = _newest_per_id(spec, kept)
    parsed = []
    for record in kept:
        place = places[id(record)] if isinstance(record, dict) else next(other_places)
        where = f"record {place} of {len(fetched)}"
        model = _parse(spec, record, where)
        problem = _id_problem(spec, record, model, where)
        # First among the row's problems: it explains the row's other failed checks, and a report cut short keeps it.
        parsed.append(dataclasses.replace(model, problems=(problem, *model.problems)) if problem else model)

    named: list[tuple[str | None, DisplayName | None]] = []
    for model in parsed:
        model_id = _model_id(model.model_id)
        if model_id is None:
            named.append((None, None))
            continue
        named.append((model_id, resolve_display_name(model_id, display_name=model.display_name, name=model.name)))

    valid = [(mid, dn) for mid, dn in named if mid is not None]
    unique = iter(make_names_unique(valid))

    rows = []
    for model, (model_id, _) in zip(parsed, named):
        display = next(unique) if model_id is not None else None
        row = {
            "provider_slug": spec.slug,
            "model_id": model_id,
            "model_name": display.name if display else None,
            "raw_name": storable(display.raw if display else _raw_text(model)),
            "name_rule": display.rule if display else "invalid",
            "name_steps": list(display.steps) if display else [],
            "context_length": model.context_length,
            "input_price_per_mtok": model.input_price_per_mtok,
            "output_price_per_mtok": model.output_price_per_mtok,
            "modality": model.modality,
            "is_free": bool(model.is_free or (display.is_free if display else False)),
            "quantization": display.quantization if display else None,
            "release_stage": display.release_stage if display else None,
            "metadata": storable(model.upstream),
        }
        row["content_hash"] = content_hash(row)
        rows.append(row)

    frame = pd.DataFrame(rows, columns=COLUMNS)
    # What could not be read, per row ("" when nothing): checked by the contract, never hashed nor staged.
    frame[PROBLEMS] = pd.Series(["; ".join(model.problems) for model in parsed], index=frame.index, dtype=object)
    frame["context_length"] = frame["context_length"].astype("Int64")
    for column in ("input_price_per_mtok", "output_price_per_mtok"):
        frame[column] = frame[column].astype("float64")
    frame["is_free"] = frame["is_free"].astype(bool)
    return frame


def _without_repeats(records: list[Any]) -> list[Any]:
    """The records as listed, each exact repeat of an earlier one left out. A list read across pages holds a
    record twice when the listing shifts between two requests, and one record listed twice is one model: a
    duplicate id must not block a catalog for that (the old system's batches failed on it). Two different
    records under one id are both kept, for the contract to refuse: which of them is the model is not ours to
    guess (unless the spec says, `duplicates_keep_largest`)."""
    seen: set[str] = set()
    unique = []
    for record in records:
        if isinstance(record, dict):
            key = json.dumps(record, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
        unique.append(record)
    return unique


def _newest_per_id(spec: ProviderSpec, records: list[Any]) -> list[Any]:
    """One record per model id: the one with the latest `spec.duplicates_keep_largest` (first on ties). When a
    duplicate's value is not a time this can read (a boolean, a word, "31/12/2024"), none of that id's records is
    picked: all are kept, and the contract reports the id listed twice, naming it."""
    field = spec.duplicates_keep_largest
    by_id: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        model_id = _model_id(_parse(spec, record, "record").model_id)
        if model_id is not None:
            by_id.setdefault(model_id, []).append(index)
    dropped: set[int] = set()
    for indexes in by_id.values():
        if len(indexes) < 2:
            continue
        moments = [_moment(records[i].get(field)) for i in indexes]
        if any(moment is None for moment in moments):
            continue
        newest = max(range(len(indexes)), key=lambda k: (moments[k], -k))
        dropped |= {i for k, i in enumerate(indexes) if k != newest}
    return [r for i, r in enumerate(records) if i not in dropped]


_EPOCH_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


_EPOCH_UNITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # (from this size on, units per second): ns, us, ms


def _moment(value: Any) -> float | None:
    """A registration time as seconds: an epoch number in s, ms, us or ns (or its digits as text) or an ISO 8601
    date; None for anything else (a boolean, a list, a date in another order), which is not ordered against the
    others. A registration without one is the oldest."""
    if value is None or value == "":
        return -math.inf
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and _EPOCH_TEXT.fullmatch(value.strip())):
        try:
            moment = float(value)
        except OverflowError:  # an int too large for a float: no time
            return None
        if not math.isfinite(moment):
            return None  # "9" * 400 reads as inf
        # Milliseconds, microseconds or nanoseconds since the epoch, told by their size: 1e11 seconds is the year
        # 5138, 1e11 milliseconds 1973. Read as seconds, 1600000000000 (2020, in ms) won over 1749184855 (2025).
        for bound, per_second in _EPOCH_UNITS:
            if abs(moment) >= bound:
                return moment / per_second
        return moment
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()
    return None


def _raw_text(model: UpstreamModel) -> str | None:
    for value in (model.display_name, model.name, model.model_id):
        if value is not None:
            return str(value)[:1000]
    return None
