"""Full-text and trigram search on PostgreSQL; SQLite needs nothing (the fallback scans).

The extension is created here when the role may (superuser or database owner on PG >= 13,
where pg_trgm is a trusted extension).
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS catalog_dataset_search_fts ON catalog_dataset "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(search_document, ''::text)))",
    "CREATE INDEX IF NOT EXISTS catalog_dataset_search_trgm ON catalog_dataset "
    "USING gin (search_document gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS catalog_dataset_name_trgm ON catalog_dataset "
    "USING gin (name gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS catalog_dataset_name_trgm",
    "DROP INDEX IF EXISTS catalog_dataset_search_trgm",
    "DROP INDEX IF EXISTS catalog_dataset_search_fts",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_issues_search")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
