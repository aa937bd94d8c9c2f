"""Catalog pages: thin views that ask access.policies, then call one service or selector."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from access.policies import (
    can_manage_connections,
    can_register_dataset,
    can_triage_issue_report,
    datasets_for,
    get_dataset_for,
    get_issue_report_for,
    issue_reports_for,
)
from catalog import bulk, selectors, services
from catalog.filters import SORTS, DatasetFilter
from catalog.forms import (
    ColumnEditForm,
    ConnectionForm,
    DatasetDeprecateForm,
    DatasetEditForm,
    DatasetRegisterForm,
    IssueCommentForm,
    IssueReportForm,
    IssueStatusForm,
    MetadataImportForm,
)
from catalog.models import Connection, Dataset, IssueReport
from catalog.templatetags.catalog_tags import query_toggler
from config.exports import csv_response

PAGE_SIZE = 20


def _form_errors(form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError on the form, per field where it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            field = (aliases or {}).get(field, field)
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error.messages[0] if hasattr(error, "messages") else error)
    else:
        form.add_error(None, exc)


# --- browse and search ------------------------------------------------------------------------


@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    """The catalog home: search box, facets with counts, sorting and pages of results."""
    visible = selectors.searchable(datasets_for(request.user, "view"))
    params = request.GET.copy()
    if "q" in params and "search" not in params:
        params["search"] = params["q"]
    filterset = DatasetFilter(params, queryset=visible)
    results = filterset.qs if filterset.is_valid() else visible.none()
    paginator = selectors.CappedPaginator(
        results, PAGE_SIZE, rows=selectors.result_rows, with_facets=True
    )
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "query_text": params.get("search", ""),
        "sorts": SORTS,
        "current_sort": params.get("sort", ""),
        "can_register": can_register_dataset(request.user),
    }
    # A ranked search's page brought its facets along (one pass over the matches).
    facets = paginator.facets
    facets = facets if facets is not None else selectors.dataset_facets(results)
    context["facets"] = _facet_links(request, facets)
    if request.GET.get("partial"):  # as the user types: results and facets, no page around them
        return render(request, "catalog/includes/search_update.html", context)
    return render(request, "catalog/dataset_list.html", context)


def _facet_links(request: HttpRequest, facets: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Each facet value with its link (the query with it toggled) and whether it is applied.

    Worked out here rather than by a template tag and filter per value: ~60 values a page,
    each resolved through the template engine, were a good part of the page's render time.
    """
    linked = {}
    for key, items in facets.items():
        current = request.GET.get(key, "")
        toggled = query_toggler(request.GET, key)  # the other parameters encoded once
        linked[key] = [
            {**item, "url": toggled(item["value"]), "active": current == str(item["value"])}
            for item in items
        ]
    return linked


# --- registration -----------------------------------------------------------------------------


def dataset_register(request: HttpRequest) -> HttpResponse:
    if not can_register_dataset(request.user):
        raise PermissionDenied
    form = DatasetRegisterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = services.dataset_register(
                actor=request.user,
                name=data["name"],
                source_kind=data["source_kind"],
                path=data.get("path", ""),
                upload=data.get("upload"),
                connection=data.get("connection"),
                table=data.get("table", ""),
                title=data.get("title", ""),
                description=data.get("description", ""),
                sensitivity=data["sensitivity"],
                tags=data["tag_list"],
            )
        except ValidationError as exc:
            source_field = {"file": "path", "upload": "upload", "postgresql": "table"}
            _form_errors(form, exc, {"source": source_field[data["source_kind"]]})
        else:
            messages.success(request, f"Registered {dataset.name}; profiling has started.")
            return redirect(dataset)
    return render(request, "catalog/dataset_register.html", {"form": form})


# --- the dataset page and its tabs ---------------------------------------------------------


def _page_context(request: HttpRequest, dataset: Dataset, **extra) -> dict:
    dataset = selectors.dataset_page(dataset)
    can_edit = datasets_for(request.user, "change").filter(pk=dataset.pk).exists()
    return {"dataset": dataset, "can_edit": can_edit, **extra}


@require_GET
def dataset_detail(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    columns = list(selectors.column_list(dataset))
    context = _page_context(
        request,
        dataset,
        columns=columns,
        pii_columns=[
            c for c in columns if c.pii_kind or (c.suggested_pii_kind and not c.pii_reviewed)
        ],
        protected_columns=[c for c in columns if c.protected_attribute],
        recent_versions=list(selectors.version_list(dataset)[:3]),
    )
    return render(request, "catalog/dataset_detail.html", context)


@require_GET
def dataset_schema(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    context = _page_context(request, dataset, columns=list(selectors.column_list(dataset)))
    return render(request, "catalog/dataset_schema.html", context)


@require_GET
def dataset_versions(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    context = _page_context(request, dataset, versions=list(selectors.version_list(dataset)))
    return render(request, "catalog/dataset_versions.html", context)


@require_GET
def dataset_profile_status(request: HttpRequest, name: str) -> JsonResponse:
    """Progress of profiling, polled by static/js/profile-progress.js."""
    dataset = get_dataset_for(request.user, name)
    return JsonResponse(
        {
            "status": dataset.profile_status,
            "label": dataset.get_profile_status_display(),
            "progress": dataset.profile_progress,
            "error": dataset.profile_error,
            "done": dataset.profile_status
            in (Dataset.ProfileStatus.READY, Dataset.ProfileStatus.FAILED),
        }
    )


@require_POST
def dataset_reprofile(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    services.dataset_reprofile_request(
        dataset=dataset, actor=request.user, reason="re-profile button"
    )
    messages.success(request, "Re-profiling queued; a new version is recorded if the data changed.")
    return redirect(dataset)


def dataset_edit(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    context = _page_context(request, dataset, active_tab="Overview")
    initial = DatasetEditForm.initial_for(
        dataset, dataset.steward_list, dataset.tag_list, dataset.term_list
    )
    form = DatasetEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            changes = services.dataset_update(
                dataset=dataset, actor=request.user, data=form.changes()
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request, f"Saved {len(changes)} change(s)." if changes else "Nothing changed."
            )
            return redirect(dataset)
    return render(request, "catalog/dataset_edit.html", {**context, "form": form})


def dataset_deprecate(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    form = DatasetDeprecateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        replacement = None
        wanted = form.cleaned_data["replaced_by"].strip()
        if wanted:
            replacement = datasets_for(request.user, "view").filter(name=wanted).first()
        try:
            if wanted and replacement is None:
                raise ValidationError({"replaced_by": [f"No dataset named {wanted}."]})
            services.dataset_deprecate(
                dataset=dataset,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                replaced_by=replacement,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"{dataset.name} is deprecated.")
            return redirect(dataset)
    context = _page_context(request, dataset, form=form, active_tab="Overview")
    return render(request, "catalog/dataset_deprecate.html", context)


@require_POST
def dataset_reactivate(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    services.dataset_reactivate(dataset=dataset, actor=request.user)
    messages.success(request, f"{dataset.name} is active again.")
    return redirect(dataset)


def column_edit(request: HttpRequest, name: str, column: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    col = get_object_or_404(dataset.columns, name=column)
    initial = {
        f: getattr(col, f) for f in ("description", "pii_kind", "protected_attribute", "masking")
    }
    if not col.pii_reviewed and not col.pii_kind:
        initial["pii_kind"] = col.suggested_pii_kind
    form = ColumnEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "pii_reviewed": True}
        try:
            services.column_update(column=col, actor=request.user, data=data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Saved column {col.name}.")
            return redirect("catalog:dataset-schema", name=dataset.name)
    context = _page_context(request, dataset, form=form, column=col, active_tab="Schema")
    return render(request, "catalog/column_edit.html", context)


# --- issue reports ------------------------------------------------------------------------------


@require_GET
def dataset_issues(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    status = request.GET.get("status", "open")
    reports = selectors.issue_report_list(issue_reports_for(request.user).filter(dataset=dataset))
    if status == "open":
        reports = reports.filter(status__in=IssueReport.OPEN_STATUSES)
    context = _page_context(
        request, dataset, reports=list(reports.order_by("-created_at")[:200]), status=status
    )
    return render(request, "catalog/dataset_issues.html", context)


def issue_create(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    columns = list(dataset.columns.order_by("position").values_list("name", flat=True))
    form = IssueReportForm(
        request.POST or None, columns=columns, initial={"kind": request.GET.get("kind")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            report = services.issue_report_create(
                dataset=dataset, reporter=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Thanks: the owner and stewards have been notified.")
            return redirect(report)
    context = _page_context(request, dataset, form=form, active_tab="Issues")
    return render(request, "catalog/issue_form.html", context)


def issue_detail(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    report = get_issue_report_for(request.user, dataset, pk)
    can_triage = can_triage_issue_report(request.user, dataset)
    comment_form = IssueCommentForm(request.POST if "comment" in request.POST else None)
    status_form = IssueStatusForm(
        request.POST if "set_status" in request.POST else None, initial={"status": report.status}
    )
    if request.method == "POST":
        if "set_status" in request.POST:
            if not can_triage:
                raise PermissionDenied
            if status_form.is_valid():
                services.issue_report_set_status(
                    report=report, actor=request.user, **status_form.cleaned_data
                )
                messages.success(request, f"Status set to {report.get_status_display()}.")
                return redirect(report)
        elif comment_form.is_valid():
            services.issue_comment_add(
                report=report, author=request.user, body=comment_form.cleaned_data["body"]
            )
            messages.success(request, "Comment added.")
            return redirect(report)
    context = _page_context(
        request,
        dataset,
        report=report,
        comments=list(selectors.issue_comments(report)),
        comment_form=comment_form,
        status_form=status_form,
        can_triage=can_triage,
        active_tab="Issues",
    )
    return render(request, "catalog/issue_detail.html", context)


# --- connections --------------------------------------------------------------------------------


def connection_list(request: HttpRequest) -> HttpResponse:
    if not can_manage_connections(request.user):
        raise PermissionDenied
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = services.connection_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            ok, message = services.connection_test(connection=connection)
            messages.add_message(
                request,
                messages.SUCCESS if ok else messages.WARNING,
                f"Saved {connection.name}. {message}",
            )
            return redirect("catalog:connection-list")
    connections = selectors.connection_list()
    return render(
        request, "catalog/connection_list.html", {"form": form, "connections": connections}
    )


@require_POST
def connection_test(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_manage_connections(request.user):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk)
    ok, message = services.connection_test(connection=connection)
    messages.add_message(
        request, messages.SUCCESS if ok else messages.ERROR, f"{connection.name}: {message}"
    )
    return redirect("catalog:connection-list")


# --- bulk metadata ------------------------------------------------------------------------------


@require_GET
def metadata_export(request: HttpRequest) -> HttpResponse:
    """The metadata of every dataset the user can see, as formula-safe CSV."""
    rows = bulk.metadata_export_rows(datasets_for(request.user, "view"))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return csv_response(f"charter-metadata-{stamp}.csv", bulk.HEADER, rows)


def metadata_import(request: HttpRequest) -> HttpResponse:
    if not can_register_dataset(request.user):
        raise PermissionDenied
    form = MetadataImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        try:
            report = bulk.metadata_import(
                actor=request.user,
                content=form.cleaned_data["file"].read(),
                changeable=datasets_for(request.user, "change"),
                apply=form.cleaned_data["apply"],
            )
        except ValidationError as exc:
            form.add_error("file", exc)
        else:
            if report.applied:
                messages.success(request, f"Applied {len(report.changes)} change(s).")
    return render(request, "catalog/metadata_import.html", {"form": form, "report": report})
