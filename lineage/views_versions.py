"""Pages for a dataset's versions (issue 7): compare two versions, keep or remove snapshots,
roll back. Services live in catalog.versioning; these views ask access.policies and call them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from access.policies import dataset_read_access, datasets_for, get_dataset_for
from catalog import versioning
from catalog.models import Dataset, DatasetVersion
from ledger.models import Event

VERSION_ACTIONS = (
    "dataset.rolled_back",
    "dataset.version_created",
    "snapshot.stored",
    "snapshot.removed",
)


def row_diff_mask(user, dataset: Dataset):  # noqa: ANN001, ANN201
    """Whether `user` may see rows of `dataset`, which columns are masked for them, and the
    masking function (the access app's rules per PII kind: redact, hash, show last 4…)."""
    from django.conf import settings

    from access.masking import WITHHELD, column_rules, mask_value

    access = dataset_read_access(user, dataset)
    if access is None:
        return False, set(), None
    columns = list(dataset.columns.all())
    rules = column_rules(columns, masked=access.masked)
    if access.columns:
        rules.update({c.name: WITHHELD for c in columns if c.name not in access.columns})
    key = settings.CHARTER_MASKING_KEY

    def masker(column: str, value):  # noqa: ANN001, ANN202
        return mask_value(value, rules.get(column), key=key)

    return True, set(rules), masker


def _version(dataset: Dataset, number: str | int | None) -> DatasetVersion | None:
    if number in (None, ""):
        return None
    if not str(number).isdigit():
        raise ValidationError(f"Version {number!r} is not a number.")
    return get_object_or_404(dataset.versions, number=int(number))


def _compare_url(dataset: Dataset, a: int | None = None, b: int | None = None) -> str:
    url = reverse("lineage:version-compare", kwargs={"name": dataset.name})
    return f"{url}?a={a}&b={b}" if a and b else url


@login_required
def version_compare(request: HttpRequest, name: str) -> HttpResponse:
    dataset = get_dataset_for(request.user, name)
    versions = list(dataset.versions.select_related("created_by").order_by("-number"))
    can_change = datasets_for(request.user, "change").filter(pk=dataset.pk).exists()
    diff, error = None, ""
    try:
        old = _version(dataset, request.GET.get("a"))
        new = _version(dataset, request.GET.get("b"))
    except ValidationError as exc:
        old = new = None
        error = " ".join(exc.messages)
    if old is None and new is None and len(versions) >= 2:
        old, new = versions[1], versions[0]
    may_read, mask, masker = row_diff_mask(request.user, dataset)
    key = request.GET.get("key", "")
    if old and new:
        try:
            diff = versioning.versions_diff(
                old=old, new=new, key=key, include_rows=may_read, mask_columns=mask, masker=masker
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
            diff = versioning.versions_diff(old=old, new=new)
    snaps = versioning.snapshot_status(versions)
    events = list(
        Event.objects.filter(
            target_type="catalog.dataset", target_id=str(dataset.pk), action__in=VERSION_ACTIONS
        ).order_by("-seq")[:10]
    )
    context = {
        "dataset": dataset,
        "active_tab": "Versions",
        "versions": [(v, snaps[v.pk]) for v in versions],
        "old": old,
        "new": new,
        "diff": diff,
        "error": error,
        "key": key,
        "may_read_rows": may_read,
        "key_choices": [c["name"] for c in (new.schema if new else [])],
        "can_change": can_change,
        "events": events,
        "policy_applies": versioning.snapshot_policy_applies(dataset),
    }
    return render(request, "lineage/versions/compare.html", context)


@login_required
@require_POST
def version_rollback(request: HttpRequest, name: str, number: int) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    version = get_object_or_404(dataset.versions, number=number)
    try:
        versioning.dataset_rollback(
            dataset=dataset,
            version=version,
            actor=request.user,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        messages.error(request, f"Rollback refused: {' '.join(exc.messages)}")
    else:
        messages.success(
            request,
            f"Rolled back {dataset.name} to v{version.number}. Downstream owners are being told.",
        )
    return redirect(_compare_url(dataset))


@login_required
@require_POST
def version_snapshot(request: HttpRequest, name: str, number: int) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    version = get_object_or_404(dataset.versions, number=number)
    if versioning.snapshot_capture(version=version, actor=request.user, force=True):
        messages.success(request, f"The bytes of v{version.number} are kept.")
    else:
        messages.error(
            request,
            f"Could not keep v{version.number}: the file no longer holds its bytes "
            "(or is not a readable file).",
        )
    return redirect(_compare_url(dataset))


@login_required
@require_POST
def version_snapshot_remove(request: HttpRequest, name: str, number: int) -> HttpResponse:
    dataset = get_dataset_for(request.user, name, action="change")
    version = get_object_or_404(dataset.versions, number=number)
    try:
        versioning.snapshot_remove(
            version=version, actor=request.user, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Removed the snapshot of v{version.number}.")
    return redirect(_compare_url(dataset))


def _masked_csv_rows(store, version, rules: dict, allowed: tuple[str, ...]):  # noqa: ANN001, ANN202
    """Stream a CSV snapshot as CSV, granted columns only, masked as the grant says."""
    import csv
    import io

    from access.masking import mask_row
    from config.exports import csv_safe

    with store.open(version.fingerprint) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.DictReader(text)
        names = [n for n in (reader.fieldnames or []) if not allowed or n in allowed]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(reader, 1):
            masked = mask_row({n: row.get(n) for n in names}, rules, key=_mask_key())
            writer.writerow({n: csv_safe(v) for n, v in masked.items()})  # no formula cells
            if i % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()


def _mask_key() -> str:
    from django.conf import settings

    return settings.CHARTER_MASKING_KEY


@login_required
def version_download(request: HttpRequest, name: str, number: int) -> HttpResponse:
    """The exact bytes of one version from its snapshot (reproduce a training set or an audit).
    Full readers get the bytes as they were; masked readers get CSV with PII masked."""
    from django.http import FileResponse, Http404, StreamingHttpResponse

    from access.masking import column_rules
    from access.policies import get_dataset_read_access
    from access.services import dataset_read_record
    from catalog.snapshots import SnapshotStore

    dataset, access = get_dataset_read_access(request.user, name)
    version = get_object_or_404(dataset.versions, number=number)
    store = SnapshotStore()
    if not store.has(version.fingerprint):
        raise Http404(f"No snapshot of v{version.number} is kept.")
    exact = not access.masked and not access.columns
    fmt = (dataset.file_format or "csv").lower()
    if not exact and fmt != "csv":
        return HttpResponse(
            "Masked reads of past versions are offered for CSV snapshots only.",
            status=409,
            content_type="text/plain",
        )
    dataset_read_record(
        user=request.user,
        dataset=dataset,
        access=access,
        channel="snapshot",
        detail={"version": version.number, "fingerprint": version.fingerprint, "exact": exact},
    )
    filename = f"{dataset.name}-v{version.number}.{fmt if exact else 'csv'}"
    if exact:
        response = FileResponse(
            store.open(version.fingerprint), as_attachment=True, filename=filename
        )
        response["X-Content-SHA256"] = version.fingerprint
        return response
    rules = column_rules(list(dataset.columns.all()), masked=access.masked)
    response = StreamingHttpResponse(
        _masked_csv_rows(store, version, rules, tuple(access.columns)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def dataset_as_of(request: HttpRequest, name: str) -> HttpResponse:
    """The dataset's metadata and classification as they were at a past time."""
    from lineage.views import parse_as_of

    dataset = get_dataset_for(request.user, name)
    state, error = None, ""
    raw = request.GET.get("at", "")
    if raw:
        try:
            state = versioning.dataset_as_of(dataset=dataset, at=parse_as_of(raw))
        except ValidationError as exc:
            error = " ".join(exc.messages)
    rows = [
        (key.replace("_", " "), ", ".join(map(str, v)) if isinstance(v, list) else v)
        for key, v in ((state or {}).get("fields") or {}).items()
    ]
    context = {
        "dataset": dataset,
        "active_tab": "Versions",
        "state": state,
        "field_rows": rows,
        "at": raw,
        "error": error,
    }
    return render(request, "lineage/versions/as_of.html", context)
