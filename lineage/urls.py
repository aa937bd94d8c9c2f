from django.urls import path

from lineage import views, views_versions

app_name = "lineage"
V = "catalog/datasets/<str:name>/versions/"
urlpatterns = [
    path(V + "compare/", views_versions.version_compare, name="version-compare"),
    path("catalog/datasets/<str:name>/as-of/", views_versions.dataset_as_of, name="dataset-as-of"),
    path(V + "<int:number>/rollback/", views_versions.version_rollback, name="version-rollback"),
    path(V + "<int:number>/snapshot/", views_versions.version_snapshot, name="version-snapshot"),
    path(V + "<int:number>/download/", views_versions.version_download, name="version-download"),
    path(
        V + "<int:number>/snapshot/remove/",
        views_versions.version_snapshot_remove,
        name="version-snapshot-remove",
    ),
    path("lineage/", views.index, name="index"),
    path("lineage/datasets/<str:name>/", views.dataset_lineage, name="dataset-lineage"),
    path("lineage/jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("lineage/discovered/", views.discovered_list, name="discovered"),
    path("lineage/discovered/<str:name>/adopt/", views.discovered_adopt, name="discovered-adopt"),
    path("lineage/discovered/<str:name>/merge/", views.discovered_merge, name="discovered-merge"),
    path("lineage/events/", views.event_list, name="event-list"),
    path("lineage/models/", views.model_list, name="model-list"),
    path(
        "lineage/models/register/", views.model_version_register_view, name="model-version-register"
    ),
    path("lineage/models/<str:name>/", views.model_detail, name="model-detail"),
    path(
        "lineage/models/<str:name>/versions/<str:version>/",
        views.model_version_detail,
        name="model-version-detail",
    ),
]
