import pytest

from catalog.models import Dataset
from catalog.services import dataset_register
from ledger.models import Event

pytestmark = pytest.mark.django_db


def test_register_csv_profiles_and_versions(
    customers_csv, steward, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dataset = dataset_register(
            actor=steward, name="customers", source_kind="file", path=str(customers_csv)
        )
    dataset.refresh_from_db()
    assert dataset.profile_status == Dataset.ProfileStatus.READY
    assert dataset.row_count == 40
    assert dataset.current_version.number == 1
    assert len(dataset.current_version.fingerprint) == 64
    cols = {c.name: c for c in dataset.columns.all()}
    assert cols["email"].suggested_pii_kind == "email"
    assert cols["card"].suggested_pii_kind == "card_number"
    assert cols["signup_ip"].suggested_pii_kind == "ip_address"
    assert cols["full_name"].suggested_pii_kind == "name"
    assert cols["segment"].suggested_pii_kind == ""
    assert "top_values" in cols["segment"].profile
    assert "top_values" not in cols["email"].profile and "min" not in cols["email"].profile
    assert cols["balance"].profile["mean"] == pytest.approx(100.5 * 19.5)
    assert cols["email"].pii_evidence["match_fraction"] == 1.0
    actions = list(Event.objects.values_list("action", flat=True))
    assert "dataset.registered" in actions and "dataset.version_created" in actions
