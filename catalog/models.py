"""The catalog's nouns: datasets, their columns and versions, and where the data lives."""

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,99}$",
    "Use 1–100 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit.",
)


class Sensitivity(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class LegalBasis(models.TextChoices):
    """GDPR Art. 6(1) lawful bases; blank means none recorded."""

    NONE = "", "None recorded"
    CONSENT = "consent", "Consent (6(1)(a))"
    CONTRACT = "contract", "Contract (6(1)(b))"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation (6(1)(c))"
    VITAL_INTERESTS = "vital_interests", "Vital interests (6(1)(d))"
    PUBLIC_TASK = "public_task", "Public task (6(1)(e))"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests (6(1)(f))"


class PiiKind(models.TextChoices):
    NONE = "", "Not personal data"
    EMAIL = "email", "E-mail address"
    PHONE = "phone", "Phone number"
    NAME = "name", "Person name"
    NATIONAL_ID = "national_id", "National id (e.g. SSN)"
    CARD_NUMBER = "card_number", "Payment card number"
    IBAN = "iban", "Bank account (IBAN)"
    IP_ADDRESS = "ip_address", "IP address"
    ADDRESS = "address", "Postal address"
    POSTCODE = "postcode", "Postcode / ZIP"
    DATE_OF_BIRTH = "date_of_birth", "Date of birth"
    PASSPORT = "passport", "Passport number"
    FREE_TEXT = "free_text", "Free text that may hold personal data"
    OTHER = "other", "Other personal data"


class ProtectedAttribute(models.TextChoices):
    NONE = "", "Not protected"
    SEX = "sex", "Sex / gender"
    AGE = "age", "Age"
    RACE = "race", "Race / ethnicity"
    RELIGION = "religion", "Religion or belief"
    DISABILITY = "disability", "Disability"
    MARITAL_STATUS = "marital_status", "Marital status"
    NATIONALITY = "nationality", "Nationality / national origin"
    SEXUAL_ORIENTATION = "sexual_orientation", "Sexual orientation"
    OTHER = "other", "Other protected attribute"


class MaskingRule(models.TextChoices):
    DEFAULT = "", "Default for the PII kind"
    REDACT = "redact", "Redact (letters to x, digits to 0)"
    SHOW_LAST_4 = "show_last_4", "Show last 4"
    SHOW_FIRST_4 = "show_first_4", "Show first 4"
    HASH = "hash", "Keyed hash (joins still work)"
    NULLIFY = "nullify", "Remove (null)"
    DATE_SHOW_YEAR = "date_show_year", "Show year only"


class Domain(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GlossaryTerm(models.Model):
    name = models.CharField(max_length=100, unique=True)
    definition = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Connection(models.Model):
    """A PostgreSQL source. The password is encrypted at rest and never shown back."""

    class Kind(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.POSTGRESQL)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=5432)
    database = models.CharField(max_length=100)
    username = models.CharField(max_length=100)
    password_encrypted = models.TextField(blank=True, editable=False)
    schema = models.CharField(max_length=100, default="public")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DEPRECATED = "deprecated", "Deprecated"
        DISCOVERED = "discovered", "Discovered (not yet adopted)"

    class SourceKind(models.TextChoices):
        FILE = "file", "File under a data root"
        UPLOAD = "upload", "Uploaded file"
        POSTGRESQL = "postgresql", "PostgreSQL table"
        EXTERNAL = "external", "External (from lineage)"

    class ProfileStatus(models.TextChoices):
        PENDING = "pending", "Waiting to be profiled"
        RUNNING = "running", "Profiling"
        READY = "ready", "Profiled"
        FAILED = "failed", "Profiling failed"

    name = models.CharField(max_length=100, unique=True, validators=[NAME_VALIDATOR])
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True, help_text="Markdown; rendered sanitised.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_datasets",
    )
    stewards = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="stewarded_datasets"
    )
    domain = models.ForeignKey(
        Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="datasets")
    glossary_terms = models.ManyToManyField(GlossaryTerm, blank=True, related_name="datasets")
    sensitivity = models.CharField(
        max_length=20, choices=Sensitivity.choices, default=Sensitivity.INTERNAL
    )
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices)
    location = models.CharField(
        max_length=1000, help_text="File path, or schema.table for a connection."
    )
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="datasets"
    )
    file_format = models.CharField(max_length=20, blank=True, help_text="csv or parquet for files.")
    legal_basis = models.CharField(max_length=30, choices=LegalBasis.choices, blank=True)
    purpose = models.TextField(blank=True, help_text="Purpose of processing.")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    deprecation_reason = models.TextField(blank=True)
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_version = models.ForeignKey(
        "DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    profile_status = models.CharField(
        max_length=20, choices=ProfileStatus.choices, default=ProfileStatus.PENDING
    )
    profile_error = models.TextField(blank=True)
    profile_progress = models.PositiveSmallIntegerField(
        default=0, help_text="0–100 while profiling."
    )
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    profiled_at = models.DateTimeField(null=True, blank=True)
    search_document = models.TextField(
        blank=True, editable=False, help_text="Name, title, description, columns, tags and terms."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("read_dataset_data", "Can read the dataset's data, masked where the tier says"),
            ("read_dataset_data_full", "Can read the dataset's data unmasked"),
        ]
        indexes = [models.Index(fields=["sensitivity", "status"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:dataset-detail", kwargs={"name": self.name})

    @property
    def display_title(self) -> str:
        return self.title or self.name


class Column(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField()
    data_type = models.CharField(max_length=100, blank=True)
    nullable = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    pii_kind = models.CharField(max_length=20, choices=PiiKind.choices, blank=True)
    suggested_pii_kind = models.CharField(max_length=20, choices=PiiKind.choices, blank=True)
    pii_reviewed = models.BooleanField(default=False)
    protected_attribute = models.CharField(
        max_length=30, choices=ProtectedAttribute.choices, blank=True
    )
    masking = models.CharField(max_length=20, choices=MaskingRule.choices, blank=True)
    profile = models.JSONField(
        default=dict, blank=True, help_text="Latest profile; no raw PII values."
    )
    pii_evidence = models.JSONField(
        default=dict, blank=True, help_text="Why the PII kind was suggested; never raw values."
    )

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="uniq_column_name")]
        indexes = [
            # "Contains PII" (declared, or suggested and not yet reviewed): a small partial index.
            models.Index(
                fields=["dataset"],
                name="catalog_column_pii_idx",
                condition=~models.Q(pii_kind="")
                | (~models.Q(suggested_pii_kind="") & models.Q(pii_reviewed=False)),
            )
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}.{self.name}"

    @property
    def is_pii(self) -> bool:
        return bool(self.pii_kind)


class DatasetVersion(models.Model):
    """An immutable observation of a dataset's content."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    fingerprint = models.CharField(
        max_length=64, help_text="sha256 of the bytes, or of the table's shape."
    )
    row_count = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    schema = models.JSONField(default=list, help_text="[{name, type, nullable}] in column order.")
    profile = models.JSONField(
        default=dict, blank=True, help_text="Per-column profile at this version."
    )
    diff = models.JSONField(
        default=dict, blank=True, help_text="Changes against the previous version."
    )
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="uniq_version_number")
        ]
        indexes = [models.Index(fields=["dataset", "fingerprint"])]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"


class IssueReport(models.Model):
    """A problem someone who can see a dataset reports on it: quality, bias or security."""

    class Kind(models.TextChoices):
        QUALITY = "quality", "Data quality"
        BIAS = "bias", "Suspected bias"
        SECURITY = "security", "Security or privacy concern"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        INVESTIGATING = "investigating", "Investigating"
        RESOLVED = "resolved", "Resolved"
        WONT_FIX = "wont_fix", "Won't fix"

    OPEN_STATUSES = (Status.OPEN, Status.INVESTIGATING)

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="issue_reports")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown; rendered sanitised.")
    column_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="issue_reports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["dataset", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("catalog:issue-detail", kwargs={"name": self.dataset.name, "pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class IssueComment(models.Model):
    report = models.ForeignKey(IssueReport, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"comment on #{self.report_id}"
