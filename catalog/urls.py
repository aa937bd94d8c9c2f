from django.urls import path

from catalog import views

app_name = "catalog"

D = "catalog/datasets/<str:name>/"

urlpatterns = [
    path("catalog/", views.dataset_list, name="dataset-list"),
    path("catalog/register/", views.dataset_register, name="dataset-register"),
    path("catalog/connections/", views.connection_list, name="connection-list"),
    path("catalog/connections/<int:pk>/test/", views.connection_test, name="connection-test"),
    path("catalog/metadata/export.csv", views.metadata_export, name="metadata-export"),
    path("catalog/metadata/import/", views.metadata_import, name="metadata-import"),
    path(D, views.dataset_detail, name="dataset-detail"),
    path(D + "schema/", views.dataset_schema, name="dataset-schema"),
    path(D + "versions/", views.dataset_versions, name="dataset-versions"),
    path(D + "profile-status/", views.dataset_profile_status, name="dataset-profile-status"),
    path(D + "reprofile/", views.dataset_reprofile, name="dataset-reprofile"),
    path(D + "edit/", views.dataset_edit, name="dataset-edit"),
    path(D + "deprecate/", views.dataset_deprecate, name="dataset-deprecate"),
    path(D + "reactivate/", views.dataset_reactivate, name="dataset-reactivate"),
    path(D + "columns/<path:column>/", views.column_edit, name="column-edit"),
    path(D + "issues/", views.dataset_issues, name="dataset-issues"),
    path(D + "issues/new/", views.issue_create, name="issue-create"),
    path(D + "issues/<int:pk>/", views.issue_detail, name="issue-detail"),
]
