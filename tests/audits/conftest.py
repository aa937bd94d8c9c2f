"""Audits fixtures: a data folder per test and datasets registered through the catalog service."""

from pathlib import Path

import pandas as pd
import pytest

from catalog.services import dataset_register


@pytest.fixture
def data_root(settings, tmp_path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_UPLOAD_ROOT = tmp_path / "uploads"
    return root


def people_frame(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(n),
            "email": [f"person{i}@example.com" for i in range(n)],
            "age": [(i * 7) % 90 for i in range(n)],
            "sex": ["f" if i % 3 else "m" for i in range(n)],
            "approved": [1 if (i % 4 == 0 or (i % 3 == 0 and i % 2 == 0)) else 0 for i in range(n)],
            "updated_at": pd.date_range("2026-11-20", periods=n, freq="h", tz="UTC").astype(str),
        }
    )


@pytest.fixture
def make_dataset(data_root, steward):
    def _make(name: str = "people", frame: pd.DataFrame | None = None, **extra):
        path = data_root / f"{name}.csv"
        (people_frame() if frame is None else frame).to_csv(path, index=False)
        return dataset_register(
            actor=steward,
            name=name,
            source_kind="file",
            path=str(path),
            owner=steward,
            profile=False,
            **extra,
        )

    return _make
