"""The project as users install it: a wheel, installed non-editable in a fresh venv, syncs on its own.

Nothing may be read from the repository checkout: the SQL, the recorded payloads, the static catalogs and
the Dagster instance config must all come from inside the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from .test_pipeline import expected_counts

REPO_ROOT = Path(__file__).resolve().parent.parent


def _uv() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".modelsync" / "tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is installed by `make test` (Makefile); run the suite through it"
    return found


def test_a_wheel_installed_non_editable_syncs_every_provider(tmp_path, database_url, redis_url):
    uv, env = _uv(), {**os.environ, "UV_NATIVE_TLS": "1"}
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(REPO_ROOT)],
                   check=True, capture_output=True, env=env, timeout=300)
    wheel = next((tmp_path / "dist").glob("modelsync-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env, timeout=120)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
                   check=True, capture_output=True, env=env, timeout=600)

    outside = tmp_path / "elsewhere"  # not the checkout: nothing can be found by relative path
    outside.mkdir()
    proc = subprocess.run(
        [str(venv / "bin" / "modelsync"), "run", "--state-dir", str(outside / "state")],
        cwd=outside, capture_output=True, text=True, timeout=600,
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PYTHONPATH": ""},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import modelsync_pipeline.db as db; print(db.SQL_DIR)"],
                           cwd=outside, capture_output=True, text=True, check=True)
    assert str(venv) in where.stdout  # the SQL came from the installed wheel, not the checkout
    with psycopg.connect(database_url) as conn:
        published = dict(conn.execute(
            "SELECT p.slug, count(*) FROM models m JOIN providers p ON p.id = m.provider_id GROUP BY 1").fetchall())
    assert published == expected_counts()
