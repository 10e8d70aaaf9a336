"""Every SQL statement lives in sql/ as a reviewed file; Python modules load statements by name."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
from pathlib import Path

from modelsync_pipeline import db

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "modelsync_pipeline"
SQL_IN_A_STRING = re.compile(r"""(['"]{1,3})\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+|ALTER\s+|DROP\s+|SET\s+TRANSACTION|COPY\s+)""")


def test_no_sql_outside_the_sql_folder():
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if SQL_IN_A_STRING.search(line)]
    assert found == []


def test_every_statement_file_parses_into_named_statements():
    for path in sorted(db.SQL_DIR.glob("*.sql")):
        named = db.statements(path.stem)
        assert named and all(text.strip() for text in named.values()), path.name


WRITES_TO_THE_CATALOG_TABLES = re.compile(
    r"\b(refresh_models_table|reset_models_table|flush_models|flush_providers|restore_backup|sync_providers|take_backup)\(")


def test_every_write_to_the_catalog_tables_goes_through_the_one_write_path():
    """Only writes.py (and db/, which defines them) calls the functions that change providers/models: an
    asset, job or CLI that wrote on its own would skip the guard, the backup or the audit."""
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             if path.parent.name != "db" and path.name != "writes.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if WRITES_TO_THE_CATALOG_TABLES.search(line)]
    assert found == []


BENCH = PACKAGE.parent / "bench"


@contextlib.contextmanager
def benchmark_module(path: Path):
    """A benchmark script of bench/ imported as a module (main() runs only as a script), with bench/ on the path
    (they import one another: bench_refresh uses bench_models_table), for the block."""
    name = f"_bench_{path.stem}"
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)  # dataclasses look it up
        try:
            spec.loader.exec_module(module)
            yield module
        finally:
            del sys.modules[name]
    finally:
        sys.path.remove(str(BENCH))


def test_every_benchmark_imports():
    """The benchmarks run outside the suite; a module they import that moved must not go unnoticed
    (bench_cache.py failed with ImportError for a while after the embedded-server harness moved)."""
    for path in sorted(BENCH.glob("bench_*.py")):
        with benchmark_module(path):
            pass


def test_a_command_given_another_state_folder_does_not_install_uv_again(tmp_path):
    """The browser tests run `make ui STATE=<tmp>`: uv's own venv lived under STATE, so each of them installed uv
    again from the package index (where there is none, they failed offline)."""
    import subprocess

    dry = subprocess.run(["make", "-n", "--no-print-directory", "install", f"STATE={tmp_path}"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert str(tmp_path) not in dry.stdout and "'uv>=" not in dry.stdout, dry.stdout
