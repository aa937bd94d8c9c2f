"""Shared pieces of the benchmark harness: scales, figures, timing, the bench database, gunicorn.

Nothing here imports Django models at module level: `bench/run.py` points Django at the bench
database first, then imports the benchmark modules.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
PY = sys.executable
SEED = 20261127
# Figures one benchmark measured that a later one compares against (e.g. the fastest parse).
RESULTS: dict[str, float] = {}


@dataclass(frozen=True)
class Scale:
    """How big each synthetic data set is; `full` is the issue's scale."""

    name: str
    repeats: int  # timed repetitions of in-process figures (median reported)
    ledger_appends_per_writer: int
    ledger_verify_events: int
    csv_rows: int
    api_grants: int
    http_requests: int  # requests per load run (bounded)
    search_datasets: int
    search_columns_per_dataset: int
    lineage_edges: int
    pg_table_rows: int
    fairness_rows: int
    gx_rows: int
    openlineage_events: int
    scaleout_audits: int
    scaleout_rows: int


SCALES = {
    "smoke": Scale(  # tests/bench/test_smoke.py: proves the harness runs, measures nothing
        name="smoke",
        repeats=1,
        ledger_appends_per_writer=5,
        ledger_verify_events=2_000,
        csv_rows=5_000,
        api_grants=50,
        http_requests=48,
        search_datasets=200,
        search_columns_per_dataset=3,
        lineage_edges=2_000,
        pg_table_rows=5_000,
        fairness_rows=5_000,
        gx_rows=5_000,
        openlineage_events=24,
        scaleout_audits=2,
        scaleout_rows=2_000,
    ),
    "tiny": Scale(
        name="tiny",
        repeats=2,
        ledger_appends_per_writer=20,
        ledger_verify_events=5_000,
        csv_rows=12_000,
        api_grants=100,
        http_requests=120,
        search_datasets=1_000,
        search_columns_per_dataset=5,
        lineage_edges=5_000,
        pg_table_rows=20_000,
        fairness_rows=20_000,
        gx_rows=20_000,
        openlineage_events=60,
        scaleout_audits=6,
        scaleout_rows=5_000,
    ),
    "small": Scale(
        name="small",
        repeats=3,
        ledger_appends_per_writer=60,
        ledger_verify_events=50_000,
        csv_rows=120_000,
        api_grants=500,
        http_requests=400,
        search_datasets=5_000,
        search_columns_per_dataset=10,
        lineage_edges=50_000,
        pg_table_rows=200_000,
        fairness_rows=100_000,
        gx_rows=100_000,
        openlineage_events=200,
        scaleout_audits=12,
        scaleout_rows=20_000,
    ),
    "full": Scale(
        name="full",
        repeats=5,
        ledger_appends_per_writer=500,
        ledger_verify_events=1_000_000,
        csv_rows=6_500_000,
        api_grants=10_000,
        http_requests=3_000,
        search_datasets=100_000,
        search_columns_per_dataset=10,
        lineage_edges=1_000_000,
        pg_table_rows=10_000_000,
        fairness_rows=1_000_000,
        gx_rows=1_000_000,
        openlineage_events=2_000,
        scaleout_audits=100,
        scaleout_rows=50_000,
    ),
}


def current_scale() -> Scale:
    name = os.environ.get("BENCH_SCALE", "full").strip().lower() or "full"
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)} (got {name!r}).")
    return SCALES[name]


class NotReady(Exception):  # noqa: N818 - reads as "the feature is not ready"
    """Raised by a benchmark whose feature has not landed yet; the reason goes in the table."""


@dataclass
class Figure:
    """One measured figure. `ratio` is value / baseline when a baseline was measured."""

    name: str
    value: float | None
    unit: str
    target: str  # human-readable, e.g. "<= 10 s" or ">= 0.4x baseline"
    passed: bool | None  # None = informational or not measured
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    group: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = (
            "info"
            if self.passed is None and self.value is not None
            else "not measured"
            if self.value is None
            else "pass"
            if self.passed
            else "FAIL"
        )
        return data


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def median_time(fn: Callable[[], Any], *, repeats: int, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time in seconds of `fn()` over `repeats` runs after `warmup` untimed runs."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def bench_data_dir() -> Path:
    """Where generated files live (kept between runs: a 1 GB CSV takes a minute to write)."""
    path = Path(os.environ.get("BENCH_DATA_DIR", "/tmp/charter-bench-data"))  # noqa: S108
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the bench database --------------------------------------------------------------------------


def admin_url() -> str:
    """The server to create the bench database on: DATABASE_URL's server, or local postgres."""
    raw = os.environ.get("BENCH_ADMIN_URL") or os.environ.get("DATABASE_URL") or ""
    if not raw.startswith(("postgres://", "postgresql://")):
        raw = "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = urlparse(raw)
    return urlunparse(parsed._replace(path="/postgres"))


def database_url(name: str) -> str:
    parsed = urlparse(admin_url())
    return urlunparse(parsed._replace(path=f"/{name}"))


def _admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(sql)


def database_create(name: str) -> str:
    """Drop and create the bench's own database; return its URL."""
    database_drop(name)
    _admin_execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def database_drop(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- processes ---------------------------------------------------------------------------------


def bench_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: the bench settings and database."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def own_peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), in MiB.

    Read from /proc rather than `ru_maxrss`: a child started by fork+exec inherits its
    parent's ru_maxrss, so a lean reader started by a fat harness would look fat.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_of(code: str, *, env: dict[str, str] | None = None, timeout: float = 900) -> dict:
    """Run Python `code` in a fresh interpreter; return its JSON stdout plus peak RSS in MiB.

    The child prints one JSON object on its last stdout line, with its own peak memory from
    `own_peak_rss_mib()` (interpreter and libraries included); `ru_maxrss` of the children is
    the fallback.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [PY, "-c", code],
        capture_output=True,
        text=True,
        env=env or bench_env(),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    # ru_maxrss of RUSAGE_CHILDREN is the max over all waited-for children; a larger earlier
    # child would hide this one, so the child also reports its own figure when it can.
    data.setdefault("peak_rss_mib", max(usage, before) / 1024)
    data["wall_s"] = wall
    return data


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free loopback port")


class Gunicorn:
    """gunicorn serving the bench settings on a loopback port, as a subprocess."""

    def __init__(self, *, port: int, workers: int = 2, threads: int = 4) -> None:
        self.port = free_port(port)
        self.workers = workers
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        var_dir = os.environ.get("CHARTER_VAR_DIR", "/tmp/charter-bench-var")  # noqa: S108
        self.log_path = Path(var_dir) / "gunicorn.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(Path(PY).parent / "gunicorn"),
                "bench.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                f"--workers={self.workers}",
                "--worker-class=gthread",
                f"--threads={self.threads}",
                "--keep-alive=30",
                "--log-level=warning",
                "--timeout=120",
            ],
            cwd=ROOT,
            env=bench_env(),
            stdout=log_file,
            stderr=log_file,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load(
    *,
    base: str,
    paths: list[str],
    requests: int,
    concurrency: int = 8,
    headers: dict[str, str] | None = None,
    max_seconds: float = 120,
    warmup: int = 20,
    method: str = "GET",
    bodies: list[str] | None = None,
) -> dict[str, Any]:
    """Drive `requests` requests (round-robin over `paths`) from a separate load generator."""
    spec = {
        "method": method,
        "bodies": bodies or [],
        "base": base,
        "paths": paths,
        "requests": requests,
        "concurrency": concurrency,
        "headers": headers or {},
        "max_seconds": max_seconds,
        "warmup": warmup,
    }
    proc = subprocess.run(
        [PY, str(BENCH_DIR / "loadgen.py")],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=max_seconds + 60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


class CeleryWorkers:
    """`count` Celery worker processes (one task at a time each) on the bench's Redis database."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> CeleryWorkers:
        var_dir = Path(os.environ.get("CHARTER_VAR_DIR", "/tmp/charter-bench-var"))  # noqa: S108
        for n in range(self.count):
            log_file = (var_dir / f"worker-{n}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    [
                        str(Path(PY).parent / "celery"),
                        "-A",
                        "config",
                        "worker",
                        "--pool=solo",
                        f"--hostname=bench{n}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--loglevel=warning",
                    ],
                    cwd=ROOT,
                    env=bench_env(DJANGO_SETTINGS_MODULE="bench.settings"),
                    stdout=log_file,
                    stderr=log_file,
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def broker_flush() -> None:
    """Empty the bench's own Redis database (queued tasks of earlier benchmarks)."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def wait_until(predicate: Callable[[], bool], *, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()
