"""PII proposals found by audit scans: a steward accepts or rejects each one."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audits.models import PiiProposal
from ledger.services import ledger_record


@transaction.atomic
def pii_proposal_decide(
    *, proposal: PiiProposal, actor: AbstractBaseUser, accept: bool
) -> PiiProposal:
    """Accept (classify the column through the catalog's service) or reject a PII proposal."""
    from catalog.services import column_update

    proposal = (
        PiiProposal.objects.select_for_update()
        .select_related("column__dataset")
        .get(pk=proposal.pk)
    )
    if proposal.status != PiiProposal.Status.OPEN:
        raise ValidationError({"detail": ["This proposal has already been decided."]})
    if accept:
        column_update(
            column=proposal.column, actor=actor, data={"pii_kind": proposal.proposed_kind}
        )
    proposal.status = PiiProposal.Status.ACCEPTED if accept else PiiProposal.Status.REJECTED
    proposal.decided_by = actor
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
    ledger_record(
        actor=actor,
        action=f"pii_proposal.{proposal.status}",
        target=proposal.column,
        data={
            "proposal": proposal.pk,
            "from": proposal.declared_kind,
            "to": proposal.proposed_kind,
            "run": proposal.run_id,
        },
    )
    return proposal
