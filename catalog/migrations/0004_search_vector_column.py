"""PostgreSQL: keep the tsvector in a stored generated column, so ranking never re-parses text.

The column is not a Django field (Django never writes it; PostgreSQL computes it from
search_document). catalog.selectors reads it on PostgreSQL only; SQLite has no such column.
"""

from django.db import migrations

FORWARD = [
    "DROP INDEX IF EXISTS catalog_dataset_search_fts",
    "ALTER TABLE catalog_dataset ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, COALESCE(search_document, ''::text))) STORED",
    "CREATE INDEX IF NOT EXISTS catalog_dataset_search_vector ON catalog_dataset USING gin (search_vector)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS catalog_dataset_search_vector",
    "ALTER TABLE catalog_dataset DROP COLUMN IF EXISTS search_vector",
    "CREATE INDEX IF NOT EXISTS catalog_dataset_search_fts ON catalog_dataset "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(search_document, ''::text)))",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_search_indexes")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
