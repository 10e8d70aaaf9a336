"""Catalog truth: does a new provider catalog say something about its models that cannot be true?

A unit bug upstream (per token read as per 1M, per 1K as per token) moves prices by 1,000 or 1,000,000; a
wrong field reads a context window as a tenth of itself or worse. Real repricings and context changes are
far smaller than 10x, so a model whose price moved more than `factor` times, or whose context fell to less
than 1/`factor` of the last good catalog's, is held back like a shrunk catalog until an operator forces it.

A field the provider renamed or moved leaves every model without it: each one alone reads as "not said", which
is no change, so the guard also holds back a catalog in which more than LOST_FRACTION of the models that had a
price or a context length (at least two) no longer have one.

A list can be implausible as a whole too (implausible_list): one that grew more than `factor` times (and by more
than MIN_GROWTH_ROWS models), or in which more than REPLACED_FRACTION of the last good catalog's models are gone
while as many others arrived, is another list than the provider's catalog changed: a flood from a broken
upstream, a host a redirect reached, ids renamed wholesale. Shrinking has its own guard (catalog_not_shrunk).

Pure logic: the last good facts come in as a dict, the new catalog as the DataFrame `build_catalog` made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_FACTOR = 10.0
LOST_FRACTION = 0.5
REPLACED_FRACTION = 0.9
MIN_GROWTH_ROWS = 1000  # a small catalog may grow tenfold (3 -> 40 models); by a thousand models, not overnight
MIN_REPLACED_ROWS = 10  # fewer say too little: a provider with 3 models may rename them all

# (model_id) -> (context_length, input_price_per_mtok, output_price_per_mtok) of the last good catalog.
Facts = dict[str, tuple[int | None, float | None, float | None]]


@dataclass(frozen=True)
class Implausible:
    model_id: str
    field: str
    previous: float
    new: float | None  # None: the value became unknown
    change: str

    def as_dict(self) -> dict:
        return {"model_id": self.model_id, "field": self.field, "previous": self.previous, "new": self.new,
                "change": self.change}


def _number(value) -> float | None:
    """A float, or None for a missing value (None, NaN, pandas' NA)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):  # pandas.NA refuses float()
        return None
    return None if math.isnan(number) else number


def _price_change(previous: float | None, new: float | None, factor: float) -> str | None:
    """A move of more than `factor` times either way; a paid price that became 0 is infinitely far.

    Unknown on either side (None) is not a change; 0 -> paid is a model that stopped being free, which a
    provider does on purpose and says so: it is not held back.
    """
    if previous is None or new is None or previous == 0:
        return None
    if new == 0:
        return "fell to 0"
    ratio = new / previous
    if ratio > factor:
        return f"x{ratio:,.1f}"
    if ratio < 1 / factor:
        return f"/{1 / ratio:,.1f}"
    return None


def implausible_changes(previous: Facts, frame: pd.DataFrame, factor: float = DEFAULT_FACTOR) -> list[Implausible]:
    """Every model of `frame` whose price moved more than `factor` times or whose context fell below
    1/`factor` of its last good value, and, per field, every model that lost a value when more than
    LOST_FRACTION of those that had it did. Models new to the catalog have nothing to compare with."""
    found: list[Implausible] = []
    known: dict[str, int] = {}  # field -> models of both catalogs that had it
    lost: dict[str, list[Implausible]] = {}
    columns = zip(frame["model_id"], frame["context_length"], frame["input_price_per_mtok"], frame["output_price_per_mtok"])
    for model_id, context, input_price, output_price in columns:
        before = previous.get(model_id)
        if before is None:
            continue
        old_context, old_input, old_output = (_number(v) for v in before)
        new_context = _number(context)
        if old_context and new_context is not None and new_context < old_context / factor:
            found.append(Implausible(model_id, "context_length", old_context, new_context,
                                     f"/{old_context / max(new_context, 1):,.1f}"))
        for field, old, new in (("input_price_per_mtok", old_input, _number(input_price)),
                                ("output_price_per_mtok", old_output, _number(output_price))):
            change = _price_change(old, new, factor)
            if change:
                found.append(Implausible(model_id, field, old, new, change))
        for field, old, new in (("context_length", old_context, new_context),
                                ("input_price_per_mtok", old_input, _number(input_price)),
                                ("output_price_per_mtok", old_output, _number(output_price))):
            if old is not None:
                known[field] = known.get(field, 0) + 1
                if new is None:
                    lost.setdefault(field, []).append(Implausible(model_id, field, old, None, "became unknown"))
    for field, models in lost.items():
        if len(models) >= 2 and len(models) > LOST_FRACTION * known[field]:
            found.extend(models)
    return found


def implausible_list(previous: Facts, model_ids, factor: float = DEFAULT_FACTOR) -> str | None:
    """Why the list `model_ids` is not the last good catalog (`previous`) grown or changed, or None: it grew more
    than `factor` times and by more than MIN_GROWTH_ROWS models, or more than REPLACED_FRACTION of the last good
    catalog's models (at least MIN_REPLACED_ROWS of them) are gone while others took their place. A provider's
    first catalog has nothing to compare with."""
    if not previous:
        return None
    ids = set(model_ids)
    before, now = len(previous), len(ids)
    if now > max(before * factor, before + MIN_GROWTH_ROWS):
        return f"the catalog grew from {before} to {now} models, more than {factor:g}x"
    gone = before - sum(1 for model_id in previous if model_id in ids)
    if before >= MIN_REPLACED_ROWS and gone > REPLACED_FRACTION * before and now - (before - gone) > 0:
        return (f"{gone} of the {before} models of the last good catalog are gone and {now - (before - gone)} "
                "others arrived: another list, not this provider's catalog changed")
    return None
