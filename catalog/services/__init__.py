"""Catalog services: every write about datasets, columns, versions, connections and issues.

Each governance act writes a ledger event in the same transaction. Source problems
(`catalog.sources.SourceError`) become Django `ValidationError`s with the source's message, so
views and the API show them as ordinary form errors and nothing is saved. `datasets` holds
registration, profiling, versions and classification; `connections` and `issues` the rest.
Callers use the names below: `from catalog import services; services.dataset_register(...)`.
"""

from catalog.services.connections import (
    connection_create,
    connection_test,
    connection_update_password,
)
from catalog.services.datasets import (
    PROFILE_STALE_AFTER,
    column_update,
    dataset_deprecate,
    dataset_profile,
    dataset_reactivate,
    dataset_register,
    dataset_reprofile_request,
    dataset_search_refresh,
    dataset_update,
    upload_store,
    version_diff,
)
from catalog.services.issues import (
    issue_comment_add,
    issue_notify,
    issue_report_create,
    issue_report_set_status,
)

__all__ = [
    "PROFILE_STALE_AFTER",
    "column_update",
    "connection_create",
    "connection_test",
    "connection_update_password",
    "dataset_deprecate",
    "dataset_profile",
    "dataset_reactivate",
    "dataset_register",
    "dataset_reprofile_request",
    "dataset_search_refresh",
    "dataset_update",
    "issue_comment_add",
    "issue_notify",
    "issue_report_create",
    "issue_report_set_status",
    "upload_store",
    "version_diff",
]
