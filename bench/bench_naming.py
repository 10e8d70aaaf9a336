"""Benchmark: the display-name rule over every recorded model, beside the rule of another git revision.

Loads `modelsync_pipeline/naming.py` twice in one process: the working tree's and the one at REF (default
`main`, read with `git show`). Each round names every model of every recorded payload, as the golden table
lists them (`tests/golden/names.tsv`: id and the upstream name the rule read), with `resolve_display_name`
and then `make_names_unique` per payload; the two rules run alternately, so a machine that speeds up or slows
down during the run moves both. Prints the fastest and the median round of each and their ratios (goal: the
fastest rounds' ratio <= 1.1: a naming change may not make the rule noticeably slower).

    python bench/bench_naming.py                # against main, 12 rounds each
    python bench/bench_naming.py --ref HEAD~3 --rounds 20
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMING = "modelsync_pipeline/naming.py"
GOLDEN = ROOT / "tests" / "golden" / "names.tsv"


def _load(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _payloads() -> list[list[tuple[str, str | None, str | None]]]:
    """(model_id, display_name, name) per payload, as the rule read them when the golden table was written."""
    by_payload: dict[str, list] = {}
    for line in GOLDEN.read_text().splitlines()[1:]:
        payload, model_id, raw, _name, rule, _steps = line.split("\t")
        upstream = raw.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")
        by_payload.setdefault(payload, []).append(
            (model_id, upstream if rule == "display_name" else None, upstream if rule == "name" else None))
    return list(by_payload.values())


def _name_everything(naming, payloads) -> None:
    for models in payloads:
        naming.make_names_unique([(model_id, naming.resolve_display_name(model_id, display_name=display, name=name))
                                  for model_id, display, name in models])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="git revision whose naming.py is the baseline")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()

    baseline_source = subprocess.run(["git", "show", f"{args.ref}:{NAMING}"], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as scratch:
        baseline_path = Path(scratch) / "naming_baseline.py"
        baseline_path.write_text(baseline_source)
        rules = {"baseline": _load(baseline_path, "naming_baseline"), "working tree": _load(ROOT / NAMING, "naming_tree")}
    payloads = _payloads()
    models = sum(len(p) for p in payloads)
    for rule in rules.values():  # warm-up: compiled patterns, lru caches
        _name_everything(rule, payloads)
    seconds: dict[str, list[float]] = {label: [] for label in rules}
    for round_ in range(args.rounds):
        order = list(rules.items()) if round_ % 2 else list(reversed(rules.items()))
        for label, rule in order:
            start = time.perf_counter()
            _name_everything(rule, payloads)
            seconds[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    print(f"{models} models in {len(payloads)} payloads, {args.rounds} alternating rounds")
    for label, median in medians.items():
        print(f"  {label:13} median {median:.3f} s  min {min(seconds[label]):.3f} s")
    fastest = {label: min(values) for label, values in seconds.items()}
    # On a shared machine the median moves with the neighbours (two runs of one rule: 0.92x to 1.03x); the
    # fastest round is the one least disturbed, so the goal is read on it.
    print(f"  ratio working tree / {args.ref}: fastest rounds {fastest['working tree'] / fastest['baseline']:.2f}x"
          f" (goal <= 1.1), medians {medians['working tree'] / medians['baseline']:.2f}x")


if __name__ == "__main__":
    main()
