"""Catalog fixtures: a private data root per test, and datasets built through the real services."""

import csv
from pathlib import Path

import pytest

from catalog.models import Sensitivity
from catalog.services import dataset_register


@pytest.fixture
def data_root(tmp_path, settings):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root.resolve()]
    settings.CHARTER_UPLOAD_ROOT = (tmp_path / "uploads").resolve()
    return root.resolve()


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CUSTOMER_HEADER = ["customer_id", "full_name", "email", "card", "signup_ip", "segment", "balance"]


def customer_rows(n: int = 40) -> list[list]:
    cards = ["4111 1111 1111 1111", "5500 0000 0000 0004", "3400 0000 0000 009", "4012888888881881"]
    segments = ["retail", "business", "private"]
    return [
        [
            i,
            f"Person {i}",
            f"person{i}@example.org",
            cards[i % len(cards)],
            f"10.0.{i // 250}.{i % 250}",
            segments[i % 3],
            round(100.5 * i, 2),
        ]
        for i in range(n)
    ]


@pytest.fixture
def customers_csv(data_root):
    return write_csv(data_root / "customers.csv", CUSTOMER_HEADER, customer_rows())


@pytest.fixture
def make_dataset(data_root, steward, django_capture_on_commit_callbacks):
    """Register a small CSV dataset through the service (profiled eagerly after commit)."""
    counter = {"n": 0}

    def _make(name=None, *, sensitivity=Sensitivity.INTERNAL, actor=None, rows=None, **extra):
        counter["n"] += 1
        name = name or f"ds-{counter['n']}"
        path = write_csv(
            data_root / f"{name}.csv",
            ["id", "city", "amount"],
            rows or [[1, "Oslo", 3.5], [2, "Rome", 4]],
        )
        with django_capture_on_commit_callbacks(execute=True):
            return dataset_register(
                actor=actor or steward,
                name=name,
                source_kind="file",
                path=str(path),
                sensitivity=sensitivity,
                **extra,
            )

    return _make
