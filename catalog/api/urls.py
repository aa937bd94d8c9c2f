from django.urls import path

from catalog.api import lists, views

D = "datasets/<str:name>/"

urlpatterns = [
    path(
        "datasets/",
        lists.with_token_list(views.DatasetListCreateApi.as_view()),
        name="api-dataset-list",
    ),
    path("typeahead/datasets/", views.DatasetTypeaheadApi.as_view(), name="api-dataset-typeahead"),
    path(D, views.DatasetDetailApi.as_view(), name="api-dataset-detail"),
    path(D + "reprofile/", views.DatasetReprofileApi.as_view(), name="api-dataset-reprofile"),
    path(D + "deprecate/", views.DatasetDeprecateApi.as_view(), name="api-dataset-deprecate"),
    path(D + "reactivate/", views.DatasetReactivateApi.as_view(), name="api-dataset-reactivate"),
    path(D + "versions/", views.DatasetVersionListApi.as_view(), name="api-dataset-versions"),
    path(D + "columns/<path:column>/", views.ColumnDetailApi.as_view(), name="api-column-detail"),
    path(D + "issues/", views.IssueReportListCreateApi.as_view(), name="api-issue-list"),
    path(D + "issues/<int:pk>/", views.IssueReportDetailApi.as_view(), name="api-issue-detail"),
    path(
        D + "issues/<int:pk>/comments/",
        views.IssueCommentCreateApi.as_view(),
        name="api-issue-comments",
    ),
    path("metadata/export/", views.MetadataExportApi.as_view(), name="api-metadata-export"),
    path("metadata/import/", views.MetadataImportApi.as_view(), name="api-metadata-import"),
    path("connections/", views.ConnectionListCreateApi.as_view(), name="api-connection-list"),
    path(
        "connections/<str:name>/test/",
        views.ConnectionTestApi.as_view(),
        name="api-connection-test",
    ),
]
