"""The admin shows access requests, approvals and grants, and changes none of them: every
governance act goes through access.services and writes its ledger event."""

import pytest

pytestmark = pytest.mark.django_db

MODELS = ("accessrequest", "accessapproval", "accessgrant")


@pytest.mark.parametrize("model", MODELS)
def test_admin_lists_access_records_read_only(
    client, admin_user, make_dataset, engineer, grant_access, model
):
    grant = grant_access(engineer, make_dataset(name="loans"))
    client.force_login(admin_user)
    listing = client.get(f"/admin/access/{model}/")
    assert listing.status_code == 200
    assert client.get(f"/admin/access/{model}/add/").status_code == 403
    if model == "accessgrant":
        assert b"loans" in listing.content
        detail = client.get(f"/admin/access/accessgrant/{grant.pk}/change/")
        assert detail.status_code == 200 and b'name="_save"' not in detail.content
        assert client.post(f"/admin/access/accessgrant/{grant.pk}/delete/").status_code == 403
