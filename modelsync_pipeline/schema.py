"""The pandera contract every provider catalog must meet before it is written anywhere.

Validation is lazy, so a failing catalog is reported whole: `validate_catalog` returns every offending
row with its model id, the raw upstream name, the name the rule derived and the rule that derived it.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .naming import BRACKET_CHARACTERS, NAME_MAX_LENGTH, is_invisible
from .providers.parsers import MODALITIES

NAME_RULES = ("display_name", "name", "derived_from_id")
MODEL_ID_MAX_LENGTH = 512
# models' prices are numeric(20, 6): 14 digits before the point. A larger "price" is refused here, naming the
# model, instead of failing the stage with a numeric overflow that names nothing.
PRICE_MAX = 10**14 - 1
# The most a price per 1M tokens may be: 16 times the dearest model listed anywhere (o1-pro, $600 for output). A
# price per 1M (or 1K) tokens sent in a field per token reads as a million (a thousand) times itself ("2.5" was
# $2,500,000), which the truth guard holds back only for a model the last good catalog had: a new model, or a
# provider's first catalog, was published with it. Far below PRICE_MAX, so it refuses those prices too.
PLAUSIBLE_PRICE_MAX = 10_000
PRICE_CHECK = f"price_per_1m_tokens_at_most_{PLAUSIBLE_PRICE_MAX}"
# The least context a text or multimodal model may list, in tokens. Every such model recorded lists 2,048 or more
# (a whisper lists 448, an embedder 512: not text); a context sent in thousands reads as 4 to 200 ("128" for 128k),
# which the truth guard holds back only against a last good catalog: a provider's first one published it.
PLAUSIBLE_TEXT_CONTEXT_MIN = 256
CONTEXT_CHECK = f"text_model_context_at_least_{PLAUSIBLE_TEXT_CONTEXT_MIN}"
# The check refusing a row with a value that could not be read: listed first in a report, as it explains the rest.
READING_CHECK = "values_readable"

# What a clean display name never contains; each is its own check so a report says which rule broke.
# ": " after the first word, or a full-width "：" (written without a space in CJK text; naming reads it as ":").
COMPANY_PREFIX = re.compile(r"^[^:\uff1a\s][^:\uff1a]*(?::\s|\uff1a)")
CONTROL_OR_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def has_invisible(text: str) -> bool:
    """Whether `text` holds a character a reader cannot see (naming.is_invisible: by Unicode category, and the
    fillers that render as nothing)."""
    if CONTROL_OR_INVISIBLE.search(text):
        return True
    return not text.isascii() and any(is_invisible(c) for c in text if not c.isascii())


class CatalogSchema(pa.DataFrameModel):
    provider_slug: Series[str] = pa.Field(str_matches=r"^[a-z0-9][a-z0-9-]*$")
    model_id: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": MODEL_ID_MAX_LENGTH})
    model_name: Series[str] = pa.Field(str_length={"min_value": 1})
    raw_name: Series[str] = pa.Field(nullable=True)
    name_rule: Series[str] = pa.Field(isin=NAME_RULES)
    context_length: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    input_price_per_mtok: Series[float] = pa.Field(ge=0, nullable=True)
    output_price_per_mtok: Series[float] = pa.Field(ge=0, nullable=True)
    modality: Series[str] = pa.Field(isin=MODALITIES)
    is_free: Series[bool]
    content_hash: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{32}$")  # md5 hex: its first 8 bytes key the row
    # What the parser could not read in the row's record (catalog.build_catalog): "" when nothing.
    reading_problems: Optional[Series[str]]

    @pa.check("reading_problems", name=READING_CHECK, element_wise=True)
    def values_readable(cls, problems: str) -> bool:
        return problems == ""

    @pa.check("input_price_per_mtok", "output_price_per_mtok", name=PRICE_CHECK, element_wise=True)
    def price_plausible(cls, price: float) -> bool:
        return price <= PLAUSIBLE_PRICE_MAX

    @pa.check("model_id", name="id_without_padding_or_invisible_characters", element_wise=True)
    def id_is_clean(cls, model_id: str) -> bool:
        """An id is sent back upstream as given: "gpt-4 " or "gpt-4\u200b" beside "gpt-4" would be two models
        that look alike in every listing, one of which no request reaches."""
        return model_id == model_id.strip() and not has_invisible(model_id)

    @pa.check("model_name", name="no_company_prefix", element_wise=True)
    def no_company_prefix(cls, name: str) -> bool:
        return not COMPANY_PREFIX.match(name)

    @pa.check("model_name", name="no_brackets", element_wise=True)
    def no_brackets(cls, name: str) -> bool:
        return not any(ch in name for ch in BRACKET_CHARACTERS)

    @pa.check("model_name", name="no_padding_or_double_spaces", element_wise=True)
    def no_padding(cls, name: str) -> bool:
        return name == name.strip() and "  " not in name

    @pa.check("model_name", name="no_control_characters", element_wise=True)
    def no_control_characters(cls, name: str) -> bool:
        return not has_invisible(name)

    @pa.check("model_name", name="no_id_path_characters", element_wise=True)
    def no_id_path_characters(cls, name: str) -> bool:
        """No "/" or "@": a name that has them carries an id ("vendor/x/model-a", "@cf/...")."""
        return "/" not in name and "@" not in name

    @pa.check("model_name", name="no_doubled_word", element_wise=True)
    def no_doubled_word(cls, name: str) -> bool:
        words = [w.casefold() for w in name.split()]
        return not any(a == b and any(c.isalpha() for c in a) for a, b in zip(words, words[1:]))

    @pa.check("model_name", name="name_within_length_limit", element_wise=True)
    def name_within_length_limit(cls, name: str) -> bool:
        return len(name) <= NAME_MAX_LENGTH

    # The checks that compare rows leave out a row without an id (or name): its reading problem says why it has
    # none, and one missing id is no duplicate of another, nor another model's id.

    @pa.dataframe_check(name="name_is_not_another_models_id")
    def name_is_not_another_models_id(cls, frame: pd.DataFrame) -> Series[bool]:
        """A name equal to the raw id of ANOTHER model of the provider is an id passed through unnamed."""
        ids = set(frame["model_id"].dropna())
        other_ids = frame["model_name"].isin(ids) & (frame["model_name"] != frame["model_id"])
        return ~(other_ids & frame["model_name"].notna())

    @pa.dataframe_check(name="unique_provider_model_id")
    def unique_model_id(cls, frame: pd.DataFrame) -> Series[bool]:
        return ~(frame.duplicated(["provider_slug", "model_id"], keep=False) & frame["model_id"].notna())

    @pa.dataframe_check(name="ids_that_read_alike")
    def ids_that_read_alike(cls, frame: pd.DataFrame) -> Series[bool]:
        """Two ids equal once Unicode-normalised (NFKC: "modèle" composed and decomposed, full-width "ｇｐｔ-4o"
        and "gpt-4o") are two rows every listing shows as one model, only one of which a request reaches.
        (Ids that differ in case are real: SiliconFlow lists "Pro/zai-org/glm-5.1" and "Pro/zai-org/GLM-5.1".)"""
        ids = frame["model_id"]
        normalised = ids.map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v)
        alike = frame.assign(_n=normalised).duplicated(["provider_slug", "_n"], keep=False)
        exact = frame.duplicated(["provider_slug", "model_id"], keep=False)
        return ~(alike & ~exact & ids.notna())

    @pa.dataframe_check(name=CONTEXT_CHECK)
    def text_context_plausible(cls, frame: pd.DataFrame) -> Series[bool]:
        context = frame["context_length"].astype("Float64")
        short = frame["modality"].isin(("text", "multimodal")) & (context < PLAUSIBLE_TEXT_CONTEXT_MIN).fillna(False)
        return ~short.astype(bool)

    @pa.dataframe_check(name="free_model_without_a_price")
    def free_model_without_a_price(cls, frame: pd.DataFrame) -> Series[bool]:
        """A model marked free (a ":free" id, "(free)" in its name, the provider's own flag) that lists a price
        above 0 gives two answers to what it costs: served as free, its calls would be billed at nothing while
        the provider charges for them."""
        priced = (frame["input_price_per_mtok"].fillna(0) > 0) | (frame["output_price_per_mtok"].fillna(0) > 0)
        return ~(frame["is_free"].astype(bool) & priced)

    @pa.dataframe_check(name="unique_provider_model_name")
    def unique_model_name(cls, frame: pd.DataFrame) -> Series[bool]:
        return ~(frame.duplicated(["provider_slug", "model_name"], keep=False) & frame["model_name"].notna())

    class Config:
        strict = False  # lineage columns (name_steps, metadata, ...) ride along unchecked
        coerce = False


@dataclass(frozen=True)
class Violation:
    row: int
    model_id: str | None
    raw_name: str | None
    model_name: str | None
    rule: str | None
    check: str
    column: str | None
    detail: str | None = None  # what could not be read (values_readable)
    value: str | None = None  # the value a column's check refused ("15000.0" for a price above the bound)

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "model_id": _short(self.model_id),
            "raw_name": _short(self.raw_name),
            "model_name": _short(self.model_name),
            "rule": self.rule,
            "check": self.check,
            "column": self.column,
            "value": _short(self.value),
            "detail": _short(self.detail, 300),
        }


def _short(value, limit: int = 120):
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def validate_catalog(frame: pd.DataFrame) -> list[Violation]:
    """Every violation in the catalog, one per (row, check); an empty list means it may be written. The reading
    problems come first, by row, then the rest by row: a value that could not be read (an id sent as a number)
    explains the other checks its row fails (not_nullable...), and a report cut short must keep the cause."""
    try:
        CatalogSchema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    violations: dict[tuple, Violation] = {}
    for case in cases.itertuples(index=False):
        index = case.index
        check = str(case.check)
        column = case.column if isinstance(case.column, str) else None
        if index is None or (isinstance(index, float) and index != index):
            # a column-level failure (missing column, wrong dtype): no row to point at
            violations[(-1, check, column)] = Violation(-1, None, None, None, None, check, column)
            continue
        row = frame.loc[index]
        key = (int(index), check)
        if key in violations:
            # A whole-row check is reported once per column by pandera: one violation, no column.
            violations[key] = dataclasses.replace(violations[key], column=None)
            continue
        violations[key] = Violation(
            row=int(index),
            model_id=row.get("model_id"),
            raw_name=row.get("raw_name"),
            model_name=row.get("model_name"),
            rule=row.get("name_rule"),
            check=check,
            column=column,
            detail=row.get("reading_problems") or None,
            # A column's check names the value it refused; the report named only the check ("'acme/md'
            # price_per_1m_tokens_at_most_10000"), and the operator looked the value up elsewhere.
            value=None if column is None else str(case.failure_case),
        )
    return sorted(violations.values(), key=lambda v: (v.check != READING_CHECK, v.row, v.check))
