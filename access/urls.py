from django.urls import path, re_path

from access import grant_views, views

app_name = "access"
urlpatterns = [
    path("account/tokens/", views.token_list, name="token-list"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    # access requests, decisions and grants (issue 4)
    path("access/", grant_views.home, name="home"),
    path("access/inbox/", grant_views.inbox, name="inbox"),
    path("access/report/", grant_views.report, name="report"),
    path("access/report.csv", grant_views.report_csv, name="report-csv"),
    path("access/datasets/<str:name>/request/", grant_views.request_new, name="request-new"),
    path("access/requests/<int:pk>/", grant_views.request_detail, name="request-detail"),
    path("access/requests/<int:pk>/approve/", grant_views.request_approve, name="request-approve"),
    path("access/requests/<int:pk>/deny/", grant_views.request_deny, name="request-deny"),
    path(
        "access/requests/<int:pk>/withdraw/", grant_views.request_withdraw, name="request-withdraw"
    ),
    path("access/grants/<int:pk>/revoke/", grant_views.grant_revoke, name="grant-revoke"),
    path("access/users/<str:username>/", grant_views.user_access, name="user-access"),
    # a dataset's Access tab and its data
    path("catalog/datasets/<str:name>/access/", grant_views.dataset_access, name="dataset-access"),
    path(
        "catalog/datasets/<str:name>/access/preview/",
        grant_views.dataset_preview,
        name="dataset-preview",
    ),
    re_path(
        r"^catalog/datasets/(?P<name>[^/]+)/access/download\.(?P<fmt>csv|parquet)$",
        grant_views.dataset_download,
        name="dataset-download",
    ),
    path(
        "catalog/datasets/<str:name>/access/readers.csv",
        grant_views.dataset_readers_csv,
        name="dataset-readers-csv",
    ),
]
