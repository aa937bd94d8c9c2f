"""HTML pages of the audits app: thin handlers (policy check, one service or selector, render)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access import policies
from audits import reports, selectors, services
from audits.forms import ActivityForm, ComplianceReportForm, PolicyForm, kinds_help
from audits.models import AuditRun, PiiProposal, ProcessingActivity

REPORT_FORMATS = ("pdf", "csv", "json")


def _form_errors(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form's fields (or to the form)."""
    if hasattr(exc, "message_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "audits/index.html",
        {
            "policies": selectors.audit_policy_list(policies.audit_policies_for(user)),
            "runs": selectors.audit_run_list(policies.audit_runs_for(user))[:20],
            "can_create": policies.can_manage_audit_policy(user, None)
            or policies.audit_policy_datasets_choices(user).exists(),
            "can_compliance": policies.can_download_compliance_report(user),
            "can_ropa": policies.can_view_processing_activities(user),
        },
    )


def _policy_values(form: PolicyForm) -> dict:
    return {k: v for k, v in form.cleaned_data.items()}


def policy_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (pk None) or edit a policy; the service validates the checks and the schedule."""
    user = request.user
    policy = policies.get_audit_policy_for(user, pk, action="change") if pk else None
    datasets = policies.audit_policy_datasets_choices(user)
    if request.method == "POST":
        form = PolicyForm(request.POST, datasets=datasets)
        if form.is_valid():
            values = _policy_values(form)
            if not policies.can_manage_audit_policy(user, values.get("dataset")):
                raise PermissionDenied
            try:
                if policy is None:
                    policy = services.audit_policy_create(actor=user, **values)
                else:
                    policy = services.audit_policy_update(policy=policy, actor=user, **values)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Policy {policy.name} saved.")
                return redirect(policy.get_absolute_url())
    else:
        if policy is None and not (
            policies.can_manage_audit_policy(user, None) or datasets.exists()
        ):
            raise PermissionDenied
        initial = PolicyForm.initial_for(policy) if policy else {}
        if policy is None and request.GET.get("dataset"):
            initial["dataset"] = datasets.filter(name=request.GET["dataset"]).first()
        form = PolicyForm(initial=initial, datasets=datasets)
    return render(
        request, "audits/policy_form.html", {"form": form, "policy": policy, "kinds": kinds_help()}
    )


@require_GET
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = policies.get_audit_policy_for(request.user, pk)
    runs = selectors.audit_run_list(policies.audit_runs_for(request.user).filter(policy=policy))
    return render(
        request,
        "audits/policy_detail.html",
        {
            "policy": policy,
            "runs": runs[:50],
            "can_manage": policies.can_manage_audit_policy(request.user, policy.dataset),
            "targets": services.audit_policy_datasets(policy=policy)[:50],
        },
    )


@require_POST
def policy_run(request: HttpRequest, pk: int) -> HttpResponse:
    policy = policies.get_audit_policy_for(request.user, pk, action="change")
    try:
        runs = services.audit_run_request(policy=policy, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(policy.get_absolute_url())
    messages.success(request, f"Queued {len(runs)} run(s).")
    return redirect(runs[0].get_absolute_url() if len(runs) == 1 else policy.get_absolute_url())


@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = policies.get_audit_policy_for(request.user, pk, action="change")
    services.audit_policy_delete(policy=policy, actor=request.user)
    messages.success(request, f"Policy {policy.name} deleted.")
    return redirect("audits:index")


@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = policies.get_audit_run_for(request.user, pk)
    user = request.user
    return render(
        request,
        "audits/run_detail.html",
        {
            "run": run,
            **selectors.audit_run_detail(run),
            "can_download": policies.can_download_audit_report(user, run.dataset),
            "can_decide": policies.can_decide_pii_proposal(user, run.dataset),
            "can_mitigate": policies.can_mitigate_dataset(user, run.dataset)
            and run.dataset.source_kind in ("file", "upload"),
            "can_reproduce": run.is_final
            and run.version_id is not None
            and run.dataset.source_kind in ("file", "upload")
            and policies.can_manage_audit_policy(user, run.dataset),
        },
    )


@require_POST
def run_reproduce(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-run the run's checks on the exact version it read (its kept snapshot)."""
    run = policies.get_audit_run_for(request.user, pk)
    if not policies.can_manage_audit_policy(request.user, run.dataset):
        raise PermissionDenied
    try:
        again = services.audit_run_reproduce(run=run, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(run.get_absolute_url())
    messages.success(request, f"Queued a re-run of #{run.pk} on v{run.version.number}.")
    return redirect(again.get_absolute_url())


@require_GET
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = policies.get_audit_run_for(request.user, pk)
    return JsonResponse(
        {
            "state": run.state,
            "progress": run.progress,
            "final": run.is_final,
            "error": run.error_message,
        }
    )


@require_GET
def run_report(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run = policies.get_audit_run_for(request.user, pk)
    if fmt not in REPORT_FORMATS:
        raise Http404("unknown report format")
    if not policies.can_download_audit_report(request.user, run.dataset):
        raise PermissionDenied
    report = reports.run_report_generate(run=run, actor=request.user)
    return reports.render_download(report, fmt, f"audit-run-{run.pk}")


@require_POST
def proposal_decide(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = get_object_or_404(
        PiiProposal.objects.select_related("run", "column"),
        pk=pk,
        run__in=policies.audit_runs_for(request.user),
    )
    if not policies.can_decide_pii_proposal(request.user, proposal.run.dataset):
        raise PermissionDenied
    accept = request.POST.get("decision") == "accept"
    try:
        services.pii_proposal_decide(proposal=proposal, actor=request.user, accept=accept)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Proposal for {proposal.column.name} {'accepted' if accept else 'rejected'}."
        )
    return redirect(proposal.run.get_absolute_url())


@require_POST
def run_mitigate(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    from audits.mitigation import reweighed_dataset_create

    run = policies.get_audit_run_for(request.user, pk)
    if not policies.can_mitigate_dataset(request.user, run.dataset):
        raise PermissionDenied
    try:
        derived = reweighed_dataset_create(run=run, index=index, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(run.get_absolute_url())
    messages.success(request, f"Registered the reweighed dataset {derived.name}.")
    return redirect(derived.get_absolute_url())


@require_GET
def dataset_audits(request: HttpRequest, name: str) -> HttpResponse:
    dataset = policies.get_dataset_for(request.user, name)
    runs = policies.audit_runs_for(request.user).filter(dataset=dataset)
    return render(
        request,
        "audits/dataset_audits.html",
        {
            "dataset": dataset,
            "active_tab": "Audits",
            **selectors.dataset_audit_history(runs),
            "dataset_policies": selectors.audit_policy_list(
                policies.audit_policies_for(request.user).filter(dataset=dataset)
            ),
            "can_manage": policies.can_manage_audit_policy(request.user, dataset),
            "can_download": policies.can_download_audit_report(request.user, dataset),
        },
    )


@require_GET
def compliance(request: HttpRequest) -> HttpResponse:
    if not policies.can_download_compliance_report(request.user):
        raise PermissionDenied
    form = ComplianceReportForm(request.GET or None)
    if request.GET and form.is_valid():
        data = form.cleaned_data
        report = reports.compliance_report_generate(
            actor=request.user,
            start=data["start"],
            end=data["end"],
            tag=data["tag"],
            domain=data["domain"],
            tier=data["tier"] or "",
        )
        return reports.render_download(report, data["format"], "compliance-report")
    return render(request, "audits/compliance.html", {"form": form})


@require_GET
def activity_list(request: HttpRequest) -> HttpResponse:
    if not policies.can_view_processing_activities(request.user):
        raise PermissionDenied
    activities = ProcessingActivity.objects.select_related("owner").prefetch_related("datasets")
    return render(
        request,
        "audits/activity_list.html",
        {
            "activities": activities,
            "can_edit": policies.can_edit_processing_activities(request.user),
        },
    )


def activity_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not policies.can_edit_processing_activities(request.user):
        raise PermissionDenied
    activity = get_object_or_404(ProcessingActivity, pk=pk) if pk else None
    form = ActivityForm(request.POST or None, instance=activity)
    form.fields["datasets"].queryset = policies.datasets_for(request.user, "view")
    if request.method == "POST" and form.is_valid():
        saved = services_ropa().processing_activity_save(form=form, actor=request.user)
        messages.success(request, f"Processing activity {saved.name} saved.")
        return redirect("audits:activity-list")
    return render(request, "audits/activity_form.html", {"form": form, "activity": activity})


@require_GET
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if not policies.can_view_processing_activities(request.user):
        raise PermissionDenied
    activity = get_object_or_404(ProcessingActivity.objects.prefetch_related("datasets"), pk=pk)
    return render(
        request,
        "audits/activity_detail.html",
        {"activity": activity, "can_edit": policies.can_edit_processing_activities(request.user)},
    )


@require_GET
def ropa_download(request: HttpRequest, fmt: str) -> HttpResponse:
    if not policies.can_view_processing_activities(request.user):
        raise PermissionDenied
    if fmt not in REPORT_FORMATS:
        raise Http404("unknown report format")
    report = reports.ropa_report_generate(actor=request.user)
    return reports.render_download(report, fmt, "record-of-processing-activities")


def services_ropa():
    from audits import ropa

    return ropa


def run_url(run: AuditRun) -> str:
    return reverse("audits:run-detail", kwargs={"pk": run.pk})
