"""Lineage pages: overview, a dataset's Lineage tab (graph, impact), jobs, model registry."""

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.timezone import is_naive, make_aware
from django.views.decorators.http import require_http_methods

from access.policies import (
    can_register_model_version,
    can_view_lineage_events,
    datasets_for,
    get_dataset_for,
)
from catalog.models import Dataset
from catalog.versioning import snapshot_status
from lineage import graph, selectors
from lineage.clearance import dataset_version_clearance
from lineage.forms import ModelVersionRegisterForm
from lineage.models import Job, Model, NodeKind
from lineage.services import (
    lineage_dataset_adopt,
    lineage_dataset_merge,
    model_version_register,
)


def dataset_lineage_template() -> str:
    """The Lineage tab inside the catalog's dataset frame when it exists, else a plain page."""
    try:
        select_template(["catalog/dataset_base.html"])
    except TemplateDoesNotExist:
        return "lineage/dataset_lineage.html"
    return "lineage/dataset_lineage_tab.html"


def parse_as_of(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValidationError(f"as_of {value!r} is not an ISO 8601 date-time.")
    return make_aware(parsed) if is_naive(parsed) else parsed


def parse_node(value: str) -> tuple[str, int] | None:
    kind, _, pk = value.partition(":")
    if kind in NodeKind.values and pk.isdigit():
        return kind, int(pk)
    return None


def access_read_url(dataset_name: str) -> str:
    """The access app's page for reading a dataset's data (preview, masked download)."""
    try:
        return reverse("access:dataset-access", kwargs={"name": dataset_name})
    except NoReverseMatch:
        return ""


def access_download_url(dataset_name: str) -> str:
    """The access app's CSV download of a dataset (masked per the reader's grant)."""
    try:
        return reverse("access:dataset-download", kwargs={"name": dataset_name, "fmt": "csv"})
    except NoReverseMatch:
        return ""


@login_required
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "runs": list(selectors.run_list()[:20]),
        "models": list(selectors.model_list()[:20]),
        "jobs": list(
            selectors.job_list().order_by(F("last_run_at").desc(nulls_last=True), "name")[:20]
        ),
        "can_register": can_register_model_version(request.user),
        "can_view_events": can_view_lineage_events(request.user),
        "discovered_count": datasets_for(request.user, "view")
        .filter(status=Dataset.Status.DISCOVERED)
        .count(),
    }
    return render(request, "lineage/index.html", context)


GRAPH_DEPTH_DEFAULT, GRAPH_DEPTH_MAX = 1, 3  # issue 8: default depth 1, UI maximum 3


def _graph_context(request: HttpRequest, start: tuple[str, int]) -> dict[str, Any]:
    raw_depth = request.GET.get("depth", "")
    depth = GRAPH_DEPTH_DEFAULT
    if raw_depth.isdigit():
        depth = max(1, min(int(raw_depth), GRAPH_DEPTH_MAX))
    as_of = parse_as_of(request.GET.get("as_of"))
    expand = [n for n in (parse_node(v) for v in request.GET.getlist("expand")) if n]
    walk = selectors.lineage_neighbourhood(start=start, depth=depth, as_of=as_of, expand=expand)
    details = selectors.lineage_node_details(
        user=request.user, keys=list(walk.nodes), visible=datasets_for(request.user, "view")
    )
    base = [("depth", depth)] + ([("as_of", request.GET["as_of"])] if as_of else [])

    def expand_url(key: tuple[str, int]) -> str:
        values = {f"{k}:{v}" for k, v in expand} | {f"{key[0]}:{key[1]}"}
        return "?" + urlencode(base + [("expand", v) for v in sorted(values)]) + "#graph"

    return {
        "graph": graph.layout(walk, details, expand_url),
        "walk": walk,
        "depth": depth,
        "depth_choices": range(1, GRAPH_DEPTH_MAX + 1),
        "as_of": request.GET.get("as_of", ""),
        "expanded": expand,
        "node_count": len(walk.nodes),
    }


@login_required
def dataset_lineage(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    try:
        context = _graph_context(request, (NodeKind.DATASET, dataset.pk))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(request.path)
    visible = datasets_for(request.user, "view")
    context.update(
        dataset=dataset,
        active_tab="Lineage",
        impact=selectors.lineage_impact(
            user=request.user, start=(NodeKind.DATASET, dataset.pk), visible=visible
        ),
        model_uses=list(selectors.dataset_model_versions(dataset=dataset)[:50]),
        quality=selectors.external_quality_for(dataset=dataset),
        versions=list(dataset.versions.order_by("-number")[:10]),
    )
    context["columns"] = list(dataset.columns.order_by("position").values_list("name", flat=True))
    context["column"] = request.GET.get("column", "")
    if context["column"]:
        context["column_lineage"] = _column_lineage(request, dataset, context["column"])
    clearance = dataset_version_clearance(context["versions"])
    context["version_rows"] = [(v, clearance[v.pk]) for v in context["versions"]]
    return render(request, dataset_lineage_template(), context)


def _column_lineage(request: HttpRequest, dataset: Dataset, column: str) -> dict[str, list]:
    """Columns feeding and fed by `dataset.column`; columns of hidden datasets are redacted."""
    out: dict[str, list] = {}
    ids: set[int] = set()
    for direction in (selectors.UPSTREAM, selectors.DOWNSTREAM):
        rows = selectors.column_lineage_walk(
            dataset_id=dataset.pk, column=column, direction=direction, depth=10
        )
        out[direction] = rows
        ids |= {r[0] for r in rows}
    names = dict(datasets_for(request.user, "view").filter(pk__in=ids).values_list("pk", "name"))
    return {
        direction: [
            {"dataset": names.get(r[0]), "column": r[1] if r[0] in names else "", "depth": r[2]}
            for r in rows
        ]
        for direction, rows in out.items()
    }


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(Job, pk=pk)
    context = _graph_context(request, (NodeKind.JOB, job.pk))
    context.update(job=job, runs=list(job.runs.order_by("-created_at")[:30]))
    return render(request, "lineage/job_detail.html", context)


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "lineage/model_list.html",
        {
            "models": list(selectors.model_list()),
            "can_register": can_register_model_version(request.user),
        },
    )


@login_required
def model_detail(request: HttpRequest, name: str) -> HttpResponse:
    model = get_object_or_404(Model.objects.select_related("owner"), name=name)
    versions = list(selectors.model_version_list(model=model))
    return render(
        request,
        "lineage/model_detail.html",
        {
            "model": model,
            "versions": versions,
            "can_register": can_register_model_version(request.user),
        },
    )


@login_required
def model_version_detail(request: HttpRequest, name: str, version: str) -> HttpResponse:
    mv = selectors.model_version_get(name=name, version=version)
    data = list(mv.data.all())
    ids = {d.dataset_version.dataset_id for d in data}
    visible = set(
        datasets_for(request.user, "view").filter(pk__in=ids).values_list("pk", flat=True)
    )
    readable = set(
        datasets_for(request.user, "read").filter(pk__in=ids).values_list("pk", flat=True)
    )
    clearance = dataset_version_clearance([d.dataset_version for d in data])
    kept = snapshot_status([d.dataset_version for d in data])
    rows = [
        {
            "link": d,
            "visible": d.dataset_version.dataset_id in visible,
            "readable": d.dataset_version.dataset_id in readable,
            "read_url": access_read_url(d.dataset_version.dataset.name),
            "download_url": access_download_url(d.dataset_version.dataset.name)
            if d.dataset_version.dataset_id in readable
            else "",
            "is_current": d.dataset_version.dataset.current_version_id == d.dataset_version.pk,
            "snapshot_url": reverse(
                "lineage:version-download",
                kwargs={"name": d.dataset_version.dataset.name, "number": d.dataset_version.number},
            )
            if kept[d.dataset_version.pk] and d.dataset_version.dataset_id in readable
            else "",
            "clearance": clearance[d.dataset_version.pk],
        }
        for d in data
    ]
    context = _graph_context(request, (NodeKind.MODEL_VERSION, mv.pk))
    context.update(mv=mv, rows=rows)
    return render(request, "lineage/model_version_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def model_version_register_view(request: HttpRequest) -> HttpResponse:
    if not can_register_model_version(request.user):
        raise PermissionDenied
    form = ModelVersionRegisterForm(
        request.POST or None, user=request.user, initial={"model": request.GET.get("model", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            mv = model_version_register(actor=request.user, **form.service_kwargs())
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Registered {mv}.")
            return redirect(mv.get_absolute_url())
    return render(request, "lineage/model_version_register.html", {"form": form})


@login_required
def discovered_list(request: HttpRequest) -> HttpResponse:
    """Datasets pipelines named that nobody registered: adopt them, or merge into the real one."""
    visible = datasets_for(request.user, "view")
    changeable = set(datasets_for(request.user, "change").values_list("pk", flat=True))
    rows = list(selectors.discovered_dataset_list(visible=visible)[:200])
    targets = visible.exclude(status=Dataset.Status.DISCOVERED).filter(pk__in=changeable)
    context = {
        "rows": [(d, d.pk in changeable) for d in rows],
        "targets": list(targets.order_by("name").values_list("name", flat=True)[:500]),
    }
    return render(request, "lineage/discovered_list.html", context)


@login_required
@require_http_methods(["POST"])
def discovered_adopt(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    try:
        lineage_dataset_adopt(dataset=dataset, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Adopted {dataset.name}; you are its owner. Describe and classify it."
        )
    return redirect("lineage:discovered")


@login_required
@require_http_methods(["POST"])
def discovered_merge(request: HttpRequest, name: str) -> HttpResponse:
    discovered = get_dataset_for(request.user, name, action="change")
    target_name = request.POST.get("into", "").strip()
    if not target_name:
        messages.error(request, "Choose the catalog dataset to merge into.")
        return redirect("lineage:discovered")
    into = get_dataset_for(request.user, target_name, action="change")
    try:
        lineage_dataset_merge(discovered=discovered, into=into, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("lineage:discovered")
    messages.success(request, f"Merged {discovered.name} into {into.name}.")
    return redirect("lineage:dataset-lineage", name=into.name)


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    """Raw OpenLineage events and what processing skipped (stewards, admins)."""
    if not can_view_lineage_events(request.user):
        raise PermissionDenied
    events = list(selectors.lineage_event_list()[:100])
    return render(request, "lineage/event_list.html", {"events": events})
