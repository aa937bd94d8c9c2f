"""Bounded load test on loopback: gunicorn + a Celery worker + Redis + PostgreSQL.

N simulated users (logged in through the real form) browse, search, request access and post
OpenLineage events for DURATION seconds. Afterwards every posted event must be stored and
processed by the worker (none lost), and the error rate (5xx, connection errors, unexpected
statuses) must be 0. Prints one JSON object with the figures (docs/RELIABILITY.md).

    .venv/bin/python bench/load_test.py [--users 8] [--duration 60] [--port 8107]

Uses its own database (charter_secrel_load, dropped and re-created), Redis db 7 and
/tmp/var-secrel-load. Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookies
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DB = "charter_secrel_load"
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
OK = {200, 201, 202, 302}
PASSWORD = "charter-demo-load"  # noqa: S105  demo users of a throwaway database


def env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/7"),
        "CHARTER_VAR_DIR": "/tmp/var-secrel-load",  # noqa: S108
        "SECRET_KEY": "load-test-only-" + "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "CHARTER_DEMO_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
    }


def manage(*args: str) -> str:
    out = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env(), capture_output=True, text=True, check=True
    )
    return out.stdout


def prepare() -> dict[str, str]:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    manage("migrate", "--no-input")
    manage("collectstatic", "--no-input")
    return {}


class User(threading.Thread):
    """One simulated user with its own keep-alive connection and session."""

    def __init__(self, n, port, username, token, datasets, deadline, stats):
        super().__init__(daemon=True)
        self.n, self.port, self.username, self.token = n, port, username, token
        self.datasets, self.deadline, self.stats = datasets, deadline, stats
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.rng = random.Random(n)

    def request(self, method, path, body=None, headers=None, kind="page"):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.stats.record(kind, None, time.perf_counter() - started, f"{path}: {exc}")
            return None, b""
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = http.cookies.SimpleCookie(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        self.stats.record(kind, response.status, time.perf_counter() - started, path)
        return response.status, data

    def form_post(self, path, fields, kind):
        status, page = self.request("GET", path, kind=kind)
        match = CSRF.search(page.decode(errors="replace"))
        if not match:
            return None
        body = urlencode({**fields, "csrfmiddlewaretoken": match.group(1)})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"http://127.0.0.1:{self.port}{path}",
        }
        return self.request("POST", path, body, headers, kind=kind)[0]

    def run(self):
        self.form_post("/login/", {"username": self.username, "password": PASSWORD}, "login")
        actions = [self.browse, self.browse, self.search, self.search, self.api]
        if self.username in ("engineer", "steward"):  # pipelines; compliance may not post (403)
            actions.append(self.lineage)
        if self.username == "engineer":
            actions.append(self.request_access)
        while time.monotonic() < self.deadline:
            self.rng.choice(actions)()

    def browse(self):
        name = self.rng.choice(self.datasets)
        for path in ("/", "/catalog/", f"/catalog/datasets/{name}/", "/lineage/", "/audits/"):
            self.request("GET", path, kind="browse")

    def search(self):
        term = self.rng.choice(["loan", "customer", "transactions", "feature", "cntry", "risk"])
        self.request("GET", f"/catalog/?q={term}", kind="search")
        auth = {"Authorization": f"Bearer {self.token}"}
        self.request("GET", f"/api/v1/datasets/?search={term}&facets=true", None, auth, "search")

    def api(self):
        auth = {"Authorization": f"Bearer {self.token}"}
        name = self.rng.choice(self.datasets)
        self.request("GET", f"/api/v1/datasets/{name}/", None, auth, "api")
        self.request("GET", "/api/v1/audit-runs/", None, auth, "api")

    def request_access(self):
        name = self.rng.choice(self.datasets)
        fields = {
            "level": "masked",
            "purpose": "Load test: model training features",
            "duration_days": "7",
        }
        self.form_post(f"/access/datasets/{name}/request/", fields, "access")

    def lineage(self):
        event = {
            "eventType": "COMPLETE",
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "run": {"runId": str(uuid.uuid4())},
            "job": {"namespace": "load", "name": f"job-{self.n}-{self.rng.randrange(20)}"},
            "inputs": [{"namespace": "charter-demo", "name": self.rng.choice(self.datasets)}],
            "outputs": [{"namespace": "load", "name": f"/load/out-{self.rng.randrange(50)}.csv"}],
            "producer": "https://example.org/load-test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        status, _ = self.request("POST", "/api/v1/lineage", json.dumps(event), headers, "lineage")
        if status == 201:
            self.stats.posted(event["run"]["runId"])


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.statuses: dict[str, int] = {}
        self.errors: list[str] = []
        self.run_ids: list[str] = []

    def record(self, kind, status, elapsed, detail):
        with self.lock:
            self.latency.setdefault(kind, []).append(elapsed)
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if status not in OK:
                self.errors.append(f"{status} {detail}")

    def posted(self, run_id):
        with self.lock:
            self.run_ids.append(run_id)


def pct(values, p):
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--port", type=int, default=8107)
    args = parser.parse_args()
    prepare()
    var = Path(env()["CHARTER_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen(  # noqa: S603
        [str(Path(PY).with_name("celery")), "-A", "config", "worker", "--pool=threads",
         "--concurrency=4", "--loglevel=WARNING", "-n", "secrel-load@%h"],
        cwd=ROOT, env=env(), stdout=(var / "worker.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    web = subprocess.Popen(  # noqa: S603
        [str(Path(PY).with_name("gunicorn")), "config.wsgi:application",
         f"--bind=127.0.0.1:{args.port}", "--workers=2", "--worker-class=gthread",
         "--threads=4", "--timeout=60", "--log-level=warning"],
        cwd=ROOT, env=env(), stdout=(var / "web.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        subprocess.run([str(Path(PY).with_name("celery")), "-A", "config", "purge", "-f"],
                       cwd=ROOT, env=env(), capture_output=True, check=False)  # fmt: skip
        manage("seed_demo")
        tokens = {
            u: manage("create_api_token", u, "--name", "load").strip().splitlines()[-1]
            for u in ("steward", "engineer", "compliance")
        }
        datasets = ["loan-applications", "transactions", "country-reference", "loan-training-set"]
        time.sleep(2)
        stats = Stats()
        started = time.monotonic()
        deadline = started + args.duration
        names = ["engineer", "steward", "compliance", "engineer"]
        users = [
            User(n, args.port, names[n % 4], tokens[names[n % 4]], datasets, deadline, stats)
            for n in range(args.users)
        ]
        for user in users:
            user.start()
        for user in users:
            user.join(timeout=args.duration + 120)
        wall = time.monotonic() - started
        lost = verify_events(stats.run_ids)
        total = sum(len(v) for v in stats.latency.values())
        figures = {
            "users": args.users,
            "duration_s": round(wall, 1),
            "requests": total,
            "throughput_rps": round(total / wall, 1),
            "errors": len(stats.errors),
            "error_rate": round(len(stats.errors) / max(total, 1), 4),
            "statuses": stats.statuses,
            "lineage_events_posted": len(stats.run_ids),
            "lineage_events_lost_or_unprocessed": lost,
            "latency_ms": {
                kind: {"p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99), "n": len(v)}
                for kind, v in sorted(stats.latency.items())
            },
            "first_errors": stats.errors[:10],
        }
        print(json.dumps(figures, indent=2))  # noqa: T201
        return 0 if not stats.errors and lost == 0 else 1
    finally:
        for proc in (web, worker):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def verify_events(run_ids: list[str], timeout: float = 120) -> int:
    """How many posted events are not stored and processed once the worker has caught up."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(env()["DATABASE_URL"], autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT run_id::text, status FROM lineage_lineageevent "
                "WHERE run_id::text = ANY(%s)",
                [run_ids],
            ).fetchall()
            processed = {r for r, status in rows if status == "processed"}
            missing = len(set(run_ids) - processed)
            if missing == 0 or time.monotonic() > deadline:
                return missing
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
