"""The production packaging: Dockerfile and docker-compose.yml say what the issue asks."""

from pathlib import Path

import pytest
import yaml
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
STYLE_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_full_stack_with_healthchecks(compose):
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "test" in services[name]["healthcheck"], name
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "pgdata" in compose["volumes"]


def test_app_services_get_every_setting_from_the_environment(compose):
    for name in ("web", "worker", "beat", "migrate"):
        env = compose["services"][name]["environment"]
        assert set(env) >= STYLE_VARIABLES, f"{name} misses {STYLE_VARIABLES - set(env)}"
        assert env["DEBUG"] == "false"
        assert ":?" in env["SECRET_KEY"], "compose must refuse to start without a secret key"


def test_web_waits_for_a_healthy_database_and_migrations(compose):
    depends = compose["services"]["web"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert "migrate" in " ".join(compose["services"]["migrate"]["command"])


def test_dockerfile_is_slim_non_root_with_collectstatic_and_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "collectstatic --noinput" in dockerfile and "gunicorn config.wsgi" in dockerfile
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1] != "USER root"
    assert "HEALTHCHECK" in dockerfile


def test_env_example_lists_the_variables_and_no_real_secret():
    example = (ROOT / ".env.example").read_text()
    for name in STYLE_VARIABLES - {"DATABASE_URL", "REDIS_URL", "DEBUG"}:
        assert f"{name}=" in example, name
    assert "SECRET_KEY=\n" in example or "SECRET_KEY=change-me" in example


@override_settings(SECURE_SSL_REDIRECT=True)
def test_health_stays_on_plain_http_for_probes_while_pages_redirect(client, db):
    assert client.get("/health").status_code == 200
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
