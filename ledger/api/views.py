from dataclasses import asdict

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policies import can_view_ledger
from ledger.api.serializers import EventOutputSerializer, VerifyOutputSerializer
from ledger.filters import EventFilter
from ledger.models import Event
from ledger.selectors import event_list
from ledger.services import ledger_verify


class EventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The governance log, newest first (compliance officers and admins)."""

    serializer_class = EventOutputSerializer
    filterset_class = EventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return Event.objects.none()
        if not can_view_ledger(self.request.user):
            raise PermissionDenied
        return event_list()


class LedgerVerifyApi(APIView):
    @extend_schema(responses=VerifyOutputSerializer, summary="Verify the whole hash chain")
    def get(self, request: Request) -> Response:
        if not can_view_ledger(request.user):
            raise PermissionDenied
        return Response(VerifyOutputSerializer(asdict(ledger_verify())).data)
