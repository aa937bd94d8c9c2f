from django.contrib import admin

from config.admin import ReadOnlyAdmin
from ledger.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "actor_username", "action", "target_type", "target_id")
    list_filter = ("action",)
    search_fields = ("actor_username", "action", "target_id")
