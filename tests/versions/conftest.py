"""Versions tests: files in a temporary data root, snapshots in a temporary store."""

import hashlib
from pathlib import Path

import pytest

from catalog.models import Dataset, DatasetVersion


@pytest.fixture
def data_root(tmp_path, settings):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_SNAPSHOT_ROOT = str(tmp_path / "snapshots")
    return root


def add_version(dataset: Dataset, content: bytes, *, schema=None, profile=None, rows=None):
    """Write `content` to the dataset's file and record it as the next, current version."""
    Path(dataset.location).write_bytes(content)
    number = dataset.versions.count() + 1
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        fingerprint=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        row_count=rows if rows is not None else content.count(b"\n") - 1,
        schema=schema or [],
        profile=profile or {},
    )
    dataset.current_version = version
    dataset.save(update_fields=["current_version"])
    return version


@pytest.fixture
def file_dataset(data_root, steward):
    return Dataset.objects.create(
        name="customers",
        source_kind="file",
        location=str(data_root / "customers.csv"),
        file_format="csv",
        owner=steward,
    )
