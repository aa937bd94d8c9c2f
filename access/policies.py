"""The one module that answers "may this user do this to that?". Nothing else decides.

Not visible means 404 (callers start from the querysets here); visible but not allowed, 403.
The tier table (DESIGN.md):

| tier         | metadata visible to                 | data readable by                  |
| public       | all users                           | all users                         |
| internal     | all users                           | grant holders                     |
| confidential | all users                           | grant holders (PII masked unless the grant is full) |
| restricted   | stewards, compliance, grant holders | grant holders                     |

Owners and a dataset's named stewards always see its metadata; admins see everything.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from guardian.shortcuts import get_objects_for_user

from access.models import ApiToken
from access.roles import ADMIN, COMPLIANCE, ENGINEER, STEWARD, has_role
from catalog.models import Dataset, Sensitivity

AnyUser = AbstractBaseUser | AnonymousUser

READ_PERM = "catalog.read_dataset_data"
READ_FULL_PERM = "catalog.read_dataset_data_full"


# --- datasets -------------------------------------------------------------------------------


def _granted_dataset_ids(user: AnyUser, perm: str) -> QuerySet:
    """Ids of datasets on which `user` holds a guardian object permission (derived from grants)."""
    return get_objects_for_user(
        user, perm, klass=Dataset, accept_global_perms=False, with_superuser=False
    ).values("pk")


def datasets_for(user: AnyUser, action: str = "view") -> QuerySet[Dataset]:
    """Datasets `user` may `action`: "view" (metadata), "change" (describe, classify), "read" (data)."""
    if not user.is_authenticated:
        return Dataset.objects.none()
    if has_role(user, ADMIN):
        return Dataset.objects.all()
    own = Q(owner=user) | Q(stewards=user)
    if action == "view":
        if has_role(user, STEWARD, COMPLIANCE):
            return Dataset.objects.all()
        visible = ~Q(sensitivity=Sensitivity.RESTRICTED) | own
        granted = Q(pk__in=_granted_dataset_ids(user, READ_PERM))
        return Dataset.objects.filter(visible | granted).distinct()
    if action == "change":
        if has_role(user, STEWARD):
            return Dataset.objects.all()
        return Dataset.objects.filter(own).distinct()
    if action == "read":
        public = Q(sensitivity=Sensitivity.PUBLIC)
        granted = Q(pk__in=_granted_dataset_ids(user, READ_PERM))
        return Dataset.objects.filter(public | granted | Q(owner=user)).distinct()
    raise ValueError(f"unknown dataset action {action!r}")


def get_dataset_for(user: AnyUser, name: str, *, action: str = "view") -> Dataset:
    """One dataset by name: 404 if `user` can't see it, 403 if they can see but not `action` it."""
    dataset = get_object_or_404(
        datasets_for(user, "view").select_related("owner", "domain", "current_version"), name=name
    )
    if action != "view" and not datasets_for(user, action).filter(pk=dataset.pk).exists():
        raise PermissionDenied
    return dataset


def can_register_dataset(user: AnyUser) -> bool:
    """Stewards and admins register datasets and connections."""
    return has_role(user, STEWARD, ADMIN)


# --- the governance log -----------------------------------------------------------------------


def can_view_ledger(user: AnyUser) -> bool:
    """Compliance officers and admins read the governance log."""
    return has_role(user, COMPLIANCE, ADMIN)


# --- API tokens -----------------------------------------------------------------------------


def api_tokens_for(user: AnyUser) -> QuerySet[ApiToken]:
    """A user sees and manages only their own API tokens."""
    return ApiToken.objects.filter(user=user) if user.is_authenticated else ApiToken.objects.none()


def get_api_token_for(user: AnyUser, pk: int) -> ApiToken:
    return get_object_or_404(api_tokens_for(user), pk=pk)


# --- lineage ----------------------------------------------------------------------------------
# Jobs, runs and model versions are metadata every signed-in user may see; a dataset node of the
# graph is shown only where `datasets_for(user, "view")` allows (else a redacted placeholder).


def can_post_lineage(user: AnyUser) -> bool:
    """Pipelines post OpenLineage events with a token of a user holding any Charter role."""
    return user.is_authenticated and has_role(user, STEWARD, ENGINEER, ADMIN)


def can_register_model_version(user: AnyUser) -> bool:
    """ML engineers, stewards and admins register models and model versions."""
    return user.is_authenticated and has_role(user, STEWARD, ENGINEER, ADMIN)


def can_view_lineage_events(user: AnyUser) -> bool:
    """Raw OpenLineage events (and what processing skipped) are for stewards and admins."""
    return has_role(user, STEWARD, ADMIN)
