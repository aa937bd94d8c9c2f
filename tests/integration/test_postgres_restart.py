"""PostgreSQL restarted under a running web (gunicorn) and worker: both recover by themselves.

The shared PostgreSQL is never restarted: the test starts a throwaway cluster (initdb/pg_ctl,
as the `postgres` user when run as root) on its own port, copies the migrated schema of the test
database into it, and points a gunicorn and a Celery worker at it. During the outage a page is
a readable 503; after the restart the same processes serve pages and run tasks again.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.conftest import CELERY, ROOT, CeleryProcess, _child_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

_DEBIAN_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
PG_BIN = Path(
    os.environ.get("CHARTER_TEST_PG_BIN")
    or (_DEBIAN_BINS[-1] if _DEBIAN_BINS else "/usr/lib/postgresql/15/bin")
)
PG_PORT = int(os.environ.get("CHARTER_TEST_PG_PORT", "55470"))
WEB_PORT = int(os.environ.get("CHARTER_TEST_WEB_PORT", "8271"))
DB_NAME = "charter_pg_restart"


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, on its own port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="charter-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{PG_PORT}/{DB_NAME}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        argv = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb refuses root; the cluster belongs to `postgres`
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {PG_PORT} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "30", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def copy_schema_from(self, source_url: str) -> None:
        """The test database's migrated schema and rows, restored into this cluster."""
        admin = f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres"
        subprocess.run([PG_BIN / "psql", "-q", admin, "-c", f"CREATE DATABASE {DB_NAME}"],  # noqa: S603
                       check=True, capture_output=True, timeout=30)  # fmt: skip
        dump = subprocess.Popen(  # noqa: S603
            [PG_BIN / "pg_dump", "--no-owner", "--no-privileges", source_url],
            stdout=subprocess.PIPE,
        )
        subprocess.run(  # noqa: S603
            [PG_BIN / "psql", "-q", "-v", "ON_ERROR_STOP=1", self.url],
            stdin=dump.stdout, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        assert dump.wait(timeout=30) == 0


@pytest.fixture
def cluster(transactional_db):
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CHARTER_REQUIRE_INTEGRATION") == "1":
            pytest.fail(f"no PostgreSQL server binaries in {PG_BIN}")
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN}")
    from tests.integration.conftest import _test_database_url

    cluster = Cluster()
    try:
        cluster.create()
        cluster.copy_schema_from(_test_database_url())
        yield cluster
    finally:
        cluster.remove()


SETUP = """
from django.core.management import call_command
call_command("collectstatic", interactive=False, verbosity=0)  # production storage: a manifest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from access.roles import STEWARD
from access.services import roles_bootstrap
from catalog.models import Dataset
from catalog.services import dataset_register
from django_celery_beat.models import IntervalSchedule, PeriodicTask
roles_bootstrap()
user = get_user_model().objects.create_user("pg-restart", password="not-used-here-1234")
user.groups.add(Group.objects.get(name=STEWARD))
ids = [dataset_register(actor=user, name=f"pg-restart-{n}", source_kind="file", path=PATH,
                        owner=user, profile=False).pk for n in (1, 2, 3)]
Dataset.objects.filter(pk__in=ids[1:]).update(profile_status="ready")  # not for the sweeper
every = IntervalSchedule.objects.create(every=2, period="seconds")
PeriodicTask.objects.update_or_create(name="catalog: re-send waiting profiling requests",
    defaults={"task": "catalog.tasks.dataset_profiles_resend_task", "interval": every})
session = SessionStore()
session.update({"_auth_user_id": str(user.pk), "_auth_user_hash": user.get_session_auth_hash(),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend"})
session.create()
print("SETUP", *ids, session.session_key)
"""


def _get(path: str, session_key: str) -> tuple[int, str]:
    """GET as the test user, not following redirects (a redirect to the login page is no page)."""
    conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=30)
    try:
        headers = {"Host": "localhost", "Cookie": f"sessionid={session_key}"}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _sql(cluster: Cluster, sql: str, *params):
    import psycopg

    with psycopg.connect(cluster.url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(sql, params).fetchone()


def _profile_status(cluster: Cluster, dataset_id: int) -> str:
    return _sql(cluster, "SELECT profile_status FROM catalog_dataset WHERE id = %s", dataset_id)[0]


def test_postgres_restarted_web_and_worker_recover_without_a_restart(
    cluster, celery_worker_factory, tmp_path, settings, wait_for
):
    from catalog.tasks import dataset_profile_task

    data = tmp_path / "data"
    data.mkdir()
    (data / "people.csv").write_text("id,name\n1,ada\n2,grace\n")
    settings.CHARTER_DATA_ROOTS = [data]
    var_dir = tmp_path / "var"
    env = {"DATABASE_URL": cluster.url, "SECURE_SSL_REDIRECT": "false", "SECURE_COOKIES": "false"}
    child_env = _child_env(var_dir, env)
    setup = subprocess.run(  # noqa: S603
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c",
         SETUP.replace("PATH", repr(str(data / "people.csv")))],
        cwd=ROOT, env=child_env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    *ids, session_key = setup.stdout.split("SETUP")[-1].split()
    first_id, second_id, third_id = map(int, ids)
    worker = celery_worker_factory(env={**env, "CHARTER_PROFILE_RESEND_SECONDS": "3"})
    beat_args = [CELERY, "-A", "config", "beat", "--loglevel=INFO", "--max-interval", "1",
                 "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]  # fmt: skip
    beat = CeleryProcess("beat", beat_args, child_env, var_dir, "beat: Starting").start()
    web = CeleryProcess(
        "web",
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application",
         f"--bind=127.0.0.1:{WEB_PORT}", "--workers=1", "--worker-class=gthread", "--threads=2"],
        child_env, var_dir, "Booting worker",
    )  # fmt: skip
    web.start()
    try:
        # Before: both hold open connections (web: CONN_MAX_AGE; worker: a profile done).
        status, body = _get("/", session_key)
        assert status == 200 and "pg-restart" in body  # the home page, signed in
        dataset_profile_task.delay(dataset_id=first_id)
        wait_for(lambda: _profile_status(cluster, first_id) == "ready", timeout=60)

        # A re-profile saved just before the outage whose task reaches the worker during it.
        _sql(cluster, "UPDATE catalog_dataset SET profile_status = 'pending', updated_at = now() "
                      "WHERE id = %s RETURNING id", third_id)  # fmt: skip
        cluster.stop()
        dataset_profile_task.delay(dataset_id=third_id)
        status, body = _get("/", session_key)
        assert status == 503, body[:500]
        assert "temporarily unavailable" in body and "Traceback" not in body
        wait_for(lambda: "raised unexpected: OperationalError" in worker.log(), timeout=30)

        cluster.start()
        restarted = time.monotonic()
        wait_for(lambda: _get("/", session_key)[0] == 200, timeout=20, interval=0.5)
        assert "pg-restart" in _get("/", session_key)[1]
        web_back = time.monotonic() - restarted
        dataset_profile_task.delay(dataset_id=second_id)
        wait_for(lambda: _profile_status(cluster, second_id) == "ready", timeout=30)
        worker_back = time.monotonic() - restarted
        # The task that failed during the outage: beat's sweeper sends it again.
        wait_for(lambda: _profile_status(cluster, third_id) == "ready", timeout=30)
        resent = time.monotonic() - restarted
        assert worker.alive and web.alive and beat.alive, "none of them may need a restart"
        print(  # noqa: T201  the figures for docs/RELIABILITY.md
            f"postgres restart: web back {web_back:.1f} s, task done {worker_back:.1f} s, "
            f"request failed during the outage re-sent and done {resent:.1f} s after"
        )
    except BaseException:
        print(web.log()[-3000:], worker.log()[-3000:], beat.log()[-3000:])  # noqa: T201
        raise
    finally:
        web.stop()
        beat.stop()
