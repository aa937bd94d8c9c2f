"""One parse for the profile and the checks: riding on the profile's chunks gives exactly the
profile and the check results that two separate passes give (issue 8, `audit.file_full_run`)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from audits.checks.engine import CheckPass, run_on_source
from audits.checks.quality import CheckContext
from audits.models import AuditRun
from catalog import profiling
from catalog.sources import source_for_file

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
CHECKS = [
    {"kind": "not_null", "column": "age", "mostly": 0.95},
    {"kind": "unique", "column": "id"},
    {"kind": "unique", "column": "email"},
    {"kind": "range", "column": "age", "min_value": 18, "max_value": 90},
    {"kind": "range", "column": "income", "min_value": 0, "max_value": 50_000},
    {"kind": "range", "column": "seen", "min_value": "2025-06-01"},
    {"kind": "allowed_values", "column": "country", "value_set": ["DE", "FR", "GB"]},
    {"kind": "regex", "column": "email", "regex": r"[a-z]+[0-9]+@example\.com"},
    {"kind": "regex", "column": "late", "regex": r"x\d", "mode": "search"},
    {"kind": "row_count", "min_value": 1},
    {"kind": "freshness", "column": "seen", "max_age": "365d"},
    {"kind": "distribution_drift", "column": "country"},
    {"kind": "pii_scan", "columns": ["email", "phone", "card", "note"]},
    {"kind": "not_null", "column": "no_such_column"},
]


def mixed_frame(n: int = 5_000) -> pd.DataFrame:
    """Ints, floats, dates, booleans, text and PII, with nulls; `late` is empty in the first
    chunks and text later, so its dtype differs from chunk to chunk."""
    rng = np.random.default_rng(8)
    ids = np.arange(n)
    ids[::97] = 5  # duplicated ids
    age = rng.integers(10, 95, n).astype(float)
    age[rng.random(n) < 0.04] = np.nan
    email = np.array([f"user{i}@example.com" for i in range(n)], dtype=object)
    email[::50] = None
    email[7::211] = "Not An Email"
    seen = pd.Series(pd.date_range("2025-01-01", periods=n, freq="2h", tz="UTC").astype(str))
    seen[::33] = None
    late = pd.Series([None] * n, dtype=object)
    late[n // 2 :: 3] = [f"x{i}" if i % 2 else "y" for i in range(len(late[n // 2 :: 3]))]
    return pd.DataFrame(
        {
            "id": ids,
            "email": email,
            "phone": [f"+44 20 7{i:07d}" if i % 13 else None for i in range(n)],
            "card": rng.choice(["4111111111111111", "5500005555555559", None], n),
            "country": rng.choice(["DE", "FR", "GB", "US", None], n, p=[0.3, 0.3, 0.2, 0.1, 0.1]),
            "age": age,
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "active": rng.random(n) < 0.7,
            "seen": seen,
            "late": late,
            "note": rng.choice(["ok", "call me", None], n),
        }
    )


def context(source) -> CheckContext:
    return CheckContext(
        now=NOW,
        columns=[c.as_dict() for c in source.columns()],
        references={11: {"type": "categorical", "counts": {"DE": 10, "FR": 10, "GB": 5}}},
        declared_pii={"email": "email"},
    )


def test_checks_on_the_profiles_chunks_equal_two_separate_passes(data_root):
    path = data_root / "mixed.csv"
    mixed_frame().to_csv(path, index=False)
    source = source_for_file(path)

    alone = profiling.profile_source(source, chunksize=700, declared_pii={"email"})
    separate = run_on_source(source, CHECKS, context(source), chunksize=1_000)

    riding = CheckPass(CHECKS, context(source))
    shared = profiling.profile_source(
        source, chunksize=700, declared_pii={"email"}, on_chunk=riding.feed
    )

    assert shared == alone
    assert riding.rows == 5_000
    assert riding.results() == separate
    statuses = {r["kind"]: r["status"] for r in separate}
    assert statuses["unique"] == "fail" and statuses["pii_scan"] == "fail"  # the data has both


@pytest.mark.django_db
def test_a_first_run_rides_on_the_profile_and_matches_a_run_on_the_same_version(
    make_dataset, steward, monkeypatch
):
    """The first run (new version: one parse) and a second run on that version (checks alone)
    give the same results, and the version's profile is the plain profile of the file."""
    from audits import services
    from audits.checks import engine

    frame = mixed_frame(3_000)
    dataset = make_dataset("mixed", frame=frame)
    checks = [c for c in CHECKS if c["kind"] not in ("freshness", "distribution_drift")]
    policy = services.audit_policy_create(
        actor=steward, name="mixed checks", checks=checks, dataset=dataset
    )
    passes = []
    real = engine.run_on_source
    monkeypatch.setattr(engine, "run_on_source", lambda *a, **k: passes.append(1) or real(*a, **k))

    first = AuditRun.objects.create(policy=policy, dataset=dataset, checks=checks)
    services.audit_run_execute(run_id=first.pk, task_id="first")
    assert passes == []  # the checks rode on the profile's parse
    second = AuditRun.objects.create(policy=policy, dataset=dataset, checks=checks)
    services.audit_run_execute(run_id=second.pk, task_id="second")
    assert passes == [1]  # same version: no profile, the checks read the file themselves

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.version_id == second.version_id is not None
    assert first.state == second.state == AuditRun.State.FAILED
    rows = [list(r.results.order_by("index").values("result")) for r in (first, second)]
    assert rows[0] == rows[1]
    assert first.scope == second.scope

    source = source_for_file(dataset.location)
    plain = profiling.profile_source(source, declared_pii=set())
    assert first.version.profile == plain.columns
    assert first.version.schema == plain.schema
    assert first.version.row_count == plain.row_count == 3_000
