"""Audits API: policies CRUD, run now, runs and their results, run reports. Thin handlers."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from access import policies
from audits import reports, selectors, services
from audits.api.serializers import (
    PiiProposalDecideInputSerializer,
    PiiProposalOutputSerializer,
    PolicyInputSerializer,
    PolicyOutputSerializer,
    ResultOutputSerializer,
    RunDetailOutputSerializer,
    RunOutputSerializer,
)
from audits.models import CheckResult, PiiProposal
from catalog.models import Domain, Tag


def _targets(user, data: dict) -> dict:
    """Turn target names into rows; a dataset must be one `user` may audit."""
    values = dict(data)
    name = values.pop("dataset", None)
    values["dataset"] = None
    if name:
        values["dataset"] = policies.audit_policy_datasets_choices(user).filter(name=name).first()
        if values["dataset"] is None:
            raise ValidationError({"dataset": [f"No dataset named {name} that you may audit."]})
    tag = values.pop("target_tag", None)
    values["target_tag"] = get_object_or_404(Tag, name=tag) if tag else None
    domain = values.pop("target_domain", None)
    values["target_domain"] = get_object_or_404(Domain, name=domain) if domain else None
    if not policies.can_manage_audit_policy(user, values["dataset"]):
        raise PermissionDenied
    return values


class AuditPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Audit policies: list, read, create, update, delete, and run now."""

    serializer_class = PolicyOutputSerializer
    lookup_value_regex = r"\d+"  # /audit-policies/csv/ is a 404, never int("csv")

    def get_queryset(self):
        return selectors.audit_policy_list(
            policies.audit_policies_for(self.request.user)
        ).select_related("periodic_task")

    def get_object(self):
        return policies.get_audit_policy_for(
            self.request.user,
            int(self.kwargs["pk"]),
            action="view" if self.request.method == "GET" else "change",
        )

    def create(self, request: Request) -> Response:
        payload = PolicyInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        policy = services.audit_policy_create(
            actor=request.user, **_targets(request.user, payload.validated_data)
        )
        return Response(PolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: int) -> Response:
        policy = self.get_object()
        payload = PolicyInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        changes = {k: v for k, v in payload.validated_data.items() if k in request.data}
        targets = ("dataset", "target_tag", "target_domain")
        if any(k in request.data for k in targets):  # a new target replaces the old one whole
            changes.update(_targets(request.user, {k: request.data.get(k) for k in targets}))
        policy = services.audit_policy_update(policy=policy, actor=request.user, **changes)
        return Response(PolicyOutputSerializer(policy).data)

    partial_update = update

    def destroy(self, request: Request, pk: int) -> Response:
        services.audit_policy_delete(policy=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: int) -> Response:
        """Queue a run on every dataset the policy targets (202: the runs are queued)."""
        policy = self.get_object()
        runs = services.audit_run_request(policy=policy, actor=request.user, trigger="api")
        return Response(RunOutputSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED)


class AuditRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Audit runs on datasets you can see; filter by ?dataset=, ?policy=, ?state=."""

    lookup_value_regex = r"\d+"  # /audit-runs/x/reproduce/ is a 404, never int("x")

    def get_serializer_class(self):
        return RunDetailOutputSerializer if self.action == "retrieve" else RunOutputSerializer

    def get_queryset(self):
        runs = selectors.audit_run_list(policies.audit_runs_for(self.request.user))
        params = self.request.query_params
        if any("\x00" in value for value in params.values()):  # PostgreSQL refuses NUL: a 400
            raise DRFValidationError({"detail": ["Filters may not contain NUL characters."]})
        if params.get("dataset"):
            runs = runs.filter(dataset__name=params["dataset"])
        if params.get("policy"):
            runs = runs.filter(policy__name=params["policy"])
        if params.get("state"):
            runs = runs.filter(state=params["state"])
        if self.action == "retrieve":
            runs = runs.prefetch_related(
                Prefetch("results", queryset=CheckResult.objects.order_by("index"))
            )
        return runs

    @extend_schema(responses=ResultOutputSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def results(self, request: Request, pk: int) -> Response:
        run = policies.get_audit_run_for(request.user, int(pk))
        rows = CheckResult.objects.filter(run=run).order_by("index")
        return Response(ResultOutputSerializer(rows, many=True).data)

    @extend_schema(request=None, responses={202: RunOutputSerializer})
    @action(detail=True, methods=["post"])
    def reproduce(self, request: Request, pk: int) -> Response:
        """Queue a re-run of this run's checks on the version it read (its kept snapshot)."""
        run = policies.get_audit_run_for(request.user, int(pk))
        if not policies.can_manage_audit_policy(request.user, run.dataset):
            raise PermissionDenied
        again = services.audit_run_reproduce(run=run, actor=request.user)
        return Response(RunOutputSerializer(again).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
        }
    )
    @action(detail=True, methods=["get"], url_path=r"report/(?P<fmt>pdf|csv|json)")
    def report(self, request: Request, pk: int, fmt: str):
        """Download the run's report; its sha256 is recorded in the ledger."""
        run = policies.get_audit_run_for(request.user, int(pk))
        if not policies.can_download_audit_report(request.user, run.dataset):
            raise PermissionDenied
        report = reports.run_report_generate(run=run, actor=request.user, fmt=fmt)
        return reports.render_download(report, fmt, f"audit-run-{run.pk}")


class PiiProposalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """PII classification proposals from audit runs; ?dataset=, ?status=; stewards decide."""

    serializer_class = PiiProposalOutputSerializer

    def get_queryset(self):
        proposals = (
            PiiProposal.objects.filter(
                run__in=policies.audit_runs_for(self.request.user).values("pk")
            )
            .select_related("column__dataset", "decided_by")
            .order_by("-pk")
        )
        params = self.request.query_params
        if params.get("dataset"):
            proposals = proposals.filter(column__dataset__name=params["dataset"])
        if params.get("status"):
            proposals = proposals.filter(status=params["status"])
        return proposals

    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: int) -> Response:
        """Accept (classify the column) or reject a proposal."""
        proposal = self.get_object()
        if not policies.can_decide_pii_proposal(request.user, proposal.column.dataset):
            raise PermissionDenied
        payload = PiiProposalDecideInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        proposal = services.pii_proposal_decide(
            proposal=proposal,
            actor=request.user,
            accept=payload.validated_data["decision"] == "accept",
        )
        return Response(PiiProposalOutputSerializer(proposal).data)
