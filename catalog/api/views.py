"""Catalog API: thin handlers. Policy first (404 invisible, 403 not allowed), then one service."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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
from catalog.api import lists
from catalog.api import serializers as s
from catalog.models import Column, Connection, Dataset
from config.api import Pagination
from config.exports import csv_response

FACETS_PARAM = OpenApiParameter(
    "facets",
    OpenApiTypes.BOOL,
    description="Add facet counts (domain, tag, owner, ...) to the page.",
)


def _detail(name: str, user) -> Dataset:
    """Reload a visible dataset with everything the detail serializer reads."""
    return (
        datasets_for(user, "view")
        .select_related("owner", "domain", "connection", "replaced_by", "current_version")
        .prefetch_related(
            "stewards",
            "tags",
            "glossary_terms",
            Prefetch("columns", queryset=Column.objects.order_by("position")),
        )
        .get(name=name)
    )


class DatasetListCreateApi(APIView):
    pagination_class = lists.DatasetListPagination  # documents the page envelope in the schema
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Search and browse datasets",
        description=(
            "Datasets you may see, filtered by `search` (full-text, typo-tolerant) and facets. "
            "Restricted datasets you hold no grant for never appear, not even in facet counts. "
            "Pages carry no count unless `count=true` (a count reads up to 10,001 matches)."
        ),
        parameters=[FACETS_PARAM],
        filters=True,
        responses=s.DatasetListOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        datasets = lists.DatasetList(request.user, request.query_params)
        paginator = lists.DatasetListPagination()
        ids = paginator.paginate_ids(datasets, request)
        response = paginator.get_paginated_response(lists.dataset_list_rows(ids))
        if request.query_params.get("facets") in lists.TRUE_VALUES:
            response.data["facets"] = selectors.dataset_facets(datasets.queryset)
        return response

    @extend_schema(
        summary="Register a dataset",
        description=(
            "Register a CSV/Parquet file under a data root (`path`), an uploaded file (multipart "
            "`upload`) or a PostgreSQL table (`connection` + `table`). The source is checked at "
            "once; profiling runs in the background (watch `profile_status`)."
        ),
        request=s.DatasetRegisterInputSerializer,
        responses={201: s.DatasetDetailOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        if not can_register_dataset(request.user):
            raise PermissionDenied
        payload = s.DatasetRegisterInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        dataset = services.dataset_register(actor=request.user, **payload.validated_data)
        return Response(
            s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data, status=201
        )


class DatasetTypeaheadApi(APIView):
    @extend_schema(
        summary="Dataset names as you type",
        description=(
            "Up to 8 datasets you may see whose name or title contains `q`, by name. Cheap "
            "enough for every keystroke; use `GET /datasets/?search=` for ranked results."
        ),
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True)],
        responses=s.DatasetTypeaheadOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        visible = selectors.searchable(datasets_for(request.user, "view"))
        rows = selectors.dataset_typeahead(visible, request.query_params.get("q", ""))
        return Response(s.DatasetTypeaheadOutputSerializer({"results": rows}).data)


class DatasetDetailApi(APIView):
    @extend_schema(
        summary="One dataset with its columns", responses=s.DatasetDetailOutputSerializer
    )
    def get(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name)
        return Response(s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data)

    @extend_schema(
        summary="Describe and classify a dataset",
        description="Only the fields sent change; each change is logged with before/after values.",
        request=s.DatasetUpdateInputSerializer,
        responses=s.DatasetDetailOutputSerializer,
    )
    def patch(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name, action="change")
        payload = s.DatasetUpdateInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.dataset_update(dataset=dataset, actor=request.user, data=payload.validated_data)
        return Response(s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data)


class DatasetReprofileApi(APIView):
    @extend_schema(
        summary="Profile the dataset again",
        description="Queues profiling; a new version is recorded if the fingerprint changed.",
        request=s.DatasetReprofileInputSerializer,
        responses={202: s.DatasetDetailOutputSerializer},
    )
    def post(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name, action="change")
        payload = s.DatasetReprofileInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.dataset_reprofile_request(
            dataset=dataset, actor=request.user, reason=payload.validated_data.get("reason", "")
        )
        return Response(
            s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data, status=202
        )


class DatasetDeprecateApi(APIView):
    @extend_schema(
        summary="Deprecate a dataset",
        request=s.DatasetDeprecateInputSerializer,
        responses=s.DatasetDetailOutputSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name, action="change")
        payload = s.DatasetDeprecateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        wanted = payload.validated_data.get("replaced_by", "").strip()
        replacement = (
            datasets_for(request.user, "view").filter(name=wanted).first() if wanted else None
        )
        if wanted and replacement is None:
            raise ValidationError({"replaced_by": [f"No dataset named {wanted}."]})
        services.dataset_deprecate(
            dataset=dataset,
            actor=request.user,
            reason=payload.validated_data["reason"],
            replaced_by=replacement,
        )
        return Response(s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data)


class DatasetReactivateApi(APIView):
    @extend_schema(
        summary="Undo a deprecation", request=None, responses=s.DatasetDetailOutputSerializer
    )
    def post(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name, action="change")
        services.dataset_reactivate(dataset=dataset, actor=request.user)
        return Response(s.DatasetDetailOutputSerializer(_detail(dataset.name, request.user)).data)


class DatasetVersionListApi(APIView):
    pagination_class = Pagination  # documents the page envelope in the schema

    @extend_schema(
        summary="Version history, newest first",
        responses=s.DatasetVersionOutputSerializer(many=True),
    )
    def get(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.version_list(dataset), request, view=self)
        return paginator.get_paginated_response(
            s.DatasetVersionOutputSerializer(page, many=True).data
        )


class ColumnDetailApi(APIView):
    @extend_schema(
        summary="Classify a column",
        request=s.ColumnUpdateInputSerializer,
        responses=s.ColumnOutputSerializer,
    )
    def patch(self, request: Request, name: str, column: str) -> Response:
        dataset = get_dataset_for(request.user, name, action="change")
        col = get_object_or_404(
            Column.objects.select_related("dataset"), dataset=dataset, name=column
        )
        payload = s.ColumnUpdateInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        services.column_update(column=col, actor=request.user, data=payload.validated_data)
        return Response(s.ColumnOutputSerializer(col).data)


class IssueReportListCreateApi(APIView):
    pagination_class = Pagination  # documents the page envelope in the schema

    @extend_schema(
        summary="Issue reports on a dataset",
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, description="open (default), all, or a status"
            )
        ],
        responses=s.IssueReportOutputSerializer(many=True),
    )
    def get(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name)
        reports = (
            issue_reports_for(request.user)
            .filter(dataset=dataset)
            .select_related("dataset", "reporter")
        )
        wanted = request.query_params.get("status", "open")
        if wanted == "open":
            reports = reports.filter(status__in=["open", "investigating"])
        elif wanted != "all":
            reports = reports.filter(status=wanted)
        paginator = Pagination()
        page = paginator.paginate_queryset(reports.order_by("-created_at"), request, view=self)
        return paginator.get_paginated_response(s.IssueReportOutputSerializer(page, many=True).data)

    @extend_schema(
        summary="Report a quality, bias or security issue",
        description="Anyone who can see the dataset may report; owner and stewards are e-mailed.",
        request=s.IssueReportCreateInputSerializer,
        responses={201: s.IssueReportOutputSerializer},
    )
    def post(self, request: Request, name: str) -> Response:
        dataset = get_dataset_for(request.user, name)
        payload = s.IssueReportCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        report = services.issue_report_create(
            dataset=dataset, reporter=request.user, **payload.validated_data
        )
        return Response(s.IssueReportOutputSerializer(report).data, status=201)


class IssueReportDetailApi(APIView):
    @extend_schema(
        summary="One issue report with its thread", responses=s.IssueReportDetailOutputSerializer
    )
    def get(self, request: Request, name: str, pk: int) -> Response:
        dataset = get_dataset_for(request.user, name)
        report = get_issue_report_for(request.user, dataset, pk)
        return Response(s.IssueReportDetailOutputSerializer(report).data)

    @extend_schema(
        summary="Change a report's status (owner, stewards)",
        request=s.IssueStatusInputSerializer,
        responses=s.IssueReportOutputSerializer,
    )
    def patch(self, request: Request, name: str, pk: int) -> Response:
        dataset = get_dataset_for(request.user, name)
        report = get_issue_report_for(request.user, dataset, pk)
        if not can_triage_issue_report(request.user, dataset):
            raise PermissionDenied
        payload = s.IssueStatusInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.issue_report_set_status(
            report=report, actor=request.user, **payload.validated_data
        )
        return Response(s.IssueReportOutputSerializer(report).data)


class IssueCommentCreateApi(APIView):
    @extend_schema(
        summary="Comment on a report",
        request=s.IssueCommentInputSerializer,
        responses={201: s.IssueCommentOutputSerializer},
    )
    def post(self, request: Request, name: str, pk: int) -> Response:
        dataset = get_dataset_for(request.user, name)
        report = get_issue_report_for(request.user, dataset, pk)
        payload = s.IssueCommentInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        comment = services.issue_comment_add(
            report=report, author=request.user, body=payload.validated_data["body"]
        )
        return Response(s.IssueCommentOutputSerializer(comment).data, status=201)


class ConnectionListCreateApi(APIView):
    @extend_schema(
        summary="Connections (stewards, admins)", responses=s.ConnectionOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        if not can_manage_connections(request.user):
            raise PermissionDenied
        connections = Connection.objects.select_related("created_by").order_by("name")
        return Response(s.ConnectionOutputSerializer(connections, many=True).data)

    @extend_schema(
        summary="Add a PostgreSQL connection",
        description="The password is encrypted at rest and never returned.",
        request=s.ConnectionCreateInputSerializer,
        responses={201: s.ConnectionOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        if not can_manage_connections(request.user):
            raise PermissionDenied
        payload = s.ConnectionCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = services.connection_create(actor=request.user, **payload.validated_data)
        return Response(
            s.ConnectionOutputSerializer(connection).data, status=status.HTTP_201_CREATED
        )


class ConnectionTestApi(APIView):
    @extend_schema(
        summary="Test a connection", request=None, responses=s.ConnectionTestOutputSerializer
    )
    def post(self, request: Request, name: str) -> Response:
        if not can_manage_connections(request.user):
            raise PermissionDenied
        connection = get_object_or_404(Connection, name=name)
        ok, message = services.connection_test(connection=connection)
        return Response({"ok": ok, "message": message})


class MetadataExportApi(APIView):
    @extend_schema(
        summary="Catalog metadata as CSV",
        description="One row per dataset you can see and per column (formula-safe).",
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request):
        rows = bulk.metadata_export_rows(datasets_for(request.user, "view"))
        return csv_response("charter-metadata.csv", bulk.HEADER, rows)


class MetadataImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="Import catalog metadata from CSV (dry run unless apply=true)",
        description=(
            "Lists every change and every row error. With `apply=true` the changes are applied "
            "only when the whole file is valid; each change is a ledger event."
        ),
        request=s.MetadataImportInputSerializer,
        responses=s.MetadataImportOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        if not can_register_dataset(request.user):
            raise PermissionDenied
        payload = s.MetadataImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        report = bulk.metadata_import(
            actor=request.user,
            content=payload.validated_data["file"].read(),
            changeable=datasets_for(request.user, "change"),
            apply=payload.validated_data["apply"],
        )
        data = {"rows": report.rows, "applied": report.applied}
        return Response({**data, "changes": report.changes, "errors": report.errors})
