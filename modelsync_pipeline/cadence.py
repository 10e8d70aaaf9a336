"""Per-provider cadence: how often each provider is synced and how old its last good catalog may get.

Read from `cadence.yaml` beside this module (or MODELSYNC_CADENCE_FILE), so a provider is retuned without a
code change. No Dagster here: `defs/` turns it into schedules and freshness policies, and `make status`
into a stale flag.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .providers.registry import PROVIDERS, PROVIDERS_BY_SLUG

CADENCE_FILE = Path(__file__).resolve().parent / "cadence.yaml"


@dataclass(frozen=True)
class Cadence:
    cron: str
    max_age_hours: float

    @property
    def max_age(self) -> dt.timedelta:
        return dt.timedelta(hours=self.max_age_hours)


class CadenceError(ValueError):
    """The cadence file is wrong: which file, which entry, what."""


def _cadence(where: str, value) -> Cadence:
    if not isinstance(value, dict) or not isinstance(value.get("cron"), str):
        raise CadenceError(f"{where}: expected {{cron: '<5-field cron>', max_age_hours: <hours>}}, got {value!r}")
    hours = value.get("max_age_hours")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours) or hours <= 0:
        raise CadenceError(f"{where}: max_age_hours must be a positive number of hours, got {hours!r}")
    fields = value["cron"].split()
    if len(fields) != 5:
        raise CadenceError(f"{where}: cron must have 5 fields, got {value['cron']!r}")
    # One space between fields, and numbers without leading zeros: a provider's cron is compared with the default's
    # to know whether it needs a schedule of its own ("0  4 * * *" and "00 04 * * *" are the default's cron, not a
    # second sync at the same minute).
    return Cadence(" ".join(re.sub(r"(?<!\d)0+(?=\d)", "", field) for field in fields), float(hours))


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently: a
    provider listed twice got whichever entry came second)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden here
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:  # `? [a, b]`: no name of anything
                raise CadenceError(f"{self.name}: a key that is a {type(key).__name__}, {key!r} (line "
                                   f"{key_node.start_mark.line + 1}): keys are provider slugs and field names")
            if key in seen:
                raise CadenceError(f"{self.name}: {key!r} is given twice (line {key_node.start_mark.line + 1}); "
                                   "keep one")
            seen.add(key)
        return super().construct_mapping(node, deep)


def cadence_file() -> Path:
    """The cadence file the code location reads: MODELSYNC_CADENCE_FILE, else cadence.yaml beside this module."""
    return Path(os.environ.get("MODELSYNC_CADENCE_FILE") or CADENCE_FILE)


def load_cadence(path: Path | str | None = None) -> tuple[Cadence, dict[str, Cadence]]:
    """(default, {slug: cadence}) covering every provider of the registry."""
    path = Path(path) if path else cadence_file()
    loader = _UniqueKeyLoader(path.read_text())
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise CadenceError(f"{path}: expected a mapping with default and providers, got {data!r}")
    default = _cadence(f"{path}: default", data.get("default"))
    overrides = data.get("providers") or {}
    if not isinstance(overrides, dict):
        raise CadenceError(f"{path}: providers must map provider slugs to cadences, got {overrides!r}")
    unknown = sorted(set(overrides) - set(PROVIDERS_BY_SLUG))
    if unknown:
        raise CadenceError(f"{path}: unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS_BY_SLUG)}")
    return default, {
        spec.slug: _cadence(f"{path}: providers.{spec.slug}", overrides[spec.slug]) if spec.slug in overrides else default
        for spec in PROVIDERS
    }


def stale_since(cadence: Cadence, last_good: dt.datetime | None, now: dt.datetime | None = None) -> str | None:
    """What `make status` says of a provider whose last good catalog is older than its max age (else None)."""
    if last_good is None:
        return "STALE: never synced"
    now = now or dt.datetime.now(dt.timezone.utc)
    if now - last_good <= cadence.max_age:
        return None
    since = (last_good + cadence.max_age).isoformat(timespec="seconds")
    return f"STALE since {since} (max age {cadence.max_age_hours:g} h)"
