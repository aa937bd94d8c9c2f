from django.contrib import admin

from access.models import AccessApproval, AccessGrant, AccessRequest, ApiToken, LoginThrottle
from config.admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "digest",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    def has_add_permission(self, request):
        return False  # tokens are created by their owner (UI) or by create_api_token


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    list_display = ("username", "ip_address", "failures", "last_failure_at", "locked_until")


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "requester", "level", "status", "duration_days", "created_at")
    list_filter = ("status", "level")
    list_select_related = ("dataset", "requester")
    search_fields = ("dataset__name", "requester__username", "purpose")


@admin.register(AccessApproval)
class AccessApprovalAdmin(ReadOnlyAdmin):
    list_display = ("request", "approver", "capacity", "created_at")
    list_filter = ("capacity",)
    list_select_related = ("request__dataset", "request__requester", "approver")


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "user", "level", "starts_at", "expires_at", "ended_at", "ending")
    list_filter = ("level", "ending")
    list_select_related = ("dataset", "user")
    search_fields = ("dataset__name", "user__username", "purpose")
