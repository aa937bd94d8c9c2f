"""Statements prepared once per database connection, for the hottest API queries.

PostgreSQL plans a statement each time it is sent as text, and the API list's queries cost
more to plan than to run (the visibility predicate's grant and permission subqueries: ~3 ms
of planning against ~2 ms of execution for a page of ids). A prepared statement is planned
once per connection and, when PostgreSQL finds its generic plan as cheap as the planned
ones, never again. psycopg names and keeps them (protocol-level prepared statements, at most
`prepared_max` per connection, dropped on DISCARD ALL or DEALLOCATE ALL).

Django's cursors bind parameters client-side and never prepare; only `fetch_prepared` does.
A connection pooler in transaction mode must support protocol-level prepared statements
(pgbouncer >= 1.21 with `max_prepared_statements`); `CHARTER_PREPARED_STATEMENTS=false` in
the environment runs the same statements unprepared.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection


def fetch_prepared(sql: str, params: Sequence[Any]) -> list[tuple]:
    """All rows of `sql` (Django's %s placeholders), prepared on PostgreSQL. Logged and counted
    as Django's queries are. Each distinct text is one statement on every connection, so the
    text must come from a small set: values are parameters."""
    if connection.vendor != "postgresql" or not settings.CHARTER_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with connection.wrap_database_errors:
        connection.ensure_connection()
        raw = connection.connection
        if raw.prepare_threshold is None:  # Django's default: psycopg would prepare nothing
            raw.prepare_threshold = sys.maxsize  # only asked-for statements, never by count
        if not getattr(raw, "charter_generic_plans", False) and not connection.in_atomic_block:
            # Each statement here has one good plan whatever its values (a token by digest,
            # a list page by user and time, rows by ids), yet PostgreSQL plans the first five
            # executions of every statement on every connection for their values, and a page's
            # ids statement (one per page offset) costs ~2 ms to plan, more than to run.
            # Only statements prepared with parameters are concerned: the rest of Django
            # sends its values written in (client-side binding). Set in autocommit, so no
            # rollback undoes it.
            raw.execute("SET plan_cache_mode = force_generic_plan")
            raw.charter_generic_plans = True
        prepared = _PreparedCursor(raw)
        prepared.logged = connection.queries_logged
    # Django's own wrapper: the query is logged, counted and passed to execute wrappers.
    with connection._prepare_cursor(prepared) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, every statement prepared, results in binary (psycopg's C loaders:
    no text parsing of each timestamp)."""

    logged = False  # set when Django logs queries (DEBUG, tests): it reads the text below

    def execute(self, query, params=None, *, prepare=None, binary=None):
        super().execute(query, params, prepare=True, binary=True)
        if self.logged:
            # Django's log reads `_query.query`, the text a client-side cursor would have
            # sent; a prepared statement is sent by name, so it is written out here.
            text = psycopg.ClientCursor(self.connection).mogrify(query, params)
            self._query = SimpleNamespace(query=text.encode())
        return self
