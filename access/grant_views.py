"""Access pages: request, decide, grants, "My access", a dataset's Access tab and its data."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import reading
from access.grant_forms import AccessRequestForm, DecisionForm, ReasonForm
from access.masking import rule_for
from access.models import AccessGrant
from access.policies import (
    access_duration_bounds,
    access_grants_for,
    access_request_refusal,
    approval_capacity_for,
    approvals_still_needed,
    can_deny_request,
    can_export_access_report,
    can_revoke_grant,
    can_view_access_report,
    can_view_dataset_readers,
    can_view_user_access,
    can_withdraw_request,
    dataset_read_access,
    datasets_for,
    get_access_grant_for,
    get_access_request_for,
    get_dataset_for,
    get_dataset_for_request,
    get_dataset_read_access,
    is_approver,
)
from access.selectors import (
    REPORT_HEADER,
    access_grant_list,
    access_inbox_for,
    access_report_grants,
    access_report_rows,
    dataset_pending_requests,
    dataset_readers,
    grant_rows,
    my_access,
)
from access.services import (
    access_grant_revoke,
    access_request_approve,
    access_request_create,
    access_request_deny,
    access_request_withdraw,
    dataset_read_record,
)
from catalog.models import Dataset, MaskingRule
from catalog.selectors import dataset_page
from catalog.sources import SourceError
from config.exports import csv_response


def _dataset_page(request: HttpRequest, dataset: Dataset, **extra) -> dict:
    """What the catalog's dataset frame (header, tabs) needs, plus this tab's context."""
    can_edit = datasets_for(request.user, "change").filter(pk=dataset.pk).exists()
    return {"dataset": dataset_page(dataset), "can_edit": can_edit, "active_tab": "Access", **extra}


def _safe_next(request: HttpRequest, default: str) -> str:
    """The POSTed `next` when it points into this site, else `default` (no open redirects)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """My access: my requests and grants, with time left."""
    context = my_access(request.user)
    context["is_approver"] = is_approver(request.user)
    context["can_view_report"] = can_view_access_report(request.user)
    return render(request, "access/home.html", context)


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Pending requests the user may decide."""
    if not is_approver(request.user):
        raise PermissionDenied
    return render(request, "access/inbox.html", {"items": access_inbox_for(request.user)})


@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, name: str) -> HttpResponse:
    """Ask for access to a dataset (by name, even a restricted one the user cannot see)."""
    dataset, visible = get_dataset_for_request(request.user, name)
    default_days, max_days = access_duration_bounds(dataset)
    choices = [(c.name, c.name) for c in dataset.columns.all()] if visible else []
    renews = _renewed_grant(request, dataset)
    form = AccessRequestForm(
        request.POST or None,
        column_choices=choices,
        max_days=max_days,
        initial={"duration_days": default_days, **_renewal_initial(renews)},
    )
    refusal = access_request_refusal(request.user, dataset)
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            created = access_request_create(
                requester=request.user, dataset=dataset, renews=renews, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Request #{created.pk} sent to the approvers.")
            return redirect(created)
    context = {"dataset": dataset, "visible": visible, "form": form, "refusal": refusal}
    context.update(max_days=max_days, renews=renews)
    return render(request, "access/request_new.html", context)


def _renewed_grant(request: HttpRequest, dataset) -> AccessGrant | None:
    pk = request.GET.get("renews") or request.POST.get("renews")
    if not pk or not str(pk).isdigit():
        return None
    return AccessGrant.objects.filter(pk=pk, user=request.user, dataset=dataset).first()


def _renewal_initial(grant: AccessGrant | None) -> dict:
    if grant is None:
        return {}
    return {"level": grant.level, "purpose": grant.purpose, "columns": grant.columns}


@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = get_access_request_for(request.user, pk)
    approvals = list(access_request.approvals.select_related("approver"))
    context = {
        "req": access_request,
        "approvals": approvals,
        "still_needed": approvals_still_needed(access_request.dataset, approvals)
        if access_request.is_pending
        else [],
        "capacity": approval_capacity_for(request.user, access_request, approvals),
        "can_deny": can_deny_request(request.user, access_request),
        "can_withdraw": can_withdraw_request(request.user, access_request),
        # a requester who cannot see a restricted dataset learns nothing more about it here
        "pii_columns": access_request.dataset.columns.exclude(pii_kind="")
        if datasets_for(request.user, "view").filter(pk=access_request.dataset_id).exists()
        else [],
        "grant": AccessGrant.objects.filter(request=access_request).first(),
        "decision_form": DecisionForm(),
        "deny_form": ReasonForm(),
    }
    return render(request, "access/request_detail.html", context)


def _decide(request: HttpRequest, pk: int, action) -> HttpResponse:
    access_request = get_access_request_for(request.user, pk)
    try:
        action(access_request)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    return redirect(_safe_next(request, access_request.get_absolute_url()))


@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    form = DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""

    def approve(access_request):
        done = access_request_approve(
            access_request=access_request, approver=request.user, comment=comment
        )
        messages.success(
            request, f"You approved request #{done.pk} ({done.get_status_display().lower()})."
        )

    return _decide(request, pk, approve)


@require_POST
def request_deny(request: HttpRequest, pk: int) -> HttpResponse:
    def deny(access_request):
        access_request_deny(
            access_request=access_request,
            approver=request.user,
            reason=request.POST.get("reason", ""),
        )
        messages.success(
            request, f"Request #{access_request.pk} denied; the requester is told why."
        )

    return _decide(request, pk, deny)


@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    def withdraw(access_request):
        access_request_withdraw(access_request=access_request, actor=request.user)
        messages.success(request, f"Request #{access_request.pk} withdrawn.")

    return _decide(request, pk, withdraw)


@require_http_methods(["GET", "POST"])
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a grant now, with a reason (GET shows the form)."""
    grant = get_access_grant_for(request.user, pk)
    if not can_revoke_grant(request.user, grant):
        raise PermissionDenied
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            access_grant_revoke(grant=grant, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{grant.user}'s access to {grant.dataset} was revoked.")
            default = (
                reverse("access:home")
                if grant.user_id == request.user.pk
                else reverse("access:dataset-access", kwargs={"name": grant.dataset.name})
            )
            return redirect(_safe_next(request, default))
    return render(request, "access/grant_revoke.html", {"grant": grant, "form": form})


@require_GET
def dataset_access(request: HttpRequest, name: str) -> HttpResponse:
    """A dataset's Access tab: your access, masking, who can read it and pending requests."""
    dataset = get_dataset_for(request.user, name)
    access = dataset_read_access(request.user, dataset)
    show_readers = can_view_dataset_readers(request.user, dataset)
    readers = dataset_readers(request.user, dataset) if show_readers else []
    context = _dataset_page(
        request,
        dataset,
        access=access,
        refusal=access_request_refusal(request.user, dataset),
        masked_columns=_masked_columns(dataset),
        show_readers=show_readers,
        readers=readers,
        pending=list(dataset_pending_requests(request.user, dataset)),
        my_pending=dataset.access_requests.filter(requester=request.user, status="pending").first(),
        can_export=can_export_access_report(request.user),
        api_url=request.build_absolute_uri(f"/api/v1/datasets/{dataset.name}/rows/"),
    )
    return render(request, "access/dataset_access.html", context)


def _masked_columns(dataset: Dataset) -> list[dict]:
    """The columns a masked read changes, each with its rule and whether a steward set it."""
    labels = dict(MaskingRule.choices)
    rows = []
    for column in dataset.columns.all():
        rule = rule_for(column.pii_kind or "", column.masking or "")
        if rule:
            rows.append(
                {"column": column, "rule": labels[rule], "overridden": bool(column.masking)}
            )
    return rows


@require_GET
def dataset_preview(request: HttpRequest, name: str) -> HttpResponse:
    """The first rows of the data, masked as the grant says; every preview is logged."""
    dataset, access = get_dataset_read_access(request.user, name)
    context = _dataset_page(request, dataset, access=access)
    try:
        context["preview"] = reading.preview(dataset, access)
    except SourceError as exc:
        context["error"] = str(exc)
        return render(request, "access/dataset_preview.html", context, status=503)
    dataset_read_record(
        user=request.user,
        dataset=dataset,
        access=access,
        channel="preview",
        detail={"rows": len(context["preview"]["rows"])},
    )
    return render(request, "access/dataset_preview.html", context)


DOWNLOADS = {
    "csv": (reading.csv_stream, "text/csv; charset=utf-8"),
    "parquet": (reading.parquet_stream, "application/vnd.apache.parquet"),
}


def stream_data_response(request: HttpRequest, dataset, access, fmt: str, channel: str, limit=None):
    """Log the read, then stream the data in `fmt` (the log comes first: no unlogged bytes)."""
    stream, content_type = DOWNLOADS.get(fmt, (reading.ndjson_stream, "application/x-ndjson"))
    try:
        reading.source_check(dataset)
    except SourceError as exc:
        return HttpResponse(
            f"The data cannot be read: {exc}", status=503, content_type="text/plain"
        )
    dataset_read_record(
        user=request.user,
        dataset=dataset,
        access=access,
        channel=channel,
        detail={"format": fmt, "limit": limit},
    )
    response = StreamingHttpResponse(
        stream(dataset, access, limit=limit), content_type=content_type
    )
    stamp = timezone.now().strftime("%Y%m%d")
    suffix = "masked" if access.masked else "full"
    extension = fmt if fmt in DOWNLOADS else "ndjson"
    response["Content-Disposition"] = (
        f'attachment; filename="{dataset.name}-{suffix}-{stamp}.{extension}"'
    )
    response["X-Charter-Access-Level"] = str(access.level)  # a plain str: WSGI refuses enums
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def dataset_download(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    dataset, access = get_dataset_read_access(request.user, name)
    return stream_data_response(request, dataset, access, fmt, channel=f"download.{fmt}")


@require_GET
def dataset_readers_csv(request: HttpRequest, name: str) -> HttpResponse:
    """Who can read one dataset, as CSV (compliance officers)."""
    dataset = get_dataset_for(request.user, name)
    if not can_export_access_report(request.user):
        raise PermissionDenied
    grants = access_report_grants(request.user, dataset=dataset.name)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return csv_response(
        f"readers-{dataset.name}-{stamp}.csv", REPORT_HEADER, access_report_rows(grants)
    )


@require_GET
def user_access(request: HttpRequest, username: str) -> HttpResponse:
    """One user's grants (current and past) and requests: for themselves and for oversight."""
    subject = get_object_or_404(get_user_model(), username=username)
    if not can_view_user_access(request.user, subject):
        raise PermissionDenied
    grants = access_grant_list(access_grants_for(request.user).filter(user=subject))
    context = {"subject": subject, "rows": grant_rows(request.user, grants)}
    context["can_export"] = can_export_access_report(request.user)
    return render(request, "access/user_access.html", context)


@require_GET
def report(request: HttpRequest) -> HttpResponse:
    """Who can read what, across the portal: every grant in force (filter by dataset, user)."""
    if not can_view_access_report(request.user):
        raise PermissionDenied
    filters = {
        "dataset": request.GET.get("dataset", "").strip(),
        "username": request.GET.get("user", "").strip(),
        "include_ended": request.GET.get("ended") == "1",
    }
    grants = access_report_grants(request.user, **filters)
    context = {"rows": grant_rows(request.user, grants[:500]), "filters": filters}
    context["can_export"] = can_export_access_report(request.user)
    context["query"] = request.GET.urlencode()
    return render(request, "access/report.html", context)


@require_GET
def report_csv(request: HttpRequest) -> HttpResponse:
    if not can_export_access_report(request.user):
        raise PermissionDenied
    grants = access_report_grants(
        request.user,
        dataset=request.GET.get("dataset", "").strip(),
        username=request.GET.get("user", "").strip(),
        include_ended=request.GET.get("ended") == "1",
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return csv_response(f"who-can-read-what-{stamp}.csv", REPORT_HEADER, access_report_rows(grants))
