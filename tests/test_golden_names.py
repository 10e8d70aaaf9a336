"""The golden table: every model of every recorded payload, id -> the name a reader sees.

`tests/golden/names.tsv` was reviewed by eye; any change to the naming rule shows up as a diff of that
file. After an intended change: `MODELSYNC_UPDATE_GOLDEN=1 make test`, then review `git diff tests/golden`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from modelsync_pipeline.catalog import build_catalog
from modelsync_pipeline.providers.http import recorded_items
from modelsync_pipeline.providers.registry import PROVIDERS, PROVIDERS_BY_SLUG
from modelsync_pipeline.schema import validate_catalog

GOLDEN = Path(__file__).parent / "golden" / "names.tsv"
# Every recorded payload, including the snapshots that replay does not serve.
EXTRA_PAYLOADS = {
    "openrouter": ["openrouter_2026-04.json", "openrouter_2026-08.json"],
    "cloudflare-workers-ai": ["cloudflare-workers-ai.json"],
}
PAYLOADS = [(spec, spec.recorded) for spec in PROVIDERS] + [
    (PROVIDERS_BY_SLUG[slug], name) for slug, names in EXTRA_PAYLOADS.items() for name in names
]
HEADER = "payload\tmodel_id\traw_name\tmodel_name\trule\tsteps"


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def current_table() -> tuple[str, list]:
    lines, failures = [HEADER], []
    for spec, payload_file in PAYLOADS:
        items = recorded_items(dataclasses.replace(spec, recorded=payload_file))
        frame = build_catalog(spec, items)
        failures += [(payload_file, v.as_dict()) for v in validate_catalog(frame)]
        for row in frame.itertuples():
            lines.append("\t".join(_escape(v) for v in (
                payload_file, row.model_id, row.raw_name, row.model_name, row.name_rule, ",".join(row.name_steps)
            )))
    return "\n".join(lines) + "\n", failures


def test_every_recorded_model_gets_a_name_that_passes_the_checks():
    _, failures = current_table()
    assert failures == []


def test_names_match_the_reviewed_golden_table():
    table, _ = current_table()
    if os.environ.get("MODELSYNC_UPDATE_GOLDEN"):
        GOLDEN.write_text(table)
    expected = GOLDEN.read_text()
    if table != expected:
        old, new = set(expected.splitlines()), set(table.splitlines())
        changed = sorted(new - old)[:20], sorted(old - new)[:20]
        raise AssertionError(
            "names differ from tests/golden/names.tsv (rerun with MODELSYNC_UPDATE_GOLDEN=1 and review the diff)\n"
            "now:\n  " + "\n  ".join(changed[0]) + "\nwas:\n  " + "\n  ".join(changed[1])
        )


def _golden_rows() -> list[list[str]]:
    return [line.split("\t") for line in GOLDEN.read_text().splitlines()[1:]]


def test_every_recorded_id_and_name_copied_from_a_url_reads_as_itself():
    """"Llama%203%2070B" read "Llama 203 2070B" and "meta-llama%2Fllama-3-70b" "Meta Llama 2Fllama 3 70B": an id
    or a name copied percent-escaped from a URL. Every recorded id and name, escaped whole, gives its own name."""
    from urllib.parse import quote

    from modelsync_pipeline.naming import clean_upstream_name, derive_name_from_id

    differ = []
    for row in _golden_rows():
        model_id, raw_name = row[1], row[2]
        if derive_name_from_id(quote(model_id, safe="")) != derive_name_from_id(model_id):
            differ.append(("id", model_id))
        if not any(ord(c) < 32 for c in raw_name):
            if clean_upstream_name(quote(raw_name, safe=""))[0] != clean_upstream_name(raw_name)[0]:
                differ.append(("name", raw_name))
    assert differ == []
