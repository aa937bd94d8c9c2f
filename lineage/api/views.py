"""Lineage API: OpenLineage ingestion at /api/v1/lineage, traversal, impact, column lineage,
runs, and the model registry."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policies import (
    can_post_lineage,
    can_register_model_version,
    datasets_for,
    get_dataset_for,
)
from catalog.models import DatasetVersion
from config.api import Pagination
from lineage import selectors
from lineage.api.serializers import (
    LineageRunOutputSerializer,
    ModelOutputSerializer,
    ModelVersionOutputSerializer,
    ModelVersionRegisterInputSerializer,
)
from lineage.clearance import dataset_version_clearance
from lineage.ingest import lineage_event_receive
from lineage.models import Job, Model, ModelVersion, NodeKind
from lineage.openlineage import EventError
from lineage.services import model_version_register
from lineage.views import access_download_url, access_read_url, parse_as_of


class RawBodyParser:
    """Hand the body over untouched: gzip and JSON are decoded by lineage.openlineage."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # noqa: ANN001 - DRF API
        return None


def _node_for(user, value: str) -> tuple[str, int]:  # noqa: ANN001
    """Parse `dataset:<name>`, `job:<id>` or `model_version:<model>/<version>` to a node."""
    kind, _, ref = (value or "").partition(":")
    if kind == NodeKind.DATASET:
        return kind, get_dataset_for(user, ref).pk
    if kind == NodeKind.JOB and ref.isdigit():
        return kind, get_object_or_404(Job, pk=int(ref)).pk
    if kind == NodeKind.MODEL_VERSION:
        model, _, version = ref.partition("/")
        return kind, get_object_or_404(ModelVersion, model__name=model, version=version).pk
    raise ApiValidationError(
        {"node": ["Use dataset:<name>, job:<id> or model_version:<model>/<version>."]}
    )


def _int(value: str | None, default: int, lo: int, hi: int, name: str) -> int:
    if value in (None, ""):
        return default
    if not str(value).isdigit():
        raise ApiValidationError({name: [f"{name} must be a whole number."]})
    return max(lo, min(int(value), hi))


def _as_of(request: Request):  # noqa: ANN202
    try:
        return parse_as_of(request.query_params.get("as_of"))
    except ValidationError as exc:
        raise ApiValidationError({"as_of": exc.messages}) from exc


def _walk_json(user, walk: selectors.Walk) -> dict:  # noqa: ANN001
    details = selectors.lineage_node_details(
        user=user, keys=list(walk.nodes), visible=datasets_for(user, "view")
    )
    nodes = []
    for key, depth in sorted(walk.nodes.items(), key=lambda kv: (abs(kv[1]), kv[0])):
        info = details[key]
        nodes.append(
            {
                "id": f"{key[0]}:{key[1]}",
                "kind": key[0],
                "depth": depth,
                "redacted": info.redacted,
                "name": None if info.redacted else info.label,
                "owner": info.owner or None,
                "status": info.badge or None,
                "url": info.url or None,
            }
        )
    edges = [
        {"id": pk, "from": f"{sk}:{si}", "to": f"{dk}:{di}", "kind": ek}
        for pk, (sk, si, dk, di, ek) in sorted(walk.edges.items())
    ]
    return {
        "start": f"{walk.start[0]}:{walk.start[1]}",
        "nodes": nodes,
        "edges": edges,
        "truncated": walk.truncated,
    }


class LineageApi(APIView):
    """POST: ingest one OpenLineage event (spec 2-0-2). GET: the graph around `node`."""

    parser_classes = [RawBodyParser]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Ingest one OpenLineage event (spec 2-0-2; gzip accepted)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        if not can_post_lineage(request.user):
            raise PermissionDenied
        try:
            event, created = lineage_event_receive(
                body=request.body,
                content_encoding=request.headers.get("Content-Encoding", ""),
                user=request.user,
            )
        except EventError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response({"id": event.pk, "duplicate": not created}, status=code)

    @extend_schema(
        summary="Lineage graph around a node",
        parameters=[
            OpenApiParameter(
                "node",
                OpenApiTypes.STR,
                description="dataset:<name>, job:<id> or model_version:<model>/<version>",
                required=True,
            ),
            OpenApiParameter(
                "direction",
                OpenApiTypes.STR,
                description="upstream, downstream or both",
                required=False,
            ),
            OpenApiParameter(
                "depth", OpenApiTypes.INT, description="hops (default 1)", required=False
            ),
            OpenApiParameter(
                "as_of",
                OpenApiTypes.STR,
                description="ISO 8601 time: read the graph as it was then",
                required=False,
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        start = _node_for(request.user, request.query_params.get("node", ""))
        depth = _int(request.query_params.get("depth"), 1, 0, selectors.MAX_DEPTH, "depth")
        direction = request.query_params.get("direction", "both")
        as_of = _as_of(request)
        if direction == "both":
            walk = selectors.lineage_neighbourhood(start=start, depth=depth, as_of=as_of)
        elif direction in (selectors.UPSTREAM, selectors.DOWNSTREAM):
            walk = selectors.lineage_walk(
                start=start, direction=direction, depth=depth, as_of=as_of
            )
        else:
            raise ApiValidationError({"direction": ["Use upstream, downstream or both."]})
        return Response(_walk_json(request.user, walk))


IMPACT_API_PAGE = 100  # rows of each kind the impact API names unless asked (?limit=, ?offset=)


class ImpactApi(APIView):
    """Downstream datasets, jobs and model versions of a node, with owners (capped, flagged): the
    counts of every node, a page of rows of each kind."""

    @extend_schema(
        summary="Impact analysis: everything downstream, with owners",
        parameters=[
            OpenApiParameter(
                "node",
                OpenApiTypes.STR,
                description="dataset:<name>, job:<id> or model_version:<model>/<version>",
                required=True,
            ),
            OpenApiParameter(
                "as_of",
                OpenApiTypes.STR,
                description="ISO 8601 time: read the graph as it was then",
                required=False,
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"rows of each kind (default {IMPACT_API_PAGE}, at most "
                f"{selectors.IMPACT_CAP:,}); counts always cover every node",
                required=False,
            ),
            OpenApiParameter(
                "offset", OpenApiTypes.INT, description="rows of each kind to skip", required=False
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        start = _node_for(request.user, params.get("node", ""))
        cap = selectors.IMPACT_CAP
        return Response(
            selectors.lineage_impact(
                user=request.user,
                start=start,
                visible=datasets_for(request.user, "view"),
                as_of=_as_of(request),
                limit=_int(params.get("limit"), IMPACT_API_PAGE, 0, cap, "limit"),
                offset=_int(params.get("offset"), 0, 0, cap, "offset"),
            )
        )


class ColumnLineageApi(APIView):
    """Columns upstream or downstream of one column: ?dataset=&column=&direction=&depth=."""

    @extend_schema(
        summary="Column-level lineage",
        parameters=[
            OpenApiParameter(
                "dataset", OpenApiTypes.STR, description="dataset name", required=True
            ),
            OpenApiParameter("column", OpenApiTypes.STR, description="column name", required=True),
            OpenApiParameter(
                "direction", OpenApiTypes.STR, description="upstream or downstream", required=False
            ),
            OpenApiParameter("depth", OpenApiTypes.INT, description="hops", required=False),
            OpenApiParameter(
                "as_of",
                OpenApiTypes.STR,
                description="ISO 8601 time: read the graph as it was then",
                required=False,
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        dataset = get_dataset_for(request.user, params.get("dataset", ""))
        column = params.get("column", "")
        if not column:
            raise ApiValidationError({"column": ["Name a column."]})
        direction = params.get("direction", selectors.UPSTREAM)
        if direction not in (selectors.UPSTREAM, selectors.DOWNSTREAM):
            raise ApiValidationError({"direction": ["Use upstream or downstream."]})
        rows = selectors.column_lineage_walk(
            dataset_id=dataset.pk,
            column=column,
            direction=direction,
            depth=_int(params.get("depth"), 5, 1, selectors.MAX_DEPTH, "depth"),
            as_of=_as_of(request),
        )
        ids = {r[3] for r in rows} | {r[5] for r in rows}
        names = dict(
            datasets_for(request.user, "view").filter(pk__in=ids).values_list("pk", "name")
        )

        def ref(ds: int, col: str) -> dict:
            return {"dataset": names[ds], "column": col} if ds in names else {"redacted": True}

        edges = [{"from": ref(r[3], r[4]), "to": ref(r[5], r[6]), "depth": r[2]} for r in rows]
        return Response(
            {"dataset": dataset.name, "column": column, "direction": direction, "edges": edges}
        )


class RunListApi(APIView):
    pagination_class = Pagination  # documents the page envelope in the schema

    @extend_schema(summary="Recent runs", responses=LineageRunOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.run_list(), request, view=self)
        return paginator.get_paginated_response(LineageRunOutputSerializer(page, many=True).data)


class ModelListApi(APIView):
    pagination_class = Pagination  # documents the page envelope in the schema

    @extend_schema(summary="Models", responses=ModelOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.model_list(), request, view=self)
        return paginator.get_paginated_response(ModelOutputSerializer(page, many=True).data)


class ModelDetailApi(APIView):
    @extend_schema(summary="One model", responses=ModelOutputSerializer)
    def get(self, request: Request, name: str) -> Response:
        model = get_object_or_404(selectors.model_list(), name=name)
        return Response(ModelOutputSerializer(model).data)


def _version_context(user, versions: list[ModelVersion]) -> dict:  # noqa: ANN001
    ids = {d.dataset_version.dataset_id for v in versions for d in v.data.all()}
    visible = set(datasets_for(user, "view").filter(pk__in=ids).values_list("pk", flat=True))
    return {"visible_dataset_ids": visible}


class ModelVersionListApi(APIView):
    """GET: a model's versions. POST: register a version with its exact dataset versions."""

    pagination_class = Pagination  # documents the page envelope in the schema

    @extend_schema(
        summary="A model's versions",
        operation_id="v1_models_versions_list",
        responses=ModelVersionOutputSerializer(many=True),
    )
    def get(self, request: Request, name: str) -> Response:
        model = get_object_or_404(Model, name=name)
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.model_version_list(model=model), request, view=self
        )
        ctx = _version_context(request.user, page)
        return paginator.get_paginated_response(
            ModelVersionOutputSerializer(page, many=True, context=ctx).data
        )

    @extend_schema(
        summary="Register a model version with its exact dataset versions",
        request=ModelVersionRegisterInputSerializer,
        responses={201: ModelVersionOutputSerializer},
    )
    def post(self, request: Request, name: str) -> Response:
        if not can_register_model_version(request.user):
            raise PermissionDenied
        payload = ModelVersionRegisterInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        mv = model_version_register(
            model_name=name,
            version=data["version"],
            actor=request.user,
            description=data["description"],
            metrics=data["metrics"],
            artefact_uri=data["artefact_uri"],
            training=_resolve_versions(request.user, data["training"], "training"),
            evaluation=_resolve_versions(request.user, data["evaluation"], "evaluation"),
        )
        mv = selectors.model_version_get(name=name, version=mv.version)
        ctx = _version_context(request.user, [mv])
        return Response(
            ModelVersionOutputSerializer(mv, context=ctx).data, status=status.HTTP_201_CREATED
        )


def _resolve_versions(user, refs: list[dict], field: str) -> list[DatasetVersion]:  # noqa: ANN001
    """Dataset versions named in a request, among datasets `user` may see (one query)."""
    if not refs:
        return []
    query = Q()
    for ref in refs:
        q = Q(dataset__name=ref["dataset"])
        q &= Q(number=ref["version"]) if "version" in ref else Q(fingerprint=ref["fingerprint"])
        query |= q
    found = list(
        DatasetVersion.objects.filter(query, dataset__in=datasets_for(user, "view")).select_related(
            "dataset"
        )
    )
    missing = []
    for ref in refs:
        match = [
            v
            for v in found
            if v.dataset.name == ref["dataset"]
            and (
                v.number == ref["version"]
                if "version" in ref
                else v.fingerprint == ref["fingerprint"]
            )
        ]
        if not match:
            missing.append(f"{ref['dataset']} {ref.get('version', ref.get('fingerprint'))}")
    if missing:
        raise ApiValidationError({field: [f"Unknown dataset version: {m}." for m in missing]})
    return found if len(found) == len(refs) else [v for v in found]


class ModelVersionDetailApi(APIView):
    @extend_schema(summary="One model version", responses=ModelVersionOutputSerializer)
    def get(self, request: Request, name: str, version: str) -> Response:
        mv = selectors.model_version_get(name=name, version=version)
        ctx = _version_context(request.user, [mv])
        return Response(ModelVersionOutputSerializer(mv, context=ctx).data)


class TrainingDataApi(APIView):
    """The exact data a model version was trained on, with whether `user` may read each part."""

    @extend_schema(
        summary="The exact data a model version was trained on, and what you may read",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, name: str, version: str) -> Response:
        mv = selectors.model_version_get(name=name, version=version)
        links = list(mv.data.all())
        ids = {d.dataset_version.dataset_id for d in links}
        visible = set(
            datasets_for(request.user, "view").filter(pk__in=ids).values_list("pk", flat=True)
        )
        readable = set(
            datasets_for(request.user, "read").filter(pk__in=ids).values_list("pk", flat=True)
        )
        clearance = dataset_version_clearance([d.dataset_version for d in links])
        items = []
        for d in links:
            dv = d.dataset_version
            if dv.dataset_id not in visible:
                items.append({"role": d.role, "redacted": True})
                continue
            url = access_download_url(dv.dataset.name) if dv.dataset_id in readable else ""
            items.append(
                {
                    "role": d.role,
                    "dataset": dv.dataset.name,
                    "version": dv.number,
                    "fingerprint": dv.fingerprint,
                    "row_count": dv.row_count,
                    "readable": dv.dataset_id in readable,
                    "download_url": request.build_absolute_uri(url) if url else None,
                    "access_url": request.build_absolute_uri(access_read_url(dv.dataset.name)),
                    "is_current_version": dv.dataset.current_version_id == dv.pk,
                    "cleared_for_training": clearance[dv.pk].cleared,
                    "clearance": [f.__dict__ for f in clearance[dv.pk].findings],
                }
            )
        return Response({"model": name, "version": version, "data": items})


class ClearanceApi(APIView):
    """Training clearance of one dataset version: ?dataset=<name>&version=<number>."""

    @extend_schema(
        summary="Training clearance of a dataset version",
        parameters=[
            OpenApiParameter(
                "dataset", OpenApiTypes.STR, description="dataset name", required=True
            ),
            OpenApiParameter(
                "version",
                OpenApiTypes.INT,
                description="version number (default: current)",
                required=False,
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        dataset = get_dataset_for(request.user, request.query_params.get("dataset", ""))
        number = _int(request.query_params.get("version"), 0, 0, 2**31, "version")
        dv = dataset.versions.filter(number=number).first() if number else dataset.current_version
        if dv is None:
            raise NotFound("No such version.")
        c = dataset_version_clearance([dv])[dv.pk]
        return Response(
            {
                "dataset": dataset.name,
                "version": dv.number,
                "cleared": c.cleared,
                "findings": [f.__dict__ for f in c.findings],
            }
        )


# --- dataset versions (issue 7): diff and rollback --------------------------------------------


class VersionDiffApi(APIView):
    """GET ?a=<number>&b=<number>[&key=<column>]: schema, row count, profile and row changes."""

    @extend_schema(
        summary="Diff two versions of a dataset",
        parameters=[
            OpenApiParameter(
                "a", OpenApiTypes.INT, description="old version number", required=True
            ),
            OpenApiParameter(
                "b", OpenApiTypes.INT, description="new version number", required=True
            ),
            OpenApiParameter(
                "key", OpenApiTypes.STR, description="key column for the row diff", required=False
            ),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, name: str) -> Response:
        from catalog import versioning
        from lineage.views_versions import row_diff_mask

        dataset = get_dataset_for(request.user, name)
        a = _int(request.query_params.get("a"), 0, 0, 2**31, "a")
        b = _int(request.query_params.get("b"), 0, 0, 2**31, "b")
        if not a or not b:
            raise ApiValidationError({"detail": ["Give two version numbers: ?a=1&b=2."]})
        old = get_object_or_404(dataset.versions, number=a)
        new = get_object_or_404(dataset.versions, number=b)
        may_read, mask, masker = row_diff_mask(request.user, dataset)
        key = request.query_params.get("key", "")
        diff = versioning.versions_diff(
            old=old,
            new=new,
            key=key,
            include_rows=may_read and bool(key),
            mask_columns=mask,
            masker=masker,
        )
        if not may_read:
            diff["rows_unavailable"] = "Row-level changes need a grant to read this dataset."
        return Response(diff)


class VersionRollbackApi(APIView):
    """POST {"reason": "..."}: make version <number> current again (stewards)."""

    @extend_schema(
        summary="Roll a dataset back to a version (reason required)",
        request=OpenApiTypes.OBJECT,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, name: str, number: int) -> Response:
        from catalog import versioning

        dataset = get_dataset_for(request.user, name, action="change")
        version = get_object_or_404(dataset.versions, number=number)
        reason = request.data.get("reason", "") if hasattr(request.data, "get") else ""
        dataset = versioning.dataset_rollback(
            dataset=dataset, version=version, actor=request.user, reason=str(reason)
        )
        return Response(
            {
                "dataset": dataset.name,
                "current_version": version.number,
                "fingerprint": version.fingerprint,
            }
        )


class DatasetAsOfApi(APIView):
    """GET ?at=<ISO 8601>: the dataset's metadata, classification and version at that time."""

    @extend_schema(
        summary="A dataset's metadata and classification at a past time",
        parameters=[
            OpenApiParameter("at", OpenApiTypes.STR, description="ISO 8601 time", required=True)
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, name: str) -> Response:
        from catalog import versioning

        dataset = get_dataset_for(request.user, name)
        at = _as_of_required(request)
        return Response(versioning.dataset_as_of(dataset=dataset, at=at))


def _as_of_required(request: Request):  # noqa: ANN202
    raw = request.query_params.get("at", "")
    if not raw:
        raise ApiValidationError({"at": ["Give a time: ?at=2026-11-01T12:00:00Z."]})
    try:
        return parse_as_of(raw)
    except ValidationError as exc:
        raise ApiValidationError({"at": exc.messages}) from exc
