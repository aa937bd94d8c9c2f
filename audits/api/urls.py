from rest_framework.routers import SimpleRouter

from audits.api.views import AuditPolicyViewSet, AuditRunViewSet

router = SimpleRouter()
router.register("audit-policies", AuditPolicyViewSet, basename="audit-policy")
router.register("audit-runs", AuditRunViewSet, basename="audit-run")
urlpatterns = router.urls
