"""Access API: request, decide, list grants, revoke, and stream a dataset's rows with a token."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.api.serializers import (
    AccessGrantOutputSerializer,
    AccessRequestCreateInputSerializer,
    AccessRequestOutputSerializer,
    DecisionInputSerializer,
    ReasonInputSerializer,
)
from access.grant_views import stream_data_response
from access.models import AccessGrant, AccessRequest
from access.policies import (
    access_grants_for,
    access_requests_for,
    access_requests_to_decide_q,
    active_grant_q,
    can_revoke_grant,
    can_view_dataset_readers,
    get_access_grant_for,
    get_access_request_for,
    get_dataset_for,
    get_dataset_for_request,
    get_dataset_read_access,
)
from access.selectors import access_grant_list, access_request_list
from access.services import (
    access_grant_revoke,
    access_request_approve,
    access_request_create,
    access_request_deny,
    access_request_withdraw,
)

SCOPE = OpenApiParameter(
    "scope", str, enum=["mine", "inbox", "all"], description="mine (default), inbox, all"
)


class AccessRequestListCreateApi(generics.ListAPIView):
    """Your requests (scope=mine), requests you may decide (inbox) or all you may see (all)."""

    serializer_class = AccessRequestOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AccessRequest.objects.none()
        user = self.request.user
        scope = self.request.query_params.get("scope", "mine")
        qs = access_requests_for(user)
        if scope == "inbox":
            qs = qs.filter(access_requests_to_decide_q(user))
        elif scope != "all":
            qs = qs.filter(requester=user)
        return access_request_list(qs).order_by("-created_at")

    @extend_schema(parameters=[SCOPE])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=AccessRequestCreateInputSerializer, responses={201: AccessRequestOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = AccessRequestCreateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        dataset, _ = get_dataset_for_request(request.user, data.pop("dataset"))
        renews_pk = data.pop("renews", None)
        renews = None
        if renews_pk is not None:
            renews = get_object_or_404(AccessGrant, pk=renews_pk, user=request.user)
        created = access_request_create(
            requester=request.user, dataset=dataset, renews=renews, **data
        )
        created = access_request_list(access_requests_for(request.user)).get(pk=created.pk)
        return Response(AccessRequestOutputSerializer(created).data, status=201)


def _request_out(user, pk: int) -> Response:
    req = access_request_list(access_requests_for(user)).get(pk=pk)
    return Response(AccessRequestOutputSerializer(req).data)


class AccessRequestDetailApi(APIView):
    @extend_schema(responses=AccessRequestOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        get_access_request_for(request.user, pk)
        return _request_out(request.user, pk)


class AccessRequestApproveApi(APIView):
    @extend_schema(request=DecisionInputSerializer, responses=AccessRequestOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        access_request = get_access_request_for(request.user, pk)
        payload = DecisionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access_request_approve(
            access_request=access_request, approver=request.user, **payload.validated_data
        )
        return _request_out(request.user, pk)


class AccessRequestDenyApi(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=AccessRequestOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        access_request = get_access_request_for(request.user, pk)
        payload = ReasonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access_request_deny(
            access_request=access_request, approver=request.user, **payload.validated_data
        )
        return _request_out(request.user, pk)


class AccessRequestWithdrawApi(APIView):
    @extend_schema(request=None, responses=AccessRequestOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        access_request = get_access_request_for(request.user, pk)
        access_request_withdraw(access_request=access_request, actor=request.user)
        return _request_out(request.user, pk)


class AccessGrantListApi(generics.ListAPIView):
    """Grants you may see (yours; all for stewards, compliance officers and admins)."""

    serializer_class = AccessGrantOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AccessGrant.objects.none()
        params = self.request.query_params
        qs = access_grants_for(self.request.user)
        if params.get("active", "true").lower() != "false":
            qs = qs.filter(active_grant_q())
        if params.get("dataset"):
            qs = qs.filter(dataset__name=params["dataset"])
        if params.get("user"):
            qs = qs.filter(user__username=params["user"])
        return access_grant_list(qs).order_by("-created_at")

    @extend_schema(
        parameters=[
            OpenApiParameter("active", bool, description="Only grants in force (default true)"),
            OpenApiParameter("dataset", str),
            OpenApiParameter("user", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AccessGrantRevokeApi(APIView):
    @extend_schema(request=ReasonInputSerializer, responses=AccessGrantOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        grant = get_access_grant_for(request.user, pk)
        if not can_revoke_grant(request.user, grant) and grant.ended_at is None:
            raise PermissionDenied
        payload = ReasonInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        access_grant_revoke(grant=grant, actor=request.user, **payload.validated_data)
        grant = access_grant_list(AccessGrant.objects.filter(pk=pk)).get()
        return Response(AccessGrantOutputSerializer(grant).data)


class DatasetReadersApi(generics.ListAPIView):
    """Who can read a dataset now: grants in force (owner, stewards, compliance, admins)."""

    serializer_class = AccessGrantOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AccessGrant.objects.none()
        dataset = get_dataset_for(self.request.user, self.kwargs["name"])
        if not can_view_dataset_readers(self.request.user, dataset):
            raise PermissionDenied
        qs = access_grants_for(self.request.user).filter(active_grant_q(), dataset=dataset)
        return access_grant_list(qs).order_by("expires_at")


class _RowsQuery(serializers.Serializer):
    output = serializers.ChoiceField(choices=["ndjson", "csv", "parquet"], default="ndjson")
    limit = serializers.IntegerField(min_value=1, required=False)


class DatasetRowsApi(APIView):
    """Stream a dataset's rows as your grant allows (masked or full); every call is logged.

    `curl -H "Authorization: Bearer $TOKEN" https://charter.example/api/v1/datasets/NAME/rows/`
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("output", str, enum=["ndjson", "csv", "parquet"]),
            OpenApiParameter("limit", int),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request: Request, name: str):
        dataset, access = get_dataset_read_access(request.user, name)
        query = _RowsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["output"]
        limit = query.validated_data.get("limit")
        return stream_data_response(
            request, dataset, access, fmt, channel=f"api.{fmt}", limit=limit
        )
