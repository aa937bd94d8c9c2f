"""The `make run` setup: no DATABASE_URL, no REDIS_URL, and still a real worker runs tasks.

Everything happens in child processes sharing one CHARTER_VAR_DIR, as under honcho: SQLite for
the portal and kombu's SQLAlchemy transport on a SQLite file as the broker.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.integration.conftest import CELERY, ROOT, CeleryProcess, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")


def _laptop_env(var_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings", CHARTER_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1"
    )
    return env


def _manage(env, *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_embedded_broker_worker_runs_a_task_sent_by_another_process(tmp_path):
    var_dir = tmp_path / "var"
    env = _laptop_env(var_dir)
    _manage(env, "migrate", "--noinput", "-v0")
    args = [
        CELERY, "-A", "config", "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=2",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    worker = CeleryProcess("worker", args, env, var_dir, " ready.").start()
    try:
        assert "sqla+sqlite" in worker.log()
        _manage(
            env, "shell", "-v0", "-c",
            "from ledger.services import ledger_record; ledger_record(actor=None, action='t.x'); "
            "from ledger.tasks import ledger_anchor_head_task; ledger_anchor_head_task.delay()",
        )  # fmt: skip
        anchor = var_dir / "ledger-anchor.jsonl"
        wait_until(anchor.exists, timeout=60)
        assert json.loads(anchor.read_text().splitlines()[0])["seq"] == 1
        wait_until(lambda: " succeeded in " in worker.log(), timeout=30)
    finally:
        worker.stop()
    assert worker.proc.returncode == 0, worker.log()[-3000:]  # a clean warm shutdown
