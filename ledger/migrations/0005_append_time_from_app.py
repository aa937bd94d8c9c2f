"""`ledger_append` takes the event's time from the application, as before migration 0004.

0004 took it from the database clock under the lock. The application's clock is the one the
rest of Charter uses (and tests move with time_machine): `catalog.versioning.dataset_as_of`
compares ledger times with times the application wrote. `ledger_record` takes it just before
the call, outside the lock (docs/decisions.md).
"""

import importlib

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION ledger_append(
    p_lock_key bigint,
    p_actor_id bigint,
    p_actor_username text,
    p_action text,
    p_target_type text,
    p_target_id text,
    p_target_repr text,
    p_data jsonb,
    p_text_before_time text,
    p_text_before_prev text,
    p_text_before_seq text,
    p_text_after_seq text,
    p_created_at timestamptz,
    OUT o_id bigint,
    OUT o_seq bigint,
    OUT o_prev_hash text,
    OUT o_hash text,
    OUT o_created_at timestamptz
) AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock_key);
    -- A volatile function takes a new snapshot per statement (READ COMMITTED): this one is
    -- taken after the lock is granted, so it sees the head the previous holder committed.
    SELECT e.seq, e.hash INTO head_seq, head_hash
        FROM ledger_event e ORDER BY e.seq DESC LIMIT 1;
    o_seq := coalesce(head_seq, 0) + 1;
    o_prev_hash := coalesce(head_hash, repeat('0', 64));
    o_created_at := p_created_at;
    -- The canonical text is built in Python around these three fields
    -- (ledger.hashing.append_text_template); the time is formatted as isoformat() does.
    o_hash := encode(sha256(convert_to(
        p_text_before_time
        || to_char(o_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        || p_text_before_prev || o_prev_hash
        || p_text_before_seq || o_seq::text
        || p_text_after_seq,
        'UTF8')), 'hex');
    INSERT INTO ledger_event (
        seq, created_at, actor_id, actor_username, action, target_type, target_id,
        target_repr, data, prev_hash, hash
    ) VALUES (
        o_seq, o_created_at, p_actor_id, p_actor_username, p_action, p_target_type,
        p_target_id, p_target_repr, p_data, o_prev_hash, o_hash
    ) RETURNING id INTO o_id;
END;
$$ LANGUAGE plpgsql VOLATILE;
"""
DROP_OLD = """
DROP FUNCTION IF EXISTS ledger_append(
    bigint, bigint, text, text, text, text, text, jsonb, text, text, text, text
);
"""
DROP = """
DROP FUNCTION IF EXISTS ledger_append(
    bigint, bigint, text, text, text, text, text, jsonb, text, text, text, text, timestamptz
);
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_OLD)
        schema_editor.execute(CREATE)


def restore_0004(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
        schema_editor.execute(importlib.import_module("ledger.migrations.0004_append_function").CREATE)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_append_function")]
    operations = [migrations.RunPython(create_function, restore_0004)]
