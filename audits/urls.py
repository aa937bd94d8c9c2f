from django.urls import path

from audits import views

app_name = "audits"
urlpatterns = [
    path("audits/", views.index, name="index"),
    path("audits/policies/new/", views.policy_form, name="policy-create"),
    path("audits/policies/<int:pk>/", views.policy_detail, name="policy-detail"),
    path("audits/policies/<int:pk>/edit/", views.policy_form, name="policy-edit"),
    path("audits/policies/<int:pk>/run/", views.policy_run, name="policy-run"),
    path("audits/policies/<int:pk>/delete/", views.policy_delete, name="policy-delete"),
    path("audits/runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("audits/runs/<int:pk>/reproduce/", views.run_reproduce, name="run-reproduce"),
    path("audits/runs/<int:pk>/status.json", views.run_status, name="run-status"),
    path("audits/runs/<int:pk>/report.<str:fmt>", views.run_report, name="run-report"),
    path(
        "audits/runs/<int:pk>/results/<int:index>/reweigh/", views.run_mitigate, name="run-mitigate"
    ),
    path("audits/proposals/<int:pk>/decide/", views.proposal_decide, name="proposal-decide"),
    path("audits/compliance/", views.compliance, name="compliance"),
    path("audits/processing/", views.activity_list, name="activity-list"),
    path("audits/processing/new/", views.activity_form, name="activity-create"),
    path("audits/processing/<int:pk>/", views.activity_detail, name="activity-detail"),
    path("audits/processing/<int:pk>/edit/", views.activity_form, name="activity-edit"),
    path("audits/processing/record.<str:fmt>", views.ropa_download, name="ropa-download"),
    path("catalog/datasets/<str:name>/audits/", views.dataset_audits, name="dataset-audits"),
]
