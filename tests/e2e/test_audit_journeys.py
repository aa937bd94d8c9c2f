"""Browser journeys: a steward creates a policy, runs it, watches progress and reads results;
a compliance officer downloads the PDF report and it opens."""

import io
import json
import threading

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from audits import services
from audits.models import AuditRun
from audits.services import runs
from tests.audits.conftest import people_frame
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHECKS = [
    {"kind": "not_null", "column": "email"},
    {"kind": "range", "column": "age", "min_value": 0, "max_value": 60},
    {"kind": "unique", "column": "id"},
]


@pytest.fixture
def people(data_root, steward):
    from catalog.services import dataset_register

    path = data_root / "people.csv"
    people_frame().to_csv(path, index=False)
    return dataset_register(
        actor=steward,
        name="people",
        source_kind="file",
        path=str(path),
        owner=steward,
        profile=False,
    )


@pytest.fixture
def data_root(settings, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    settings.CHARTER_DATA_ROOTS = [root]
    settings.CHARTER_UPLOAD_ROOT = tmp_path / "uploads"
    return root


def test_steward_creates_runs_watches_and_reads(
    live_server, page, login, steward, people, monkeypatch
):
    held: list[int] = []  # hold the run back from the worker so the page shows it in progress
    monkeypatch.setattr(runs, "enqueue_on_commit", lambda task, **kw: held.append(kw.get("run_id")))
    login(steward)
    page.goto(f"{live_server.url}/audits/")
    page.click("text=New policy")
    page.fill("#id_name", "people quality")
    page.select_option("#id_dataset", "people")
    page.fill("#id_checks", json.dumps(CHECKS, indent=2))
    page.select_option("#id_schedule_kind", "interval")
    page.fill("#id_interval_minutes", "30")
    page.click("button:has-text('Save policy')")
    page.wait_for_selector("text=Policy people quality")
    assert "every 30 min" in page.content()
    page.click("button:has-text('Run now')")
    page.wait_for_selector("#run-progress-text")
    assert page.inner_text("#run-state") == "queued"
    run = AuditRun.objects.get(pk=held[0])
    AuditRun.objects.filter(pk=run.pk).update(state="running", progress=42, task_id="e2e")
    expect(page.locator("#run-progress-text")).to_have_text("42%")  # the JS poll updated it
    screenshot(page, "audit-run-progress")
    worker = threading.Thread(
        target=services.audit_run_execute, kwargs={"run_id": run.pk, "task_id": "e2e"}
    )
    worker.start()
    worker.join()
    page.wait_for_selector("table.results", timeout=20000)  # the poll reloads when it finishes
    assert page.inner_text("#run-state") == "failed"
    text = page.inner_text("table.results")
    assert "range(age)" in text and "unique(id)" in text and "pass" in text and "fail" in text
    screenshot(page, "audit-run-results")
    page.click("text=people")  # to the dataset's Audits tab
    page.wait_for_selector("figure.chart svg circle")
    screenshot(page, "dataset-audits-tab")


def test_compliance_downloads_the_pdf_and_it_opens(
    live_server, page, login, steward, compliance, people, django_capture_on_commit_callbacks
):
    policy = services.audit_policy_create(actor=steward, name="pdf", checks=CHECKS, dataset=people)
    with django_capture_on_commit_callbacks(execute=True):
        [run] = services.audit_run_request(policy=policy, actor=steward)
    login(compliance)
    page.goto(f"{live_server.url}/audits/runs/{run.pk}/")
    with page.expect_download() as info:
        page.click("text=PDF report")
    download = info.value
    assert download.suggested_filename == f"audit-run-{run.pk}.pdf"
    with open(download.path(), "rb") as fh:
        reader = PdfReader(io.BytesIO(fh.read()))
    text = "".join(p.extract_text() for p in reader.pages)
    assert "Audit report" in text and "people" in text and "sha256" in text
