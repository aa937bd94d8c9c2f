"""PostgreSQL: `catalog_datasetsearch`, one narrow row per dataset for the ranked search pass.

The catalog page's ranked search reads, for the first 10,001 matches, the search vector,
what visibility needs (sensitivity, owner), what ordering needs (name) and what the facets
count (domain, owner, sensitivity, status, tags, PII). From `catalog_dataset` that was a
~1.1 kB row per match plus, per match, one probe of the dataset-tag index and one of the PII
column index (~5.7k each for "customer" at 100k datasets). Here the row is ~0.6 kB and
carries the tag ids and the PII flag, so the pass reads one narrow row per match and nothing
else.

Statement-level triggers keep the rows in the same transaction as the change, whatever
writes it (services, bulk loads, admin, cascades): datasets inserted, updated (only rows
whose copied values changed are rewritten), deleted or truncated; tags linked or unlinked;
columns whose PII classification changes. Exactness matters: visibility is decided on
these copies. SQLite has no table (its search does not use it).
"""

from django.db import migrations

# A declared PII column, or a suggested one nobody has reviewed (catalog.selectors rule).
PII_RULE = "(c.pii_kind <> '' OR (c.suggested_pii_kind <> '' AND NOT c.pii_reviewed))"
COPIED = "search_vector, sensitivity, status, owner_id, domain_id, name"


def _tags_of(dataset: str) -> str:
    # Fixed SQL text of this module.
    return (
        "COALESCE((SELECT array_agg(t.tag_id ORDER BY t.tag_id) FROM catalog_dataset_tags t "  # noqa: S608
        f"WHERE t.dataset_id = {dataset}), '{{}}')"
    )


def _pii_of(dataset: str) -> str:
    return f"EXISTS (SELECT 1 FROM catalog_column c WHERE c.dataset_id = {dataset} AND {PII_RULE})"  # noqa: S608, E501


def _function(name: str, body: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$
    """


def _refresh_tags(changed: str) -> str:
    return f"""
        UPDATE catalog_datasetsearch s SET tag_ids = {_tags_of("s.id")}
        WHERE s.id IN (SELECT dataset_id FROM {changed})
    """  # noqa: S608


def _refresh_pii(changed: str) -> str:
    # Only rows whose flag changes are written (and locked).
    return f"""
        UPDATE catalog_datasetsearch s SET has_pii = NOT s.has_pii
        WHERE s.id IN (SELECT dataset_id FROM {changed}) AND s.has_pii <> {_pii_of("s.id")}
    """  # noqa: S608


def _upsert(rows: str) -> str:
    return f"""
        INSERT INTO catalog_datasetsearch (id, {COPIED}, tag_ids, has_pii)
        SELECT n.id, n.search_vector, n.sensitivity, n.status, n.owner_id, n.domain_id, n.name,
            {_tags_of("n.id")}, {_pii_of("n.id")}
        FROM {rows}
        ON CONFLICT (id) DO UPDATE SET
            search_vector = EXCLUDED.search_vector, sensitivity = EXCLUDED.sensitivity,
            status = EXCLUDED.status, owner_id = EXCLUDED.owner_id,
            domain_id = EXCLUDED.domain_id, name = EXCLUDED.name,
            tag_ids = EXCLUDED.tag_ids, has_pii = EXCLUDED.has_pii
    """  # noqa: S608


_UPDATED = """
    UPDATE catalog_datasetsearch s SET search_vector = n.search_vector,
        sensitivity = n.sensitivity, status = n.status, owner_id = n.owner_id,
        domain_id = n.domain_id, name = n.name
    FROM new_rows n
    WHERE s.id = n.id AND (s.search_vector, s.sensitivity, s.status, s.owner_id, s.domain_id,
        s.name) IS DISTINCT FROM (n.search_vector, n.sensitivity, n.status, n.owner_id,
        n.domain_id, n.name)
"""
_COLUMNS_CHANGED = """
    (SELECT n.dataset_id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (n.dataset_id, n.pii_kind, n.suggested_pii_kind, n.pii_reviewed)
        IS DISTINCT FROM (o.dataset_id, o.pii_kind, o.suggested_pii_kind, o.pii_reviewed)
     UNION ALL SELECT o.dataset_id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.dataset_id <> o.dataset_id) changed
"""


def _trigger(name: str, table: str, event: str, function: str, transition: str = "") -> list[str]:
    referencing = f"REFERENCING {transition} " if transition else ""
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {table}",
        f"CREATE TRIGGER {name} AFTER {event} ON {table} {referencing}FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {function}()",
    ]


FUNCTIONS = {
    "catalog_datasetsearch_inserted": _upsert("new_rows n"),
    "catalog_datasetsearch_updated": _UPDATED,
    "catalog_datasetsearch_deleted": "DELETE FROM catalog_datasetsearch WHERE id IN "
    "(SELECT id FROM old_rows)",
    "catalog_datasetsearch_truncated": "DELETE FROM catalog_datasetsearch",
    "catalog_datasetsearch_tags_added": _refresh_tags("new_rows"),
    "catalog_datasetsearch_tags_removed": _refresh_tags("old_rows"),
    "catalog_datasetsearch_tags_truncated": "UPDATE catalog_datasetsearch SET tag_ids = '{}' "
    "WHERE tag_ids <> '{}'",
    "catalog_datasetsearch_columns_added": _refresh_pii("new_rows"),
    "catalog_datasetsearch_columns_changed": _refresh_pii(_COLUMNS_CHANGED),
    "catalog_datasetsearch_columns_removed": _refresh_pii("old_rows"),
    "catalog_datasetsearch_columns_truncated": "UPDATE catalog_datasetsearch SET has_pii = "
    "false WHERE has_pii",
}
NEW, OLD = "NEW TABLE AS new_rows", "OLD TABLE AS old_rows"
BOTH = f"{OLD} {NEW}"
TAGS = "catalog_dataset_tags"
TRIGGERS = [
    ("catalog_dataset_search_inserted", "catalog_dataset", "INSERT", "inserted", NEW),
    ("catalog_dataset_search_updated", "catalog_dataset", "UPDATE", "updated", BOTH),
    ("catalog_dataset_search_deleted", "catalog_dataset", "DELETE", "deleted", OLD),
    ("catalog_dataset_search_truncated", "catalog_dataset", "TRUNCATE", "truncated", ""),
    ("catalog_dataset_tags_search_added", TAGS, "INSERT", "tags_added", NEW),
    ("catalog_dataset_tags_search_removed", TAGS, "DELETE", "tags_removed", OLD),
    ("catalog_dataset_tags_search_updated", TAGS, "UPDATE", "tags_added", NEW),
    ("catalog_dataset_tags_search_updated_old", TAGS, "UPDATE", "tags_removed", OLD),
    ("catalog_dataset_tags_search_truncated", TAGS, "TRUNCATE", "tags_truncated", ""),
    ("catalog_column_search_added", "catalog_column", "INSERT", "columns_added", NEW),
    ("catalog_column_search_changed", "catalog_column", "UPDATE", "columns_changed", BOTH),
    ("catalog_column_search_removed", "catalog_column", "DELETE", "columns_removed", OLD),
    ("catalog_column_search_truncated", "catalog_column", "TRUNCATE", "columns_truncated", ""),
]  # fmt: skip

FORWARD = [
    """
    CREATE TABLE IF NOT EXISTS catalog_datasetsearch (
        id bigint PRIMARY KEY,
        search_vector tsvector NOT NULL,
        sensitivity varchar(20) NOT NULL,
        status varchar(20) NOT NULL,
        owner_id integer,
        domain_id bigint,
        name varchar(100) NOT NULL,
        tag_ids bigint[] NOT NULL DEFAULT '{}',
        has_pii boolean NOT NULL DEFAULT false
    )
    """,
    *[_function(f"{name}", body) for name, body in FUNCTIONS.items()],
    *[
        sql
        for name, table, event, function, transition in TRIGGERS
        for sql in _trigger(name, table, event, f"catalog_datasetsearch_{function}", transition)
    ],
    _upsert("catalog_dataset n"),
    "CREATE INDEX IF NOT EXISTS catalog_datasetsearch_vector ON catalog_datasetsearch "
    "USING gin (search_vector)",
    "ANALYZE catalog_datasetsearch",
]
BACKWARD = [
    *[f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, *_ in TRIGGERS],
    *[f"DROP FUNCTION IF EXISTS {name}()" for name in FUNCTIONS],
    "DROP TABLE IF EXISTS catalog_datasetsearch",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_search_words")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
