"""On PostgreSQL, append an event in one statement: lock, read the head, hash, insert.

Before, the append lock was held across three client round trips (lock + head, INSERT,
COMMIT) with Python in between; on a busy machine the lock holder waited for a core while
seven writers waited for it (docs/PERFORMANCE.md, "Ledger"). `ledger.services.ledger_record`
now calls this function once. In autocommit the whole append, commit included, runs in the
server; inside a caller's transaction the lock is still held until that transaction commits,
so the event and its act commit together.
"""

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
    o_created_at := clock_timestamp();
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
DROP = """
DROP FUNCTION IF EXISTS ledger_append(
    bigint, bigint, text, text, text, text, text, jsonb, text, text, text, text
);
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_anchor_schedule")]
    operations = [migrations.RunPython(create_function, drop_function)]
