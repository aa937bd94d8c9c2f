import csv
import io

import pytest
from django.urls import reverse

from catalog import bulk, services
from catalog.models import Dataset, Sensitivity
from ledger.models import Event

pytestmark = pytest.mark.django_db


def export_csv(datasets) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(bulk.HEADER)
    from config.exports import csv_safe

    for row in bulk.metadata_export_rows(datasets):
        writer.writerow([csv_safe(v) for v in row])
    return out.getvalue()


def edit(text: str, dataset: str, column: str, field: str, value: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        if row["dataset"] == dataset and row["column"] == column:
            row[field] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=bulk.HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def line(**fields) -> str:
    return ",".join(fields.get(h, "") for h in bulk.HEADER) + "\n"


def test_export_rows_match_the_header(make_dataset):
    make_dataset("a")
    assert {len(r) for r in bulk.metadata_export_rows(Dataset.objects.all())} == {len(bulk.HEADER)}


def test_round_trip_is_a_no_op(make_dataset, steward):
    make_dataset("a")
    services.dataset_update(
        dataset=Dataset.objects.get(name="a"),
        actor=steward,
        data={"title": "-1 minus", "tags": ["x", "y"]},
    )
    text = export_csv(Dataset.objects.all())
    report = bulk.metadata_import(
        actor=steward, content=text.encode(), changeable=Dataset.objects.all(), apply=True
    )
    assert report.errors == [] and report.changes == [] and not report.applied


def test_dry_run_lists_changes_and_applies_nothing(make_dataset, steward, steward2):
    make_dataset("a")
    text = export_csv(Dataset.objects.all())
    text = edit(text, "a", "", "description", "Daily sales")
    text = edit(text, "a", "", "stewards", "stan")
    text = edit(text, "a", "city", "pii_kind", "address")
    events = Event.objects.count()
    report = bulk.metadata_import(
        actor=steward, content=text.encode(), changeable=Dataset.objects.all(), apply=False
    )
    assert sorted((c["column"], c["field"], str(c["after"])) for c in report.changes) == [
        ("", "description", "Daily sales"),
        ("", "stewards", "['stan']"),
        ("city", "pii_kind", "address"),
    ]
    assert Event.objects.count() == events and Dataset.objects.get().description == ""
    report = bulk.metadata_import(
        actor=steward, content=text.encode(), changeable=Dataset.objects.all(), apply=True
    )
    assert report.applied
    dataset = Dataset.objects.get()
    assert dataset.description == "Daily sales" and list(dataset.stewards.all()) == [steward2]
    assert dataset.columns.get(name="city").pii_kind == "address"
    assert Event.objects.filter(action__in=["dataset.updated", "column.classified"]).count() == 2


def test_row_errors_refuse_the_whole_file(make_dataset, steward, engineer):
    make_dataset("a")
    make_dataset("secret", sensitivity=Sensitivity.RESTRICTED)
    text = export_csv(Dataset.objects.filter(name="a"))
    text = edit(text, "a", "", "title", "New title")
    text = edit(text, "a", "", "sensitivity", "top-secret")
    text += line(record="column", dataset="a", column="nope", pii_kind="email")
    text += line(record="dataset", dataset="ghost")
    text += line(record="dataset", dataset="a", owner="nobody")
    report = bulk.metadata_import(
        actor=steward, content=text.encode(), changeable=Dataset.objects.all(), apply=True
    )
    assert not report.applied
    messages = [e["message"] for e in report.errors]
    assert any("top-secret" in m for m in messages)
    assert any("no column 'nope'" in m for m in messages)
    assert any("ghost not found" in m for m in messages)
    assert any("Unknown user(s): nobody" in m for m in messages)
    assert Dataset.objects.get(name="a").title == ""


def test_datasets_you_may_not_change_are_errors(make_dataset, steward, engineer):
    make_dataset("a")
    text = edit(export_csv(Dataset.objects.all()), "a", "", "title", "Mine now")
    from access.policies import datasets_for

    report = bulk.metadata_import(
        actor=engineer,
        content=text.encode(),
        changeable=datasets_for(engineer, "change"),
        apply=True,
    )
    assert not report.applied and "not yours to change" in report.errors[0]["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\xff\xfe\x00bad", "not UTF-8"), (b"foo,bar\n1,2\n", "Missing header")],
)
def test_malformed_files(steward, content, message):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        bulk.metadata_import(
            actor=steward, content=content, changeable=Dataset.objects.all(), apply=False
        )
    assert message in str(info.value)


def test_import_page_dry_run(client, steward, make_dataset):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_dataset("a")
    text = edit(export_csv(Dataset.objects.all()), "a", "", "title", "From CSV")
    client.force_login(steward)
    response = client.post(
        reverse("catalog:metadata-import"), {"file": SimpleUploadedFile("m.csv", text.encode())}
    )
    page = response.content.decode()
    assert "Dry run" in page and "From CSV" in page
    assert Dataset.objects.get().title == ""
    response = client.post(
        reverse("catalog:metadata-import"),
        {"file": SimpleUploadedFile("m.csv", text.encode()), "apply": "on"},
    )
    assert Dataset.objects.get().title == "From CSV"
    response = client.post(
        reverse("catalog:metadata-import"), {"file": SimpleUploadedFile("m.csv", b"")}
    )
    assert "empty" in response.content.decode()
