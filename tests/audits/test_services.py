"""Audit services: policies with their beat schedule, runs as a state machine, results, ledger."""

import pandas as pd
import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from audits import services
from audits.models import AuditPolicy, AuditRun, CheckResult, PiiProposal
from audits.services import runs
from ledger.models import Event
from tests.audits.conftest import people_frame

CHECKS = [
    {"kind": "not_null", "column": "email"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 120},
    {"kind": "unique", "column": "id"},
]


@pytest.fixture
def dataset(make_dataset):
    return make_dataset()


@pytest.fixture
def policy(dataset, steward):
    return services.audit_policy_create(
        actor=steward, name="people quality", checks=CHECKS, dataset=dataset
    )


def run_now(policy, actor, capture):
    with capture(execute=True):
        runs = services.audit_run_request(policy=policy, actor=actor)
    return [AuditRun.objects.get(pk=r.pk) for r in runs]


@pytest.mark.django_db
def test_policy_create_validates_checks_and_logs(dataset, steward):
    with pytest.raises(ValidationError) as err:
        services.audit_policy_create(
            actor=steward, name="bad", dataset=dataset, checks=[{"kind": "range", "column": "age"}]
        )
    assert "give min_value" in str(err.value)
    assert not AuditPolicy.objects.exists()
    policy = services.audit_policy_create(actor=steward, name="ok", checks=CHECKS, dataset=dataset)
    assert Event.objects.filter(action="audit_policy.created", target_id=str(policy.pk)).exists()
    assert policy.checks[0]["mostly"] == 1.0  # defaults filled in


@pytest.mark.django_db
def test_policy_needs_exactly_one_kind_of_target(dataset, steward):
    with pytest.raises(ValidationError, match="Choose a dataset"):
        services.audit_policy_create(actor=steward, name="none", checks=CHECKS)
    with pytest.raises(ValidationError, match="not both"):
        services.audit_policy_create(
            actor=steward, name="both", checks=CHECKS, dataset=dataset, target_tier="internal"
        )


@pytest.mark.django_db
def test_schedule_is_kept_in_step_with_a_periodic_task(policy, steward):
    assert policy.periodic_task is None
    services.audit_policy_update(
        policy=policy, actor=steward, schedule_kind="interval", interval_minutes=15
    )
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert task.interval.every == 15 and task.enabled and task.task.endswith("fire_task")
    services.audit_policy_update(
        policy=policy, actor=steward, schedule_kind="cron", cron="30 2 * * 1"
    )
    task.refresh_from_db()
    assert task.crontab.minute == "30" and task.crontab.hour == "2" and task.interval is None
    services.audit_policy_update(policy=policy, actor=steward, enabled=False)
    task.refresh_from_db()
    assert task.enabled is False
    services.audit_policy_update(policy=policy, actor=steward, schedule_kind="manual")
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    with pytest.raises(ValidationError, match="cron"):
        services.audit_policy_update(
            policy=policy, actor=steward, schedule_kind="cron", cron="every day"
        )


@pytest.mark.django_db
def test_run_binds_a_new_version_and_passes(policy, steward, django_capture_on_commit_callbacks):
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.PASSED, run.error_message
    assert run.version is not None and run.version.number == 1
    assert run.progress == 100 and run.attempts == 1
    assert run.summary["evaluated"] == 3 and run.summary["success_percent"] == 100
    assert CheckResult.objects.filter(run=run).count() == 3
    assert Event.objects.filter(action="audit_run.finished", target_id=str(run.pk)).exists()
    # same bytes, same version: the second run reuses it and finds the same
    [again] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert again.version_id == run.version_id
    assert [r.result for r in again.results.all()] == [r.result for r in run.results.all()]


@pytest.mark.django_db
def test_changed_file_records_a_new_version_first(
    policy, dataset, steward, data_root, django_capture_on_commit_callbacks
):
    [first] = run_now(policy, steward, django_capture_on_commit_callbacks)
    frame = people_frame()
    frame.loc[3, "age"] = 500
    frame.to_csv(data_root / "people.csv", index=False)
    [second] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert second.version.number == first.version.number + 1
    assert second.state == AuditRun.State.FAILED
    failed = second.results.get(kind="range")
    assert failed.unexpected_count == 1 and failed.result["partial_unexpected_list"] == [500]


@pytest.mark.django_db
def test_failed_run_notifies_owner_and_stewards(
    dataset, steward, steward2, django_capture_on_commit_callbacks
):
    dataset.stewards.add(steward2)
    policy = services.audit_policy_create(
        actor=steward,
        name="strict",
        dataset=dataset,
        checks=[{"kind": "row_count", "min_value": 10_000}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    run.refresh_from_db()
    assert run.state == AuditRun.State.FAILED
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {steward.email, steward2.email}


@pytest.mark.django_db
def test_broken_source_ends_in_error_with_a_readable_message(
    policy, dataset, data_root, steward, django_capture_on_commit_callbacks
):
    (data_root / "people.csv").unlink()
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.ERROR
    assert "people.csv" in run.error_message and "Traceback" not in run.error_message


@pytest.mark.django_db
def test_a_broken_dataset_does_not_stop_the_others(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    from catalog.models import Tag

    a = make_dataset("a")
    b = make_dataset("b")
    tag = Tag.objects.create(name="nightly")
    a.tags.add(tag)
    b.tags.add(tag)
    (data_root / "a.csv").unlink()
    policy = services.audit_policy_create(
        actor=steward, name="nightly", checks=CHECKS, target_tag=tag
    )
    runs = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert sorted((r.dataset.name, r.state) for r in runs) == [("a", "error"), ("b", "passed")]


@pytest.mark.django_db
def test_time_limit_ends_the_run_as_error(
    policy, steward, monkeypatch, django_capture_on_commit_callbacks
):
    AuditPolicy.objects.filter(pk=policy.pk).update(time_limit_seconds=10)
    clock = iter([0.0, 0.0] + [1000.0] * 100)
    monkeypatch.setattr(runs.time, "monotonic", lambda: next(clock))
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert run.state == AuditRun.State.ERROR
    assert "time limit of 10 s" in run.error_message


@pytest.mark.django_db
def test_claim_is_exclusive_and_a_finished_run_is_not_rerun(
    policy, steward, django_capture_on_commit_callbacks
):
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert services.audit_run_execute(run_id=run.pk, task_id="again") is None
    assert CheckResult.objects.filter(run=run).count() == 3
    queued = AuditRun.objects.create(policy=policy, dataset=run.dataset, checks=policy.checks)
    assert services.audit_run_claim(run_id=queued.pk, task_id="t1") == 1
    assert services.audit_run_claim(run_id=queued.pk, task_id="t2") is None  # live owner
    assert services.audit_run_claim(run_id=queued.pk, task_id="t1") == 2  # redelivered


@pytest.mark.django_db
def test_an_old_attempt_cannot_finish_a_reclaimed_run(policy, steward):
    run = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    old = services.audit_run_claim(run_id=run.pk, task_id="t1")
    services.audit_run_claim(run_id=run.pk, task_id="t1")  # the message came back
    assert (
        runs._run_finish(
            run_id=run.pk, attempt=old, version=None, results=[], evidence=[], scope={}
        )
        is None
    )


@pytest.mark.django_db
def test_abandoned_runs_are_recovered_and_finished_once(
    policy, steward, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    run = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    services.audit_run_claim(run_id=run.pk, task_id="dead-worker")
    AuditRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=runs.STALE_SECONDS + 5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.audit_runs_recover() == [run.pk]
    run.refresh_from_db()
    assert run.state == AuditRun.State.PASSED and run.attempts == 2
    assert Event.objects.filter(action="audit_run.finished", target_id=str(run.pk)).count() == 1


@pytest.mark.django_db
def test_pii_scan_proposes_and_a_steward_accepts(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    dataset = make_dataset("contacts")
    policy = services.audit_policy_create(
        actor=steward, name="pii", dataset=dataset, checks=[{"kind": "pii_scan"}]
    )
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    result = run.results.get()
    rows = {r["column"]: r for r in result.result["details"]["columns"]}
    assert rows["email"]["detected"] == "email" and rows["email"]["finding"] == "undeclared"
    assert "@" not in str(result.result)  # no raw values anywhere in the result
    proposal = PiiProposal.objects.get(column__name="email")
    services.pii_proposal_decide(proposal=proposal, actor=steward, accept=True)
    proposal.column.refresh_from_db()
    assert proposal.column.pii_kind == "email"
    assert Event.objects.filter(action="pii_proposal.accepted").exists()
    with pytest.raises(ValidationError, match="already been decided"):
        services.pii_proposal_decide(proposal=proposal, actor=steward, accept=False)


@pytest.mark.django_db
def test_retention_flags_personal_data_without_basis(
    make_dataset, steward, django_capture_on_commit_callbacks
):
    from catalog.models import Column

    dataset = make_dataset("kept")
    Column.objects.filter(dataset=dataset, name="email").update(pii_kind="email")
    dataset.retention_days = 3
    dataset.save(update_fields=["retention_days"])
    policy = services.audit_policy_create(
        actor=steward,
        name="retention",
        dataset=dataset,
        checks=[{"kind": "retention", "date_column": "updated_at"}],
    )
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)
    details = run.results.get().result["details"]
    assert any("legal basis" in f for f in details["findings"])
    assert any("older than the 3-day" in f for f in details["findings"])


@pytest.mark.django_db
def test_distribution_drift_uses_the_previous_version_as_baseline(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    dataset = make_dataset("drifting")
    policy = services.audit_policy_create(
        actor=steward,
        name="drift",
        dataset=dataset,
        checks=[
            {"kind": "distribution_drift", "column": "age"},
            {"kind": "distribution_drift", "column": "sex"},
        ],
    )
    [first] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert [r.status for r in first.results.all()] == ["not_applicable", "not_applicable"]
    frame = people_frame()
    frame["age"] = frame["age"] + 60
    frame["sex"] = "m"
    frame.to_csv(data_root / "drifting.csv", index=False)
    [second] = run_now(policy, steward, django_capture_on_commit_callbacks)
    age, sex = second.results.all()
    assert age.result["details"]["band"] == "significant" and age.status == "fail"
    assert age.result["details"]["reference_version"] == 1
    assert sex.result["details"]["method"] == "chi_square" and sex.status == "fail"


@pytest.mark.django_db
def test_drift_after_an_access_review_finds_its_reference(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    """References are keyed by the drift check's place among the data checks, as the engine
    numbers them: a check on Charter's own tables before it must not shift them."""
    dataset = make_dataset("reviewed")
    policy = services.audit_policy_create(
        actor=steward,
        name="review then drift",
        dataset=dataset,
        checks=[{"kind": "access_review"}, {"kind": "distribution_drift", "column": "age"}],
    )
    run_now(policy, steward, django_capture_on_commit_callbacks)
    frame = people_frame()
    frame["age"] = frame["age"] + 60
    frame.to_csv(data_root / "reviewed.csv", index=False)
    [second] = run_now(policy, steward, django_capture_on_commit_callbacks)
    drift = second.results.get(kind="distribution_drift")
    assert drift.status == "fail" and drift.result["details"]["reference_version"] == 1


@pytest.mark.django_db
def test_policy_fire_skips_disabled(policy, steward):
    services.audit_policy_update(policy=policy, actor=steward, enabled=False)
    assert services.audit_policy_fire(policy_id=policy.pk) == []


@pytest.mark.django_db
def test_delete_removes_the_schedule(policy, steward):
    services.audit_policy_update(
        policy=policy, actor=steward, schedule_kind="interval", interval_minutes=5
    )
    task_id = policy.periodic_task_id
    services.audit_policy_delete(policy=policy, actor=steward)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    assert Event.objects.filter(action="audit_policy.deleted").exists()


def test_people_frame_is_plain():
    assert isinstance(people_frame(5), pd.DataFrame)


@pytest.mark.django_db
def test_run_audit_command(policy, capsys):
    from django.core.management import call_command

    call_command("run_audit", policy.name)
    out = capsys.readouterr().out
    assert "on people: passed (3/3 checks passed)" in out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No audit policy"):
        call_command("run_audit", "nope")


@pytest.mark.django_db
def test_schema_drift_compares_the_new_version_with_the_previous_one(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    dataset = make_dataset("shape")
    policy = services.audit_policy_create(
        actor=steward, name="shape", dataset=dataset, checks=[{"kind": "schema_drift"}]
    )
    [first] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert first.results.get().status == "not_applicable"  # no earlier version to compare
    [same] = run_now(policy, steward, django_capture_on_commit_callbacks)
    assert same.results.get().status == "pass"
    frame = people_frame().drop(columns=["sex"])
    frame["score"] = 1.5
    frame.to_csv(data_root / "shape.csv", index=False)
    [changed] = run_now(policy, steward, django_capture_on_commit_callbacks)
    details = changed.results.get().result["details"]
    assert details["added"] == ["score"] and details["removed"] == ["sex"]
    assert changed.state == AuditRun.State.FAILED  # removed columns fail by default


@pytest.mark.django_db
def test_recently_queued_and_live_runs_are_left_alone(policy):
    queued = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    live = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    services.audit_run_claim(run_id=live.pk, task_id="alive")
    assert services.audit_runs_recover() == []
    assert AuditRun.objects.get(pk=queued.pk).state == "queued"
    assert AuditRun.objects.get(pk=live.pk).state == "running"


@pytest.mark.django_db
@pytest.mark.parametrize("profiled_before", [False, True])
def test_an_unexpected_error_ends_the_run_as_error_and_is_raised(
    policy, steward, monkeypatch, profiled_before
):
    """Both when the checks ride on the profile's parse (a new version) and on their own pass;
    in the first case the profile itself is still stored."""
    from catalog.models import Dataset
    from catalog.services import dataset_profile

    if profiled_before:
        dataset_profile(dataset_id=policy.dataset.pk)

    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr("audits.checks.engine.CheckPass.feed", boom)
    run = AuditRun.objects.create(policy=policy, dataset=policy.dataset, checks=policy.checks)
    with pytest.raises(KeyError):
        services.audit_run_execute(run_id=run.pk, task_id="t")
    run.refresh_from_db()
    assert run.state == AuditRun.State.ERROR
    assert "internal error (KeyError" in run.error_message
    dataset = Dataset.objects.get(pk=policy.dataset.pk)
    assert dataset.profile_status == Dataset.ProfileStatus.READY
    assert dataset.current_version is not None


@pytest.mark.django_db
def test_a_run_waits_for_a_profile_in_progress_and_binds_to_its_version(
    policy, dataset, steward, monkeypatch
):
    from catalog.models import Dataset

    Dataset.objects.filter(pk=dataset.pk).update(profile_status=Dataset.ProfileStatus.RUNNING)
    sleeps = []

    def fake_sleep(seconds):  # the "other worker" finishes profiling while we wait
        sleeps.append(seconds)
        Dataset.objects.filter(pk=dataset.pk).update(profile_status=Dataset.ProfileStatus.PENDING)
        from catalog.services import dataset_profile

        dataset_profile(dataset_id=dataset.pk)

    monkeypatch.setattr(runs.time, "sleep", fake_sleep)
    run = AuditRun.objects.create(policy=policy, dataset=dataset, checks=policy.checks)
    services.audit_run_execute(run_id=run.pk, task_id="t")
    run.refresh_from_db()
    assert sleeps and run.state == AuditRun.State.PASSED and run.version.number == 1


@pytest.mark.django_db
def test_drift_baseline_comes_from_the_previous_versions_snapshot(
    make_dataset, steward, data_root, django_capture_on_commit_callbacks
):
    from catalog.services import dataset_profile

    dataset = make_dataset("snapshotted")
    dataset_profile(dataset_id=dataset.pk)  # v1 recorded, and its bytes kept
    frame = people_frame()
    frame["age"] = frame["age"] + 60
    frame.to_csv(data_root / "snapshotted.csv", index=False)
    policy = services.audit_policy_create(
        actor=steward,
        name="late drift",
        dataset=dataset,
        checks=[{"kind": "distribution_drift", "column": "age"}],
    )
    [run] = run_now(policy, steward, django_capture_on_commit_callbacks)  # first run: on v2
    result = run.results.get()
    assert run.version.number == 2
    assert result.result["details"]["reference_version"] == 1
    assert result.result["details"]["band"] == "significant"


@pytest.mark.django_db
def test_a_failed_run_tells_the_owners_downstream(
    make_dataset, steward, steward2, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from lineage.models import EdgeKind, Job, NodeKind
    from lineage.services import edges_upsert

    source = make_dataset("upstream")
    derived = make_dataset("downstream")
    derived.owner = steward2
    derived.save(update_fields=["owner"])
    job = Job.objects.create(namespace="test", name="build")
    edges_upsert(
        edges=[
            (NodeKind.DATASET, source.pk, NodeKind.JOB, job.pk, EdgeKind.READ, None),
            (NodeKind.JOB, job.pk, NodeKind.DATASET, derived.pk, EdgeKind.WROTE, None),
        ],
        run=None,
        at=timezone.now(),
    )
    policy = services.audit_policy_create(
        actor=steward, name="up", dataset=source, checks=[{"kind": "row_count", "min_value": 10**6}]
    )
    run_now(policy, steward, django_capture_on_commit_callbacks)
    subjects = {m.subject: m.to for m in mail.outbox}
    assert subjects["[Charter] Upstream audit failed: upstream"] == [steward2.email]


@pytest.mark.django_db
def test_a_schedule_slot_fires_once(policy, steward, django_capture_on_commit_callbacks):
    services.audit_policy_update(
        policy=policy, actor=steward, schedule_kind="interval", interval_minutes=10
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = services.audit_policy_fire(policy_id=policy.pk)
        again = services.audit_policy_fire(policy_id=policy.pk)  # a duplicate beat message
    assert len(first) == 1 and again == []
    assert AuditRun.objects.get(pk=first[0].pk).trigger == AuditRun.Trigger.SCHEDULE
