import csv

import pytest

from access.services import demo_users_ensure, roles_bootstrap
from catalog.demo import demo_files_write, seed_catalog_demo
from catalog.models import Dataset, IssueReport

pytestmark = pytest.mark.django_db


def test_demo_files_are_deterministic_with_a_planted_bias(tmp_path):
    first = demo_files_write(tmp_path / "a")
    second = demo_files_write(tmp_path / "b")
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key
    with first["loan-applications"].open() as fh:
        rows = list(csv.DictReader(fh))
    rate = {
        sex: sum(int(r["approved"]) for r in rows if r["sex"] == sex)
        / sum(1 for r in rows if r["sex"] == sex)
        for sex in ("F", "M")
    }
    assert rate["F"] / rate["M"] < 0.8  # fails the four-fifths rule, as planted
    assert {"approved", "predicted", "sex", "age"} <= set(rows[0])


def test_seed_is_idempotent_and_covers_every_tier(data_root):
    roles_bootstrap()
    demo_users_ensure(password="demo-pass-123")
    created = seed_catalog_demo()
    assert set(created) == {"loan-applications", "customers", "transactions", "country-reference"}
    assert seed_catalog_demo() == []
    assert Dataset.objects.filter(name__in=created).count() == 4
    assert set(Dataset.objects.values_list("sensitivity", flat=True)) >= {
        "public",
        "internal",
        "confidential",
        "restricted",
    }
    assert all(
        d.profile_status == "ready" and d.current_version
        for d in Dataset.objects.filter(name__in=created)
    )
    customers = Dataset.objects.get(name="customers")
    pii = dict(customers.columns.exclude(pii_kind="").values_list("name", "pii_kind"))
    assert pii == {
        "full_name": "name",
        "email": "email",
        "phone": "phone",
        "date_of_birth": "date_of_birth",
        "card_number": "card_number",
        "ip_address": "ip_address",
    }
    loans = Dataset.objects.get(name="loan-applications")
    assert dict(
        loans.columns.exclude(protected_attribute="").values_list("name", "protected_attribute")
    ) == {
        "sex": "sex",
        "age": "age",
    }
    assert loans.columns.filter(pii_kind="").count() == loans.columns.count()
    assert IssueReport.objects.filter(dataset=loans).count() == 1
