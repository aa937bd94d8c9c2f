"""Access fixtures: datasets on a temporary data root, and grants made through the services."""

import csv
from pathlib import Path

import pytest

from access.models import AccessRequest
from access.services import access_request_approve, access_request_create
from catalog.models import Column, Dataset, Sensitivity

PEOPLE_HEADER = ["id", "full_name", "email", "phone", "birth_date", "score", "city"]
PEOPLE_PII = {
    "full_name": "name",
    "email": "email",
    "phone": "phone",
    "birth_date": "date_of_birth",
}


def people_rows(n: int) -> list[list]:
    return [
        [
            i,
            f"Person {i}",
            f"person{i}@example.com",
            f"+44 20 7946 {i:04d}",
            f"19{50 + i % 50:02d}-0{1 + i % 9}-1{i % 9}",
            round(0.5 + (i % 7) / 10, 2),
            ["Leeds", "York", "Bath"][i % 3],
        ]
        for i in range(1, n + 1)
    ]


def write_people_csv(path: Path, n: int = 30) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PEOPLE_HEADER)
        writer.writerows(people_rows(n))
    return path


@pytest.fixture
def data_root(tmp_path, settings):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    return root


@pytest.fixture
def make_dataset(data_root):
    """make_dataset(name, sensitivity, owner=None, rows=30) -> a CSV dataset with PII columns."""

    def _make(name="people", sensitivity=Sensitivity.INTERNAL, owner=None, rows=30, **extra):
        path = write_people_csv(data_root / f"{name}.csv", rows)
        dataset = Dataset.objects.create(
            name=name,
            title=name.replace("-", " ").title(),
            sensitivity=sensitivity,
            owner=owner,
            source_kind=Dataset.SourceKind.FILE,
            location=str(path),
            file_format="csv",
            **extra,
        )
        Column.objects.bulk_create(
            Column(dataset=dataset, name=n, position=i, pii_kind=PEOPLE_PII.get(n, ""))
            for i, n in enumerate(PEOPLE_HEADER)
        )
        return dataset

    return _make


def approve_fully(access_request: AccessRequest, *approvers) -> AccessRequest:
    for approver in approvers:
        access_request = access_request_approve(access_request=access_request, approver=approver)
    return access_request


@pytest.fixture
def grant_access(steward, steward2, compliance):
    """grant_access(user, dataset, level) -> AccessGrant, through request + approvals."""

    def _grant(user, dataset, level="masked", days=None, columns=None):
        req = access_request_create(
            requester=user,
            dataset=dataset,
            level=level,
            purpose="Train the churn model (test fixture).",
            duration_days=days,
            columns=columns,
        )
        first = steward if user.pk != steward.pk else steward2
        approvers = (
            [first, compliance] if dataset.sensitivity == Sensitivity.RESTRICTED else [first]
        )
        req = approve_fully(req, *approvers)
        return req.grant

    return _grant


from tests.access.matrix import access_world  # noqa: E402, F401  the matrix's fixture
