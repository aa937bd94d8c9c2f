"""Access review and mitigation by reweighing, built through the real services."""

import datetime as dt

import pandas as pd
import pytest
import time_machine
from django.core.exceptions import ValidationError
from guardian.shortcuts import assign_perm

from access.models import AccessGrant
from access.services import access_request_approve, access_request_create
from audits import services
from audits.governance import access_review_result
from audits.mitigation import reweighed_dataset_create
from audits.models import AuditRun
from catalog.models import Dataset
from ledger.models import Event

REVIEW = {"kind": "access_review", "unused_days": 30, "pending_days": 7, "severity": "critical"}


@pytest.mark.django_db
def test_access_review_finds_expired_unused_ungranted_and_stale(
    make_dataset, steward, engineer, engineer2, outsider
):
    dataset = make_dataset("reviewed")
    request = access_request_create(
        requester=engineer,
        dataset=dataset,
        level="masked",
        purpose="train the churn model",
        duration_days=7,
    )
    access_request_approve(access_request=request, approver=steward)
    grant = AccessGrant.objects.get(user=engineer)
    stale = access_request_create(
        requester=engineer2,
        dataset=dataset,
        level="masked",
        purpose="explore the data for a report",
        duration_days=7,
    )
    assign_perm("catalog.read_dataset_data", outsider, dataset)  # permission with no grant
    now = dt.datetime.now(dt.UTC)
    result = access_review_result(REVIEW, dataset, now)
    d = result["details"]
    assert [u["user"] for u in d["readable_without_grant"]] == ["oscar"]
    assert result["status"] == "fail"
    later = grant.expires_at + dt.timedelta(days=1)
    result = access_review_result(REVIEW, dataset, later)
    d = result["details"]
    assert [g["user"] for g in d["expired_not_revoked"]] == ["eddie"]
    assert [r["request"] for r in d["requests_pending_too_long"]] == [stale.pk]
    unused = access_review_result(
        {**REVIEW, "unused_days": 1}, dataset, grant.starts_at + dt.timedelta(days=2)
    )
    assert [g["user"] for g in unused["details"]["unused_grants"]] == ["eddie"]


@pytest.mark.django_db
def test_access_review_runs_as_part_of_a_policy(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    dataset = make_dataset("clean")
    policy = services.audit_policy_create(
        actor=steward, name="review", dataset=dataset, checks=[REVIEW]
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run.refresh_from_db()
    assert run.state == AuditRun.State.PASSED
    assert run.results.get().kind == "access_review"


def biased_frame(n: int = 400) -> pd.DataFrame:
    rows = []
    for i in range(n):
        sex = "f" if i % 2 else "m"
        approved = int(i % 5 == 0) if sex == "f" else int(i % 5 != 0)
        rows.append({"id": i, "sex": sex, "approved": approved, "score": i % 17})
    return pd.DataFrame(rows)


@pytest.mark.django_db
def test_reweighed_copy_is_registered_with_weights_and_lineage(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    from lineage.models import LineageEdge

    dataset = make_dataset("loans", biased_frame())
    policy = services.audit_policy_create(
        actor=steward,
        name="fair",
        dataset=dataset,
        checks=[{"kind": "fairness", "label": "approved", "protected": ["sex"]}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run.refresh_from_db()
    assert run.state == AuditRun.State.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        derived = reweighed_dataset_create(run=run, index=0, actor=steward)
    assert derived.name == "loans-reweighed"
    frame = pd.read_csv(derived.location)
    rates = frame.groupby("sex").apply(
        lambda g: (g.weight * g.approved).sum() / g.weight.sum(), include_groups=False
    )
    assert rates.max() - rates.min() == pytest.approx(0, abs=1e-9)
    assert Event.objects.filter(action="dataset.derived", target_id=str(derived.pk)).exists()
    assert LineageEdge.objects.filter(dst_kind="dataset", dst_id=derived.pk).exists()
    assert LineageEdge.objects.filter(src_kind="dataset", src_id=dataset.pk).exists()


@pytest.mark.django_db
def test_reweighing_refuses_when_a_group_has_one_label(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    frame = biased_frame()
    frame.loc[frame.sex == "f", "approved"] = 0
    dataset = make_dataset("onesided", frame)
    policy = services.audit_policy_create(
        actor=steward,
        name="fair2",
        dataset=dataset,
        checks=[{"kind": "fairness", "label": "approved", "protected": ["sex"]}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run.refresh_from_db()
    with pytest.raises(ValidationError, match="group f has no positive labels"):
        reweighed_dataset_create(run=run, index=0, actor=steward)
    assert not Dataset.objects.filter(name__startswith="onesided-").exists()


@pytest.mark.django_db
def test_freshness_uses_utc_now(make_dataset, steward, django_capture_on_commit_callbacks):
    dataset = make_dataset()
    policy = services.audit_policy_create(
        actor=steward,
        name="fresh",
        dataset=dataset,
        checks=[{"kind": "freshness", "column": "updated_at", "max_age": "1d"}],
    )
    # people_frame's last timestamp is 2026-11-20 00:00 + 199 h = 2026-11-28 07:00 UTC
    when = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(when, tick=False), django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    result = AuditRun.objects.get(pk=run.pk).results.get()
    assert result.status == "pass" and result.observed_value == 5 * 3600
