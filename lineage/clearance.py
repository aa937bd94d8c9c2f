"""Is a dataset version cleared for training? One answer, fed by the apps that know.

Lineage cannot import audits (dependencies run ledger <- catalog <- access <- lineage <- audits),
so the audit and issue-report checks are *providers* that the audits app registers at start-up
(`AuditsConfig.ready()` calls `register_clearance_provider`). Lineage itself checks what it can
see: PII review of the dataset's columns. With no provider for a required check, the version is
not cleared and the reason says the evidence is missing, never "cleared by default".
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from catalog.models import Column, DatasetVersion


@dataclass(frozen=True)
class Finding:
    check: str  # "audits", "pii_review", "issue_reports"
    ok: bool
    message: str


@dataclass
class Clearance:
    version_id: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def cleared(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    @property
    def label(self) -> str:
        return "Cleared for training" if self.cleared else "Not cleared"


# provider(versions) -> {version_id: Finding}; must answer in a fixed number of queries.
Provider = Callable[[list[DatasetVersion]], dict[int, Finding]]
REQUIRED_CHECKS = ("audits", "pii_review", "issue_reports")
_providers: dict[str, Provider] = {}


def register_clearance_provider(check: str, provider: Provider) -> None:
    """Let another app (audits) answer one of the checks; registering twice replaces."""
    if check not in REQUIRED_CHECKS:
        raise ValueError(f"unknown clearance check {check!r}; one of {REQUIRED_CHECKS}")
    _providers[check] = provider


def unregister_clearance_provider(check: str) -> None:
    _providers.pop(check, None)


def _pii_review(versions: list[DatasetVersion]) -> dict[int, Finding]:
    """PII is reviewed when no column that is (or may be) personal data is unreviewed."""
    dataset_ids = {v.dataset_id for v in versions}
    pending = set(
        Column.objects.filter(dataset_id__in=dataset_ids, pii_reviewed=False)
        .exclude(pii_kind="", suggested_pii_kind="")
        .values_list("dataset_id", flat=True)
    )
    return {
        v.pk: Finding("pii_review", False, "Some personal-data columns are not reviewed.")
        if v.dataset_id in pending
        else Finding("pii_review", True, "PII classification reviewed.")
        for v in versions
    }


def dataset_version_clearance(versions: Iterable[DatasetVersion]) -> dict[int, Clearance]:
    """Training clearance for each version, in a fixed number of queries for any number of them."""
    versions = list(versions)
    result = {v.pk: Clearance(version_id=v.pk) for v in versions}
    if not versions:
        return result
    answers = {"pii_review": _pii_review(versions)}
    for check, provider in _providers.items():
        answers[check] = provider(versions)
    missing = {
        "audits": "No audit evidence: no audit run is recorded for this version.",
        "issue_reports": "Issue reports could not be checked.",
    }
    for v in versions:
        for check in REQUIRED_CHECKS:
            finding = answers.get(check, {}).get(v.pk)
            if finding is None:
                finding = Finding(check, False, missing.get(check, "Not checked."))
            result[v.pk].findings.append(finding)
    return result
