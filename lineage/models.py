"""Lineage: jobs, runs, the edges between datasets, jobs and model versions, and the model registry.

Nodes are referenced by (kind, id): "dataset" is a `catalog.Dataset`, "job" a `Job`, "model_version"
a `ModelVersion`. Edges follow the flow of data (input dataset -> job -> output dataset; dataset ->
model version it trained on), carry `created_at`/`valid_to` so the graph can be read "as of" a time,
and are walked with one recursive SQL query (see selectors.py).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Cast
from django.urls import reverse

from catalog.models import NAME_VALIDATOR, Dataset, DatasetVersion


class NodeKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    JOB = "job", "Job"
    MODEL_VERSION = "model_version", "Model version"


# A node as one BIGINT key: its kind's code in the top bits, its id below. The impact walk
# (selectors.py) follows edges by these keys: one integer compared per index probe instead of
# a (kind text, id) pair, and integer set operations for its visited set.
KIND_CODES = {NodeKind.DATASET: 0, NodeKind.JOB: 1, NodeKind.MODEL_VERSION: 2}
KEY_SHIFT = 56


def _node_key(side: str) -> models.GeneratedField:
    """The key of an edge's `side` ("src"/"dst") node, stored and kept by the database on every
    write (ORM, bulk or raw SQL), so no code has to keep it exact."""
    code = Case(
        *(When(**{f"{side}_kind": kind}, then=Value(c)) for kind, c in KIND_CODES.items()),
        output_field=models.BigIntegerField(),
    )
    return models.GeneratedField(
        expression=Cast(code, models.BigIntegerField())
        .bitleftshift(KEY_SHIFT)
        .bitor(F(f"{side}_id")),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )


class EdgeKind(models.TextChoices):
    READ = "read", "Job run read"
    WROTE = "wrote", "Job run wrote"
    TRAINED_ON = "trained_on", "Model version trained on"
    EVALUATED_ON = "evaluated_on", "Model version evaluated on"


class RunState(models.TextChoices):
    """OpenLineage 2-0-2 eventType values."""

    START = "START", "Started"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    ABORT = "ABORT", "Aborted"
    FAIL = "FAIL", "Failed"
    OTHER = "OTHER", "Other"


class Job(models.Model):
    """An OpenLineage job: a pipeline step identified by namespace and name."""

    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    facets = models.JSONField(
        default=dict, blank=True, help_text="Latest job facets, unknown ones kept."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="uniq_job_ns_name")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("lineage:job-detail", kwargs={"pk": self.pk})


class Run(models.Model):
    """One execution of a job; its state is the latest eventType seen (by event time)."""

    run_id = models.UUIDField(unique=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.OTHER)
    state_at = models.DateTimeField(null=True, blank=True, help_text="eventTime of the state.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    parent_run_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["job", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.job} run {self.run_id}"


class DatasetRef(models.Model):
    """The OpenLineage (namespace, name) of a catalog dataset: how events find it."""

    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=1000)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="lineage_refs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="uniq_datasetref_ns_name")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Model(models.Model):
    """A machine-learning model in the registry; its versions carry the training data."""

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("lineage:model-detail", kwargs={"name": self.name})


class ModelVersion(models.Model):
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    metrics = models.JSONField(default=dict, blank=True, help_text='{"auc": 0.91, ...}')
    artefact_uri = models.CharField(max_length=1000, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="uniq_model_version")
        ]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse(
            "lineage:model-version-detail",
            kwargs={"name": self.model.name, "version": self.version},
        )


class ModelVersionData(models.Model):
    """The exact dataset version a model version was trained or evaluated on."""

    class Role(models.TextChoices):
        TRAINING = "training", "Trained on"
        EVALUATION = "evaluation", "Evaluated on"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="data")
    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, related_name="model_uses"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        ordering = ["model_version", "role", "dataset_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "dataset_version", "role"], name="uniq_model_version_data"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_version} {self.role} {self.dataset_version}"


class LineageEdge(models.Model):
    """A directed edge in the flow of data between two nodes; closed (valid_to) when removed."""

    src_kind = models.CharField(max_length=20, choices=NodeKind.choices)
    src_id = models.BigIntegerField()
    dst_kind = models.CharField(max_length=20, choices=NodeKind.choices)
    dst_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=EdgeKind.choices)
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    src_key = _node_key("src")
    dst_key = _node_key("dst")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["src_kind", "src_id"], name="lineage_edge_src"),
            models.Index(fields=["dst_kind", "dst_id"], name="lineage_edge_dst"),
            # the open graph's adjacency for walks downstream: node key -> next node keys,
            # read index-only
            models.Index(
                fields=["src_key", "dst_key"],
                condition=Q(valid_to__isnull=True),
                name="lineage_edge_next",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["src_kind", "src_id", "dst_kind", "dst_id", "kind"],
                condition=Q(valid_to__isnull=True),
                name="uniq_open_lineage_edge",
            )
        ]

    def __str__(self) -> str:
        return f"{self.src_kind}:{self.src_id} -{self.kind}-> {self.dst_kind}:{self.dst_id}"


class ColumnLineageEdge(models.Model):
    """Column-level lineage from the `columnLineage` facet: src column feeds dst column."""

    src_dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    src_column = models.CharField(max_length=200)
    dst_dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    dst_column = models.CharField(max_length=200)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    transformations = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["src_dataset", "src_column"], name="lineage_coledge_src"),
            models.Index(fields=["dst_dataset", "dst_column"], name="lineage_coledge_dst"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["src_dataset", "src_column", "dst_dataset", "dst_column"],
                condition=Q(valid_to__isnull=True),
                name="uniq_open_column_edge",
            )
        ]

    def __str__(self) -> str:
        return f"{self.src_dataset_id}.{self.src_column} -> {self.dst_dataset_id}.{self.dst_column}"


class LineageEvent(models.Model):
    """A raw OpenLineage event as received; the dedupe key makes a redelivery a no-op."""

    class EventType(models.TextChoices):
        RUN = "RunEvent", "Run event"
        DATASET = "DatasetEvent", "Dataset event"
        JOB = "JobEvent", "Job event"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    dedupe_key = models.CharField(max_length=64, unique=True, help_text="sha256 of canonical JSON.")
    event_type = models.CharField(max_length=20, choices=EventType.choices)
    event_kind = models.CharField(max_length=10, blank=True, help_text="eventType, if any.")
    event_time = models.DateTimeField()
    producer = models.CharField(max_length=1000)
    run_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    notes = models.JSONField(
        default=list, blank=True, help_text="What processing skipped, and why."
    )

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["run_id"]),
            # workers and the sweeper claim the oldest pending events: a small index of those
            # only, so claiming does not walk the processed history
            models.Index(
                fields=["id"],
                condition=Q(status="pending"),
                name="lineage_event_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_kind} {self.event_time:%Y-%m-%d %H:%M}"


class ExternalQualityResult(models.Model):
    """A quality result reported by another tool through OpenLineage (assertions or metrics)."""

    class Kind(models.TextChoices):
        ASSERTION = "assertion", "Assertion"
        METRICS = "metrics", "Metrics"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="external_quality")
    event = models.ForeignKey(LineageEvent, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    assertion = models.CharField(max_length=300, blank=True)
    column = models.CharField(max_length=200, blank=True)
    success = models.BooleanField(null=True)
    metrics = models.JSONField(default=dict, blank=True)
    producer = models.CharField(max_length=1000, blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["-observed_at", "id"]
        indexes = [models.Index(fields=["dataset", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.dataset_id} {self.kind} {self.assertion or ''}"


def new_run_id() -> uuid.UUID:
    return uuid.uuid4()
