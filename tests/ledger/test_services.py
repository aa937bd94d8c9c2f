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


@pytest.mark.django_db
def test_awkward_text_hashes_the_same_when_appended_and_verified(steward):
    awkward = 'quote " \\ new\nline\ttab\x01 é 中文 🙂 \u2028'
    event = ledger_record(
        actor=steward,
        action=f"test.{awkward}",
        target=("catalog.dataset", awkward[:50]),
        data={awkward: [awkward, 1.5, None], "nested": {"z": 1, "a": awkward}},
    )
    stored = Event.objects.get(seq=event.seq)
    assert (stored.hash, stored.prev_hash, stored.created_at) == (
        event.hash,
        event.prev_hash,
        event.created_at,
    )
    assert stored.data == event.data and stored.action == event.action
    result = ledger_verify()
    assert result.ok and result.head_hash == event.hash


@pytest.mark.django_db(transaction=True)
def test_an_event_rolls_back_with_its_act(steward):
    from django.db import transaction

    first = ledger_record(actor=steward, action="test.kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_record(actor=steward, action="test.act_failed")
        raise RuntimeError("the act fails after logging")
    second = ledger_record(actor=steward, action="test.kept")
    assert list(Event.objects.order_by("seq").values_list("action", flat=True)) == [
        "test.kept",
        "test.kept",
    ]
    assert second.seq == first.seq + 1 and second.prev_hash == first.hash
    assert ledger_verify().ok


@pytest.mark.django_db
def test_numbers_jsonb_rewrites_still_verify(steward):
    """-0.0, floats of 1e16 and up, NaN and infinity: stored as jsonb gives them back."""
    event = ledger_record(
        actor=steward,
        action="test.numbers",
        data={
            "negative_zero": -0.0,
            "big": 1e20,
            "odd_big": 1.2345678901234567e20,
            "tiny": 1.5e-7,
            "nan": float("nan"),
            "inf": float("-inf"),
            "plain": [0.1 + 0.2, 3],
        },
    )
    assert event.data["negative_zero"] == 0.0 and event.data["big"] == 10**20
    assert event.data["nan"] is None and event.data["inf"] is None
    assert Event.objects.get(seq=event.seq).data == event.data
    result = ledger_verify()
    assert result.ok, result.reason
