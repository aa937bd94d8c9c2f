"""Demo access: a grant to read, a restricted request half-approved, one waiting (idempotent)."""

from django.contrib.auth import get_user_model

from access.models import AccessRequest
from access.services import access_request_approve, access_request_create
from catalog.models import Dataset

User = get_user_model()


def seed_access_demo() -> list[str]:
    """Create the demo's requests and grants through the services (so the ledger has them)."""
    users = {u.username: u for u in User.objects.filter(username__in=["steward", "engineer"])}
    datasets = {d.name: d for d in Dataset.objects.filter(name__in=DEMO_REQUESTS)}
    if len(users) < 2 or AccessRequest.objects.filter(requester=users.get("engineer")).exists():
        return []
    made = []
    for name, (level, purpose, days, approve) in DEMO_REQUESTS.items():
        dataset = datasets.get(name)
        if dataset is None:
            continue
        req = access_request_create(
            requester=users["engineer"],
            dataset=dataset,
            level=level,
            purpose=purpose,
            duration_days=days,
        )
        if approve:
            req = access_request_approve(access_request=req, approver=users["steward"])
        made.append(f"{name} ({req.get_status_display().lower()})")
    return made


# dataset -> (level, purpose, days, whether the steward approves it)
DEMO_REQUESTS = {
    "transactions": (
        "masked",
        "Train the card-fraud model (gradient boosting) on 2024 transactions.",
        60,
        True,
    ),
    "customers": (
        "masked",
        "Join customers to transactions by hashed e-mail for fraud features; no raw identifiers.",
        14,
        True,  # restricted: still waits for a compliance officer after the steward
    ),
    "loan-applications": (
        "full",
        "Fairness review of the loan approval model: need raw age and sex to compute parity.",
        30,
        False,
    ),
}
