"""What an audit run's checks see: the context (schemas, masks, drift references, facts) and
the checks that ride on the profile's parse of a changed file (`SharedPass`).

Split from `runs` (the state machine) so that each module stays short.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from audits.models import AuditRun, CheckResult
from catalog import sources
from catalog.models import Column, Dataset, DatasetVersion

logger = logging.getLogger(__name__)

DB_CHECKS = ("access_review",)  # checks that read Charter's own tables, not the data


def column_masks(dataset: Dataset) -> tuple[dict[str, Any], dict[str, str]]:
    from access.masking import HASH, mask_value, rule_for

    masks: dict[str, Any] = {}
    declared: dict[str, str] = {}
    key = settings.CHARTER_MASKING_KEY
    for column in Column.objects.filter(dataset=dataset):
        declared[column.name] = column.pii_kind or ""
        kind = column.pii_kind or column.suggested_pii_kind  # suggested PII is masked too
        if not kind:
            continue
        rule = rule_for(kind, column.masking or "") or HASH

        def mask(value: Any, rule: str = rule) -> Any:
            return mask_value(value, rule, key=key)

        masks[column.name] = mask
    return masks, declared


def is_new_version(version: DatasetVersion | None, previous: DatasetVersion | None) -> bool:
    return previous is not None and version is not None and previous.pk != version.pk


def reference_numbers(
    specs: list[dict[str, Any]],
    previous: DatasetVersion | None,
    version_number: int | None,
    *,
    is_new: bool,
) -> dict[int, int]:
    """For each drift check, the version number its reference distribution comes from.

    Keyed by the check's place among the data checks (`data_specs`), which is how the check
    engines number them: checks on Charter's own tables are not part of the data pass.
    """
    numbers: dict[int, int] = {}
    for index, spec in enumerate(data_specs(specs)):
        if spec["kind"] != "distribution_drift":
            continue
        number = spec.get("reference_version")
        if number is None:
            if previous is not None and is_new:
                number = previous.number
            elif version_number is not None:
                number = version_number - 1
        if number:
            numbers[index] = number
    return numbers


def drift_references(
    run: AuditRun,
    version: DatasetVersion | None,
    previous: DatasetVersion | None,
    specs: list[dict[str, Any]],
) -> dict[int, dict]:
    """For each drift check, the distribution a run recorded on the reference version."""
    numbers = reference_numbers(
        specs,
        previous,
        version.number if version is not None else None,
        is_new=is_new_version(version, previous),
    )
    return references_at(run, numbers, specs)


def references_at(run: AuditRun, numbers: dict[int, int], specs: list[dict]) -> dict[int, dict]:
    references: dict[int, dict] = {}
    checks = data_specs(specs)
    for index, number in numbers.items():
        spec = checks[index]
        rows = (
            CheckResult.objects.filter(
                run__dataset=run.dataset,
                run__version__number=number,
                kind="distribution_drift",
                column=spec["column"],
            )
            .order_by("-run__finished_at")
            .values_list("result", flat=True)[:5]
        )
        for result in rows:
            distribution = (result.get("details") or {}).get("distribution")
            if distribution:
                references[index] = {**distribution, "version": number}
                break
        if index not in references:  # no run recorded it: read the version's kept snapshot
            snapshot = _reference_from_snapshot(run.dataset, number, spec)
            if snapshot is not None:
                references[index] = snapshot
    return references


def _reference_from_snapshot(dataset: Dataset, number: int, spec: dict) -> dict | None:
    """The column's distribution in a past version, read from its snapshot (one chunked pass)."""
    from audits.checks.drift import DistributionDriftCheck
    from audits.checks.quality import CheckContext
    from catalog.versioning import version_source

    version = DatasetVersion.objects.filter(dataset=dataset, number=number).first()
    if version is None:
        return None
    try:
        source = version_source(version)
        masks, _ = column_masks(dataset)
        check = DistributionDriftCheck(spec, CheckContext(now=timezone.now(), masks=masks), 0)
        for chunk in source.iter_chunks(columns=[spec["column"]]):
            check.update(chunk)
    except (sources.SourceError, KeyError, ValueError) as exc:
        logger.info("no snapshot baseline for %s v%s: %s", dataset.name, number, exc)
        return None
    distribution = check.own_distribution()
    if distribution is None:
        return None
    return {**distribution, "version": number, "from": "snapshot"}


def dataset_facts(dataset: Dataset) -> dict[str, Any]:
    oldest = dataset.versions.order_by("created_at").values_list("created_at", flat=True).first()
    return {
        "retention_days": dataset.retention_days,
        "legal_basis": dataset.legal_basis,
        "purpose": dataset.purpose,
        "pii_columns": list(dataset.columns.exclude(pii_kind="").values_list("name", flat=True)),
        "oldest_version_at": (oldest or dataset.created_at).isoformat(),
    }


def data_specs(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in specs if s["kind"] not in DB_CHECKS]


def check_context(
    run: AuditRun,
    source: Any,
    version: DatasetVersion | None,
    previous: DatasetVersion | None,
    references: dict[int, dict],
    columns: list[dict[str, Any]] | None = None,
) -> Any:
    """The checks' context; `columns` when the source's were read already (a sample read)."""
    from audits.checks.quality import CheckContext

    masks, declared = column_masks(run.dataset)
    return CheckContext(
        now=timezone.now(),
        columns=columns if columns is not None else [c.as_dict() for c in source.columns()],
        reference_schema=previous.schema if previous is not None else None,
        # both schemas come from the catalog's profiling, so type names compare like for like
        current_schema=version.schema if version is not None else None,
        masks=masks,
        references=references,
        declared_pii=declared,
        facts=dataset_facts(run.dataset),
    )


class SharedPass:
    """A file's data checks fed by the profile's chunks (one parse for the profile and them).

    The context is built before the version exists: the drift references are those the new
    version will have (checked again after binding), and the schema, masks and facts that
    depend on the profile are filled in before the checks finish (`results_for`).
    Anything a check raises is kept and raised after the profile is stored, so a check never
    leaves the dataset's profile half done.
    """

    def __init__(self, checks: Any, numbers: dict[int, int], owner: Any, expected: int | None):
        self.checks = checks
        self.numbers = numbers
        self.owner = owner
        self.expected = expected
        self.failure: Exception | None = None

    @classmethod
    def start(
        cls, run: AuditRun, source: Any, previous: DatasetVersion | None, owner: Any
    ) -> SharedPass | None:
        from audits.checks.engine import CheckPass

        only = data_specs(run.checks)
        if not only or not isinstance(source, sources.FileSource):
            return None
        upcoming = (run.dataset.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        numbers = reference_numbers(run.checks, previous, upcoming, is_new=True)
        ctx = check_context(run, source, None, previous, references_at(run, numbers, run.checks))
        expected = previous.row_count if previous is not None else None
        return cls(CheckPass(only, ctx), numbers, owner, expected)

    def feed(self, chunk: Any) -> None:
        if self.failure is not None:
            return
        try:
            self.checks.feed(chunk)
            self.owner.beat(self._percent())  # also enforces the run's time limit
        except Exception as exc:  # noqa: BLE001 - the run raises it once the profile is stored
            self.failure = exc

    def _percent(self) -> int | None:
        if not self.expected:  # a first version: the row count is not known yet
            return None
        return 5 + min(self.checks.rows, self.expected) * 94 // self.expected

    def results_for(
        self, run: AuditRun, source: Any, version: DatasetVersion, previous: DatasetVersion | None
    ) -> list[dict[str, Any]] | None:
        """The checks' results with the bound version's context, or None when the references
        the checks were fed with are not the bound version's (the run then reads the file)."""
        if (
            reference_numbers(
                run.checks, previous, version.number, is_new=is_new_version(version, previous)
            )
            != self.numbers
        ):
            return None
        ctx = self.checks.ctx
        final = check_context(run, source, version, previous, ctx.references, ctx.columns)
        for name in ("current_schema", "masks", "declared_pii", "facts"):
            setattr(self.checks.ctx, name, getattr(final, name))
        return self.checks.results()
