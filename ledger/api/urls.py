from django.urls import path
from rest_framework.routers import SimpleRouter

from ledger.api.views import EventViewSet, LedgerVerifyApi

router = SimpleRouter()
router.register("ledger/events", EventViewSet, basename="ledger-event")
urlpatterns = [
    path("ledger/verify/", LedgerVerifyApi.as_view(), name="ledger-verify"),
    *router.urls,
]
