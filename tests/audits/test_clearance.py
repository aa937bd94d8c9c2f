"""Training clearance fed by the audits app: latest audit runs per policy and open issue reports.

The audits app registers its two providers with lineage.clearance at start-up; the lineage tab
and /api/v1/lineage/clearance show the combined answer.
"""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits import services
from audits.clearance import audits_clearance, issue_reports_clearance, register
from audits.models import AuditPolicy, AuditRun
from catalog.models import Column, Dataset, DatasetVersion, IssueReport
from catalog.services import (
    column_update,
    dataset_profile,
    issue_report_create,
    issue_report_set_status,
)
from lineage import clearance

pytestmark = pytest.mark.django_db

PASSING = [{"kind": "not_null", "column": "email"}, {"kind": "unique", "column": "id"}]
FAILING = [{"kind": "range", "column": "age", "min_value": 0, "max_value": 50}]


@pytest.fixture(autouse=True)
def providers():
    """Start-up registered them; another app's test may have unregistered them since."""
    register()
    yield


def run_policy(policy, actor, capture) -> AuditRun:
    with capture(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=actor)
    return AuditRun.objects.get(pk=run.pk)


def review_pii(dataset, actor) -> None:
    for column in Column.objects.filter(dataset=dataset, pii_reviewed=False):
        column_update(column=column, actor=actor, data={"pii_reviewed": True})


@pytest.fixture
def audited(make_dataset, steward, django_capture_on_commit_callbacks):
    """people v1 with one passing audit run bound to it and its PII reviewed."""
    dataset = make_dataset("people")
    policy = services.audit_policy_create(
        actor=steward, name="people quality", checks=PASSING, dataset=dataset
    )
    run = run_policy(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.PASSED, run.error_message
    dataset.refresh_from_db()
    review_pii(dataset, steward)
    return {"dataset": dataset, "policy": policy, "run": run, "version": run.version}


def api(client, name="people", version=None) -> dict:
    url = f"/api/v1/lineage/clearance?dataset={name}" + (f"&version={version}" if version else "")
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


def messages(answer: dict, check: str) -> str:
    return " ".join(f["message"] for f in answer["findings"] if f["check"] == check)


def test_providers_are_registered_at_start_up():
    from django.apps import apps

    clearance.unregister_clearance_provider("audits")
    clearance.unregister_clearance_provider("issue_reports")
    apps.get_app_config("audits").ready()
    assert clearance._providers["audits"] is audits_clearance
    assert clearance._providers["issue_reports"] is issue_reports_clearance


def test_passed_run_reviewed_pii_and_no_reports_is_cleared(client, steward, audited):
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is True, answer
    assert answer["version"] == audited["version"].number
    assert {f["check"]: f["ok"] for f in answer["findings"]} == {
        "audits": True,
        "pii_review": True,
        "issue_reports": True,
    }
    assert f"run #{audited['run'].pk}" in messages(answer, "audits")
    page = client.get("/lineage/datasets/people/").content.decode()
    assert "Cleared for training" in page
    assert "No open issue reports." in page


def test_unreviewed_pii_is_still_not_cleared(client, steward, audited):
    Column.objects.filter(dataset=audited["dataset"], name="email").update(
        pii_reviewed=False, suggested_pii_kind="email"
    )
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is False
    assert "not reviewed" in messages(answer, "pii_review")


def test_a_version_without_a_finished_run_has_no_audit_evidence(client, steward, make_dataset):
    dataset = make_dataset("people")
    dataset_profile(dataset_id=dataset.pk, reason="test")
    dataset.refresh_from_db()
    assert dataset.current_version is not None
    review_pii(dataset, steward)
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is False
    assert "No audit evidence" in messages(answer, "audits")
    assert f"v{dataset.current_version.number}" in messages(answer, "audits")


def test_failed_run_of_another_policy_blocks_and_is_named(
    client, steward, audited, django_capture_on_commit_callbacks
):
    strict = services.audit_policy_create(
        actor=steward, name="age under 50", checks=FAILING, dataset=audited["dataset"]
    )
    failed = run_policy(strict, steward, django_capture_on_commit_callbacks)
    assert failed.state == AuditRun.State.FAILED
    assert failed.version_id == audited["version"].pk  # same bytes, same version
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is False
    message = messages(answer, "audits")
    assert f"run #{failed.pk} of age under 50 failed (1 of 1 checks failed)" in message
    assert "people quality" not in message  # the passing policy is not blamed
    page = client.get("/lineage/datasets/people/").content.decode()
    assert "Not cleared" in page and "Cleared for training" not in page
    assert f"run #{failed.pk} of age under 50 failed" in page


def test_only_the_latest_finished_run_of_a_policy_counts(
    client, steward, audited, django_capture_on_commit_callbacks
):
    policy = audited["policy"]
    services.audit_policy_update(policy=policy, actor=steward, checks=FAILING)
    failed = run_policy(policy, steward, django_capture_on_commit_callbacks)
    assert failed.state == AuditRun.State.FAILED
    client.force_login(steward)
    assert api(client)["cleared"] is False
    services.audit_policy_update(policy=policy, actor=steward, checks=PASSING)
    fixed = run_policy(policy, steward, django_capture_on_commit_callbacks)
    assert fixed.state == AuditRun.State.PASSED
    answer = api(client)
    assert answer["cleared"] is True and f"run #{fixed.pk}" in messages(answer, "audits")
    # a run still queued or running is no evidence either way
    AuditRun.objects.create(
        policy=policy,
        dataset=audited["dataset"],
        version=audited["version"],
        state=AuditRun.State.RUNNING,
    )
    assert api(client)["cleared"] is True


def test_run_that_ended_in_error_blocks_with_its_message(client, steward, audited):
    AuditRun.objects.create(
        policy=audited["policy"],
        dataset=audited["dataset"],
        version=audited["version"],
        state=AuditRun.State.ERROR,
        error_message="people.csv could not be read: permission denied",
        finished_at=timezone.now(),
    )
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is False
    assert "ended in error (people.csv could not be read: permission denied)" in messages(
        answer, "audits"
    )


def test_open_issue_report_blocks_until_resolved(client, steward, engineer, audited):
    dataset = audited["dataset"]
    report = issue_report_create(
        dataset=dataset, reporter=steward, kind="bias", title="Approval rate differs by sex"
    )
    client.force_login(steward)
    answer = api(client)
    assert answer["cleared"] is False
    assert (
        f"1 open issue report on the dataset: #{report.pk} Approval rate differs by sex "
        "(suspected bias)." == messages(answer, "issue_reports")
    )
    page = client.get("/lineage/datasets/people/").content.decode()
    assert "Not cleared" in page and "Approval rate differs by sex" in page
    issue_report_set_status(report=report, actor=steward, status="investigating")
    assert api(client)["cleared"] is False  # still being looked at
    issue_report_set_status(report=report, actor=steward, status="resolved")
    answer = api(client)
    assert answer["cleared"] is True and messages(answer, "issue_reports") == (
        "No open issue reports."
    )


def test_wont_fix_report_does_not_block(client, steward, audited):
    report = issue_report_create(
        dataset=audited["dataset"], reporter=steward, kind="quality", title="Ages rounded"
    )
    issue_report_set_status(report=report, actor=steward, status="wont_fix")
    client.force_login(steward)
    assert api(client)["cleared"] is True


def _versions(count: int) -> list[DatasetVersion]:
    """`count` versions over count // 2 datasets, each with a run of two policies and a report."""
    versions = []
    for d in range(count // 2):
        ds = Dataset.objects.create(
            name=f"q{count}-{d}", source_kind=Dataset.SourceKind.FILE, location=f"/x/{d}.csv"
        )
        IssueReport.objects.create(dataset=ds, kind="quality", title=f"report {d}")
        policies = [
            AuditPolicy.objects.create(name=f"q{count}-{d}-{p}", dataset=ds) for p in range(2)
        ]
        for n in (1, 2):
            dv = DatasetVersion.objects.create(
                dataset=ds,
                number=n,
                fingerprint=hashlib.sha256(f"{count}-{d}-{n}".encode()).hexdigest(),
            )
            for policy in policies:
                for state in (AuditRun.State.FAILED, AuditRun.State.PASSED):
                    AuditRun.objects.create(
                        policy=policy,
                        dataset=ds,
                        version=dv,
                        state=state,
                        finished_at=timezone.now(),
                    )
            versions.append(dv)
    return versions


@pytest.mark.parametrize("provider", [audits_clearance, issue_reports_clearance])
def test_each_provider_answers_in_a_fixed_number_of_queries(provider):
    counts = {}
    for n in (2, 10):
        versions = _versions(n)
        with CaptureQueriesContext(connection) as ctx:
            answers = provider(versions)
        counts[n] = len(ctx.captured_queries)
        assert set(answers) == {v.pk for v in versions}
    assert counts[2] == counts[10] == 1, counts
    answers = audits_clearance(versions)
    assert all(f.ok for f in answers.values())  # the later passing run of each policy counts
    assert not any(f.ok for f in issue_reports_clearance(versions).values())


def test_whole_clearance_is_a_fixed_number_of_queries():
    counts = {}
    for n in (2, 10):
        versions = _versions(n)
        with CaptureQueriesContext(connection) as ctx:
            result = clearance.dataset_version_clearance(versions)
        counts[n] = len(ctx.captured_queries)
        assert len(result) == n
    assert counts[2] == counts[10], counts
