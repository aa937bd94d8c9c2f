from django.urls import path

from lineage.api import intake, views

# No trailing slash on the ingestion path: the OpenLineage client posts to /api/v1/lineage, and a
# POST must never be redirected (APPEND_SLASH only redirects paths that do not match).
urlpatterns = [
    # a POST with an API token is answered by intake without DRF's per-request machinery
    path("lineage", intake.with_token_intake(views.LineageApi.as_view()), name="lineage-api"),
    path("lineage/impact", views.ImpactApi.as_view(), name="lineage-impact-api"),
    path("lineage/columns", views.ColumnLineageApi.as_view(), name="lineage-columns-api"),
    path("lineage/runs/", views.RunListApi.as_view(), name="lineage-runs-api"),
    path("lineage/clearance", views.ClearanceApi.as_view(), name="lineage-clearance-api"),
    path("models/", views.ModelListApi.as_view(), name="model-list-api"),
    path("models/<str:name>/", views.ModelDetailApi.as_view(), name="model-detail-api"),
    path("datasets/<str:name>/as-of", views.DatasetAsOfApi.as_view(), name="dataset-as-of-api"),
    path(
        "datasets/<str:name>/versions/diff",
        views.VersionDiffApi.as_view(),
        name="dataset-version-diff-api",
    ),
    path(
        "datasets/<str:name>/versions/<int:number>/rollback",
        views.VersionRollbackApi.as_view(),
        name="dataset-version-rollback-api",
    ),
    path(
        "models/<str:name>/versions/",
        views.ModelVersionListApi.as_view(),
        name="model-version-list-api",
    ),
    path(
        "models/<str:name>/versions/<str:version>/",
        views.ModelVersionDetailApi.as_view(),
        name="model-version-detail-api",
    ),
    path(
        "models/<str:name>/versions/<str:version>/training-data",
        views.TrainingDataApi.as_view(),
        name="model-training-data-api",
    ),
]
