"""VACUUM ANALYZE the edge table after 0004 rewrote it (PostgreSQL): the walk reads the new
(src_key, dst_key) index index-only, which needs the visibility map a rewrite leaves unset (each
probe would read the heap until autovacuum passes), and the planner the new columns' statistics.
VACUUM cannot run in a transaction, hence a migration of its own that is not atomic."""

from django.db import migrations


def vacuum(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("lineage", "LineageEdge")._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("lineage", "0004_edge_node_keys")]
    operations = [migrations.RunPython(vacuum, migrations.RunPython.noop, elidable=True)]
