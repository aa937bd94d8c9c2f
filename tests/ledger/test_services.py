import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledger.models import AppendOnlyError, Event
from ledger.services import ledger_record, ledger_verify


@pytest.mark.django_db
def test_events_chain_each_to_the_previous(steward):
    first = ledger_record(actor=steward, action="test.one", data={"a": 1})
    second = ledger_record(actor=None, action="test.two", target=steward)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.target_type == "auth.user" and second.target_id == str(steward.pk)
    result = ledger_verify()
    assert result.ok and result.checked == 2 and result.head_hash == second.hash


@pytest.mark.django_db
def test_orm_refuses_update_and_delete(steward):
    event = ledger_record(actor=steward, action="test.one")
    event.action = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        Event.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        Event.objects.all().delete()


def _raw(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the trigger refuses even us: step around it
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.mark.django_db
def test_verify_names_the_first_edited_event(steward):
    for n in range(5):
        ledger_record(actor=steward, action=f"test.{n}", data={"n": n})
    _raw("UPDATE ledger_event SET data = %s WHERE seq = 3", ['{"n": 99}'])
    result = ledger_verify()
    assert not result.ok and result.first_bad_seq == 3 and "altered" in result.reason
    with pytest.raises(CommandError, match="#3"):
        call_command("verify_ledger")


@pytest.mark.django_db
def test_verify_catches_a_deleted_event(steward):
    for n in range(4):
        ledger_record(actor=steward, action=f"test.{n}")
    _raw("DELETE FROM ledger_event WHERE seq = 2")
    result = ledger_verify()
    assert not result.ok and result.first_bad_seq == 2 and "missing" in result.reason


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only"
)
def test_database_trigger_refuses_raw_update(steward):
    from django.db import DatabaseError, transaction

    ledger_record(actor=steward, action="test.one")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_event SET action = 'x'")
