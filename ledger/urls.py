from django.urls import path, re_path

from ledger import views

urlpatterns = [
    path("ledger/", views.event_list_view, name="ledger"),
    re_path(r"^ledger/export\.(?P<fmt>csv|json)$", views.event_export, name="ledger-export"),
]
