"""`make bench`: build synthetic data at scale, run every benchmark, write JSON and a table.

    BENCH_SCALE=small make bench        # about a minute: the CI smoke scale
    make bench                          # full scale (the issue's figures); tens of minutes
    BENCH_ONLY=ledger,files make bench  # a subset
    BENCH_KEEP_DB=1                     # keep the bench database afterwards for EXPLAIN work
    BENCH_REUSE_DB=1                    # reuse a kept database (the 100k catalog is not rebuilt)
    BENCH_REDIS_URL=redis://127.0.0.1:6379/6   # the broker database the bench owns (emptied)

The bench creates its own PostgreSQL database (BENCH_DB, default charter_bench_run) on the
server named by DATABASE_URL (or postgres://postgres@127.0.0.1:5432), migrates it, runs, and
drops it. Results go to bench/results/latest.json (BENCH_RESULTS to change) as one object per
figure: name, value, unit, target, baseline, ratio, status. See docs/PERFORMANCE.md.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Figure,
    NotReady,
    bench_data_dir,
    current_scale,
    database_create,
    database_drop,
    database_url,
    log,
)

# (group, module, what it needs from teammates). Each module has `run(scale) -> list[Figure]`.
BENCHES = [
    ("ledger", "bench.ledger_bench"),
    ("files", "bench.files_bench"),
    ("api", "bench.api_bench"),
    ("search", "bench.search_bench"),
    ("lineage", "bench.lineage_bench"),
    ("audit", "bench.audit_bench"),
    ("fairness", "bench.fairness_bench"),
    ("openlineage", "bench.openlineage_bench"),
    ("scaleout", "bench.scaleout_bench"),
]


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _database_exists(name: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(database_url(name)):
            return True
    except psycopg.OperationalError:
        return False


def _setup_django(db_name: str) -> None:
    # BENCH_REUSE_DB=1 keeps a database left by BENCH_KEEP_DB=1: generators skip data that is
    # already there (catalog_data.populate), so EXPLAIN work need not rebuild 100k datasets.
    if os.environ.get("BENCH_REUSE_DB") == "1" and _database_exists(db_name):
        url = database_url(db_name)
    else:
        url = database_create(db_name)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("CHARTER_VAR_DIR", "/tmp/charter-bench-var")  # noqa: S108
    os.environ.setdefault("CHARTER_DATA_ROOTS", str(bench_data_dir()))
    # Tasks the bench enqueues go to its own Redis database (a real broker, as in production);
    # never the portal's or CI's database, since the bench empties it between benchmarks.
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("bootstrap_roles", verbosity=0)


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def summary_table(figures: list[dict]) -> str:
    header = ("figure", "value", "unit", "target", "baseline", "ratio", "status")
    rows = [
        (
            f["name"],
            _format(f["value"]),
            f["unit"],
            f["target"],
            _format(f["baseline"]),
            _format(f["ratio"]),
            f["status"],
        )
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(out)


def main() -> int:
    # A plain `kill` unwinds like Ctrl-C: gunicorn, workers and the bench database are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scale = current_scale()
    only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
    db_name = os.environ.get("BENCH_DB", "charter_bench_run")
    results_path = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results" / "latest.json"))
    started = datetime.now(UTC)
    load_at_start = os.getloadavg()
    log(f"scale={scale.name} database={db_name} only={sorted(only) or 'all'}")
    _setup_django(db_name)
    figures: list[dict] = []
    timings: dict[str, float] = {}
    try:
        for group, module_name in BENCHES:
            if only and group not in only:
                continue
            log(f"--- {group}")
            start = time.perf_counter()
            try:
                module = importlib.import_module(module_name)
                found = module.run(scale)
            except NotReady as exc:
                found = [Figure(f"{group}.*", None, "", "", None, group=group, notes=str(exc))]
            except ModuleNotFoundError as exc:
                note = f"not measured: {exc}"
                found = [Figure(f"{group}.*", None, "", "", None, group=group, notes=note)]
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the rest
                traceback.print_exc()
                note = f"error: {type(exc).__name__}: {exc}"[:500]
                found = [Figure(f"{group}.*", None, "", "", None, group=group, notes=note)]
            timings[group] = round(time.perf_counter() - start, 1)
            for fig in found:
                figures.append(fig.as_dict())
                log(f"{fig.name}: {fig.value} {fig.unit} ({fig.as_dict()['status']}) {fig.notes}")
    finally:
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB") != "1":
            database_drop(db_name)
    meta = {
        "scale": scale.name,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "seconds_per_group": timings,
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps({"meta": meta, "figures": figures}, indent=2) + "\n")
    print()
    print(summary_table(figures))
    print(f"\nwrote {results_path}")
    failed = [f["name"] for f in figures if f["status"] == "FAIL"]
    if failed:
        print(f"targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
