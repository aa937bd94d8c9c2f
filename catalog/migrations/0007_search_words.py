"""PostgreSQL: the catalog's vocabulary, one row per distinct word, with a trigram index.

The typo path of search looks up the words closest to a misspelt term here (a few thousand
short rows) instead of comparing the term with the name and title of every dataset, as
PostgreSQL's documentation suggests for spelling suggestions with pg_trgm. Statement-level
triggers on catalog_dataset add the words of every new or changed search document, whatever
writes it (services, bulk loads, admin). Words are never removed: a word left by a deleted
dataset only suggests a spelling that then finds nothing. SQLite has no table (its fallback
builds the vocabulary in Python).
"""

from django.db import migrations


# Words worth suggesting: 3+ letters (no digits, no hyphenated compounds), as the 'simple'
# parser splits and lowercases them (no stemming, so a suggestion is a real word of a document).
def _add_words(rows: str, where: str = "TRUE") -> str:
    # Fixed SQL text of this module (table names and conditions), no user input.
    return f"""
        INSERT INTO catalog_searchword (word)
        SELECT DISTINCT w.lexeme
        FROM {rows}, unnest(to_tsvector('simple', COALESCE(n.search_document, ''))) w
        WHERE length(w.lexeme) > 2 AND w.lexeme ~ '^[[:alpha:]]+$' AND {where}
        ON CONFLICT DO NOTHING
    """  # noqa: S608


def _trigger_function(name: str, body: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$
    """


FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE TABLE IF NOT EXISTS catalog_searchword (word text PRIMARY KEY)",
    "CREATE INDEX IF NOT EXISTS catalog_searchword_trgm ON catalog_searchword "
    "USING gin (word gin_trgm_ops)",
    _trigger_function("catalog_searchword_inserted", _add_words("new_rows n")),
    _trigger_function(
        "catalog_searchword_updated",
        _add_words(
            "new_rows n JOIN old_rows o ON o.id = n.id",
            "n.search_document IS DISTINCT FROM o.search_document",
        ),
    ),
    "DROP TRIGGER IF EXISTS catalog_dataset_words_inserted ON catalog_dataset",
    "CREATE TRIGGER catalog_dataset_words_inserted AFTER INSERT ON catalog_dataset "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION catalog_searchword_inserted()",
    "DROP TRIGGER IF EXISTS catalog_dataset_words_updated ON catalog_dataset",
    "CREATE TRIGGER catalog_dataset_words_updated AFTER UPDATE ON catalog_dataset "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION catalog_searchword_updated()",
    _add_words("catalog_dataset n"),
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS catalog_dataset_words_updated ON catalog_dataset",
    "DROP TRIGGER IF EXISTS catalog_dataset_words_inserted ON catalog_dataset",
    "DROP FUNCTION IF EXISTS catalog_searchword_updated()",
    "DROP FUNCTION IF EXISTS catalog_searchword_inserted()",
    "DROP TABLE IF EXISTS catalog_searchword",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_profile_resend_schedule")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
