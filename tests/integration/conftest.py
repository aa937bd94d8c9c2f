"""Integration tests: a REAL Celery worker (and beat) process on Redis, against the test database.

The worker is a separate `celery -A config worker` process started by the fixture, with
`DATABASE_URL` pointing at the database pytest-django created (test_<name>), so what a task
writes is what the test reads back. Tests using these fixtures commit for real
(`transactional_db`), so the worker sees their rows.

The fixtures need `REDIS_URL` and a PostgreSQL `DATABASE_URL` (SQLite's test database lives in
memory and cannot be shared with another process). Without them the tests using them are
skipped, unless `CHARTER_REQUIRE_INTEGRATION=1` (CI sets it), where that is an error, not a
silent skip. (test_worker_embedded.py needs neither: it runs the `make run` setup.)

Use your own Redis database number (e.g. `redis://127.0.0.1:6379/1`): the worker consumes the
default queue of that database, and stale messages are purged before each worker starts.

Fixtures:
- `celery_worker`: one running worker; `celery_worker.kill()` sends SIGKILL (fault tests),
  `celery_worker.stop()` a graceful SIGTERM, `celery_worker.log()` returns its output.
- `celery_worker_factory(**options)`: start more or differently configured workers
  (e.g. `pool="prefork", concurrency=2`, `env={"X": "1"}`); all are stopped on teardown.
- `celery_beat`: a running beat process with django-celery-beat's DatabaseScheduler, ticking
  at least every second so schedule changes are seen quickly.
- `wait_for(predicate, timeout=...)`: poll until `predicate()` is truthy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
START_TIMEOUT = float(os.environ.get("CHARTER_WORKER_START_TIMEOUT", "60"))
STOP_TIMEOUT = 15.0


def _missing_services() -> list[str]:
    missing = []
    if not os.environ.get("REDIS_URL", "").startswith(("redis://", "rediss://")):
        missing.append("REDIS_URL (redis://...)")
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL (postgres://...)")
    return missing


NEEDS_SERVICES = {"celery_worker", "celery_worker_factory", "celery_beat", "celery_broker_mode"}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    ours = [
        item
        for item in items
        if here in Path(str(item.fspath)).parents
        and NEEDS_SERVICES & set(getattr(item, "fixturenames", ()))
    ]
    if not ours:
        return
    missing = _missing_services()
    if not missing:
        return
    if os.environ.get("CHARTER_REQUIRE_INTEGRATION") == "1":
        raise pytest.UsageError(
            "CHARTER_REQUIRE_INTEGRATION=1 but integration tests cannot run: set "
            + " and ".join(missing)
        )
    skip = pytest.mark.skip(reason="integration tests need " + " and ".join(missing))
    for item in ours:
        item.add_marker(skip)


def wait_until(predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:.0f}s: {predicate}")
        time.sleep(interval)


@pytest.fixture
def wait_for():
    return wait_until


def _test_database_url() -> str:
    """A URL for the database this test session uses (pytest-django's test_<name>)."""
    from django.db import connection

    s = connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(s['NAME'], safe='')}"


def _child_env(var_dir: Path, extra: dict[str, str] | None) -> dict[str, str]:
    """Production settings for the child, sharing the test process's secrets and data roots."""
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost",
        "CHARTER_VAR_DIR": str(var_dir),
        "CHARTER_MASKING_KEY": settings.CHARTER_MASKING_KEY,
        "CHARTER_FIELD_ENCRYPTION_KEY": settings.CHARTER_FIELD_ENCRYPTION_KEY,
        "CHARTER_DATA_ROOTS": ":".join(str(p) for p in settings.CHARTER_DATA_ROOTS),
        "CHARTER_UPLOAD_ROOT": str(settings.CHARTER_UPLOAD_ROOT),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    env.update(extra or {})
    return env


@dataclass
class CeleryProcess:
    """A celery child process (worker or beat) in its own process group."""

    kind: str
    args: list[str]
    env: dict[str, str]
    var_dir: Path
    ready_marker: str
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.var_dir / f"{self.kind}-{uuid.uuid4().hex[:8]}.log"

    def start(self) -> CeleryProcess:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603  fixed argv, our own venv
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches pool children
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self.ready_marker not in self.log():
            if self.proc.poll() is not None:
                pytest.fail(f"celery {self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"celery {self.kind} not ready in {START_TIMEOUT:.0f}s:\n{self.log()}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, not a shutdown (fault tests)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM); SIGKILL whatever is left after a grace period."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._signal_group(signal.SIGKILL)  # stray pool children, if any survived their parent


def _purge_queue(env: dict[str, str]) -> None:
    """Drop messages left on this Redis database by an earlier, aborted run."""
    subprocess.run(  # noqa: S603
        [CELERY, "-A", "config", "purge", "-f"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def celery_broker_mode():
    """Make this test process send tasks through the broker instead of running them eagerly."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = before


@pytest.fixture
def celery_worker_factory(transactional_db, celery_broker_mode, tmp_path) -> Iterator[Callable]:
    started: list[CeleryProcess] = []
    purged = False

    def _start(
        *,
        pool: str = "solo",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
        var_dir: Path | None = None,
        purge: bool = True,
        extra_args: list[str] | None = None,
    ) -> CeleryProcess:
        nonlocal purged
        child_env = _child_env(var_dir or tmp_path / "var", env)
        if purge and not purged:
            _purge_queue(child_env)
            purged = True
        name = f"charter-test-{uuid.uuid4().hex[:8]}@%h"
        args = [
            CELERY, "-A", "config", "worker", "--loglevel=INFO", f"--pool={pool}",
            f"--concurrency={concurrency}", "-n", name,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            *(extra_args or []),
        ]  # fmt: skip
        worker = CeleryProcess("worker", args, child_env, var_dir or tmp_path / "var", " ready.")
        started.append(worker)
        return worker.start()

    yield _start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def celery_worker(celery_worker_factory) -> CeleryProcess:
    return celery_worker_factory()


@pytest.fixture
def celery_beat(transactional_db, celery_broker_mode, tmp_path) -> Iterator[CeleryProcess]:
    var_dir = tmp_path / "var"
    args = [
        CELERY, "-A", "config", "beat", "--loglevel=INFO",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
        "--max-interval", "1",
    ]  # fmt: skip
    beat = CeleryProcess("beat", args, _child_env(var_dir, None), var_dir, "beat: Starting")
    beat.start()
    yield beat
    beat.stop()
