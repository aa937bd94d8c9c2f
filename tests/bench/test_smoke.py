"""Keep the benchmark harness from rotting: run it at its smoke scale on PostgreSQL.

Runs `bench/run.py` as `make bench` does (own database, gunicorn, loopback load generator),
on the cheap groups, and checks the JSON it writes. It measures nothing worth reading: the
figures that count come from `make bench` (docs/PERFORMANCE.md).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"name", "value", "unit", "target", "baseline", "ratio", "status", "notes"}


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    try:
        import psycopg

        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=3):
            return "postgres://postgres@127.0.0.1:5432/postgres"
    except Exception:  # noqa: BLE001 - any failure means: no server to run the bench on
        return None


@pytest.mark.timeout(240)
def test_bench_harness_runs_at_smoke_scale(tmp_path):
    url = _postgres_url()
    if url is None:
        pytest.skip("the benchmark needs a PostgreSQL server")
    results = tmp_path / "results.json"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_SCALE": "smoke",
        "BENCH_ONLY": "ledger,files,api,fairness",
        "BENCH_DB": "charter_bench_smoke",
        "BENCH_RESULTS": str(results),
        "BENCH_DATA_DIR": str(tmp_path / "data"),
        "CHARTER_VAR_DIR": str(tmp_path / "var"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(results.read_text())
    assert data["meta"]["scale"] == "smoke"
    figures = {f["name"]: f for f in data["figures"]}
    for name in (
        "ledger.appends_per_s_8_writers",
        "ledger.verify_1M_events",
        "files.parse_fastest",
        "files.charter_iter_chunks",
        "api.dataset_list_throughput",
        "api.dataset_list_queries",
        "fairness.audit_vs_fairlearn",
    ):
        assert name in figures, (name, sorted(figures), proc.stdout[-3000:])
        assert set(figures[name]) >= KEYS, name
        assert figures[name]["value"] is not None, figures[name]["notes"]
    assert all(f["status"] in ("pass", "FAIL", "info") for f in figures.values()), figures
    assert "figure" in proc.stdout and "status" in proc.stdout  # the summary table
