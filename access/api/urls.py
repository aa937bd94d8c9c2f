from django.urls import path

from access.api import views

urlpatterns = [
    path(
        "access/requests/", views.AccessRequestListCreateApi.as_view(), name="api-access-requests"
    ),
    path("access/requests/<int:pk>/", views.AccessRequestDetailApi.as_view()),
    path("access/requests/<int:pk>/approve/", views.AccessRequestApproveApi.as_view()),
    path("access/requests/<int:pk>/deny/", views.AccessRequestDenyApi.as_view()),
    path("access/requests/<int:pk>/withdraw/", views.AccessRequestWithdrawApi.as_view()),
    path("access/grants/", views.AccessGrantListApi.as_view(), name="api-access-grants"),
    path("access/grants/<int:pk>/revoke/", views.AccessGrantRevokeApi.as_view()),
    path("datasets/<str:name>/readers/", views.DatasetReadersApi.as_view()),
    path("datasets/<str:name>/rows/", views.DatasetRowsApi.as_view(), name="api-dataset-rows"),
]
