from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from access import views as access_views
from config import views

api_v1 = [
    path("", include("ledger.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("access.api.urls")),
    path("", include("lineage.api.urls")),
    path("", include("audits.api.urls")),
]

# The API first: URLs resolve in order, and the API's hot paths (the dataset list, OpenLineage
# intake) paid for trying every portal pattern first (~0.2 ms a request). No portal URL starts
# with api/, so nothing else changes.
urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", views.home, name="home"),
    path("health", views.health, name="health"),
    path("login/", access_views.LoginView.as_view(), name="login"),
    path("logout/", access_views.LogoutView.as_view(), name="logout"),
    path("", include("ledger.urls")),
    path("", include("catalog.urls")),
    path("", include("access.urls")),
    path("", include("lineage.urls")),
    path("", include("audits.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

handler403 = "config.views.error_403"
handler404 = "config.views.error_404"
handler500 = "config.views.error_500"
