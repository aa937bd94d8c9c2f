"""PostgreSQL connections: registered with an encrypted password, tested on demand."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from catalog import sources
from catalog.models import (
    Connection,
)
from catalog.services.datasets import _invalid
from ledger.services import ledger_record


@transaction.atomic
def connection_create(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    host: str,
    database: str,
    username: str,
    password: str,
    port: int = 5432,
    schema: str = "public",
) -> Connection:
    """Save a PostgreSQL connection with its password encrypted; the password is never logged."""
    connection = Connection(
        name=(name or "").strip(),
        host=(host or "").strip(),
        port=port or 5432,
        database=(database or "").strip(),
        username=(username or "").strip(),
        schema=(schema or "public").strip(),
        created_by=actor if actor and actor.is_authenticated else None,
    )
    if Connection.objects.filter(name=connection.name).exists():
        raise _invalid(f"A connection named {connection.name} already exists.", "name")
    if not sources.IDENTIFIER.match(connection.schema):
        raise _invalid("The schema must be a plain identifier (letters, digits, '_').", "schema")
    connection.full_clean(exclude=["password_encrypted"])
    connection.password_encrypted = sources.encrypt_secret(password or "")
    connection.save()
    ledger_record(
        actor=actor,
        action="connection.created",
        target=connection,
        data={
            k: getattr(connection, k) for k in ("host", "port", "database", "username", "schema")
        },
    )
    return connection


@transaction.atomic
def connection_update_password(
    *, connection: Connection, actor: AbstractBaseUser | None, password: str
) -> None:
    """Replace a connection's stored password (encrypted); the ledger says only that it changed."""
    connection.password_encrypted = sources.encrypt_secret(password or "")
    connection.save(update_fields=["password_encrypted"])
    ledger_record(actor=actor, action="connection.password_changed", target=connection, data={})


def connection_test(*, connection: Connection) -> tuple[bool, str]:
    """Try the connection; return (ok, a message for the user). Never raises for source errors."""
    try:
        sources.connection_check(connection)
    except sources.SourceError as exc:
        return False, str(exc)
    return (
        True,
        f"Connected to {connection.database} on {connection.host}:{connection.port} (read-only).",
    )
