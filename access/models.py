"""Access: API tokens, login throttling, access requests, approvals and grants."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LoginThrottle(models.Model):
    """Failed logins per (username, address), for a cool-off after too many."""

    username = models.CharField(max_length=150)
    ip_address = models.CharField(max_length=45)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "ip_address"], name="uniq_login_throttle")
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip_address}: {self.failures}"


# --- access requests, approvals and grants ------------------------------------------------------


class AccessLevel(models.TextChoices):
    MASKED = "masked", "Masked (PII columns masked)"
    FULL = "full", "Full (raw values)"


class AccessRequest(models.Model):
    """Someone asks to read a dataset's data, at a level, for a purpose, for a number of days."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        WITHDRAWN = "withdrawn", "Withdrawn"

    dataset = models.ForeignKey(
        "catalog.Dataset", on_delete=models.CASCADE, related_name="access_requests"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    level = models.CharField(max_length=10, choices=AccessLevel.choices)
    purpose = models.TextField(
        help_text="Why the data is needed; shown to approvers and in reports."
    )
    duration_days = models.PositiveIntegerField()
    columns = models.JSONField(default=list, blank=True, help_text="Columns needed; empty = all.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    renews = models.ForeignKey(
        "AccessGrant", null=True, blank=True, on_delete=models.SET_NULL, related_name="renewals"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "dataset"])]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "requester"],
                condition=models.Q(status="pending"),
                name="uniq_pending_access_request",
            )
        ]

    def __str__(self) -> str:
        return f"request #{self.pk}: {self.requester} → {self.dataset} ({self.level})"

    def get_absolute_url(self) -> str:
        return reverse("access:request-detail", kwargs={"pk": self.pk})

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class AccessApproval(models.Model):
    """One approver's yes to a request, in one capacity (owner, steward or compliance)."""

    class Capacity(models.TextChoices):
        OWNER = "owner", "Dataset owner"
        STEWARD = "steward", "Data steward"
        COMPLIANCE = "compliance", "Compliance officer"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_approvals"
    )
    capacity = models.CharField(max_length=20, choices=Capacity.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="uniq_approval_approver"),
            models.UniqueConstraint(fields=["request", "capacity"], name="uniq_approval_capacity"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} approved #{self.request_id} as {self.capacity}"


class AccessGrant(models.Model):
    """The record that a user may read a dataset: the source of truth for data permissions."""

    class Ending(models.TextChoices):
        NONE = "", "Not ended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    request = models.OneToOneField(
        AccessRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="grant"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_grants"
    )
    dataset = models.ForeignKey(
        "catalog.Dataset", on_delete=models.CASCADE, related_name="access_grants"
    )
    level = models.CharField(max_length=10, choices=AccessLevel.choices)
    purpose = models.TextField()
    columns = models.JSONField(default=list, blank=True, help_text="Readable columns; empty = all.")
    approvers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="approved_access_grants"
    )
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ending = models.CharField(max_length=10, choices=Ending.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_reason = models.TextField(blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "dataset", "ended_at"]),
            models.Index(fields=["ended_at", "expires_at"]),
            # A user's grants not ended, with their dates: the visibility predicate of every
            # dataset list reads them index-only (~1,000 entries in a few pages, not the
            # grants' wide rows scattered over ~150 heap pages).
            models.Index(
                fields=["user", "dataset"],
                include=["starts_at", "expires_at"],
                condition=models.Q(ended_at__isnull=True),
                name="access_grant_live_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("starts_at")),
                name="grant_expires_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"grant #{self.pk}: {self.user} reads {self.dataset} ({self.level})"

    def is_active_at(self, when) -> bool:
        return self.ended_at is None and self.starts_at <= when < self.expires_at

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())

    @property
    def time_left(self):
        """Time until expiry for an active grant, else None."""
        now = timezone.now()
        return self.expires_at - now if self.is_active_at(now) else None

    @property
    def state(self) -> str:
        if self.ending:
            return self.ending
        now = timezone.now()
        if now >= self.expires_at:
            return "expired"
        return "active" if self.starts_at <= now else "scheduled"


# --- django-guardian direct foreign-key permission models (derived from grants only) ---------


class DatasetUserObjectPermission(UserObjectPermissionBase):
    """Object permissions on datasets for users; written only by `grant_permissions_sync`."""

    content_object = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        pass


class DatasetGroupObjectPermission(GroupObjectPermissionBase):
    """Object permissions on datasets for groups (unused by grants, present for guardian)."""

    content_object = models.ForeignKey("catalog.Dataset", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        pass
