from django.urls import path

from lineage import views

app_name = "lineage"
urlpatterns = [
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
