from rest_framework.routers import SimpleRouter

from audits.api.views import AuditPolicyViewSet, AuditRunViewSet, PiiProposalViewSet

router = SimpleRouter()
router.register("audit-policies", AuditPolicyViewSet, basename="audit-policy")
router.register("audit-runs", AuditRunViewSet, basename="audit-run")
router.register("pii-proposals", PiiProposalViewSet, basename="pii-proposal")
urlpatterns = router.urls
