"""The portal's URLs plus the baselines the API is measured against (bench only)."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path

from config.urls import urlpatterns as portal_urlpatterns

# The fields a dataset list row carries; kept equal to what the API list returns.
BASELINE_DATASET_FIELDS = ("name", "title", "sensitivity", "status", "updated_at")


@login_not_required
def baseline_datasets(request: HttpRequest) -> JsonResponse:
    """A plain JsonResponse of one page of datasets: no auth, no permissions, no DRF."""
    from catalog.models import Dataset

    page = max(int(request.GET.get("page", "1")), 1)
    size = 50
    rows = list(
        Dataset.objects.order_by("name").values(*BASELINE_DATASET_FIELDS)[
            (page - 1) * size : page * size
        ]
    )
    return JsonResponse({"results": rows})


urlpatterns = [
    path("bench/baseline/datasets/", baseline_datasets, name="bench-baseline-datasets"),
    *portal_urlpatterns,
]
