"""Start-up of the second process that `ledger_verify` uses on a long chain.

Kept apart from `ledger.services`: the process unpickles this function before Django is set
up, and importing services (hence models) at that point would fail.
"""

import os
from typing import Any


def start_verifier(settings_module: str, database: dict[str, Any]) -> None:
    """Set up Django in the second process, on the parent's database (e.g. a test database)."""
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    django.setup()
    from django.db import DEFAULT_DB_ALIAS, connections

    connections[DEFAULT_DB_ALIAS].settings_dict.update(database)
