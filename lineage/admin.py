from django.contrib import admin

from lineage.models import (
    ColumnLineageEdge,
    DatasetRef,
    ExternalQualityResult,
    Job,
    LineageEdge,
    LineageEvent,
    Model,
    ModelVersion,
    Run,
)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["namespace", "name", "updated_at"]
    search_fields = ["namespace", "name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["run_id", "job", "state", "started_at", "ended_at"]
    list_filter = ["state"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]


@admin.register(DatasetRef)
class DatasetRefAdmin(admin.ModelAdmin):
    list_display = ["namespace", "name", "dataset"]
    search_fields = ["namespace", "name", "dataset__name"]
    list_select_related = ["dataset"]
    raw_id_fields = ["dataset"]


@admin.register(LineageEvent)
class LineageEventAdmin(admin.ModelAdmin):
    """Raw events are a record: read-only here."""

    list_display = ["received_at", "event_type", "event_kind", "producer", "status", "submitted_by"]
    list_filter = ["event_type", "status"]
    readonly_fields = [f.name for f in LineageEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Versions are immutable and registered through the service (ledger): read-only here."""

    list_display = ["model", "version", "owner", "created_at"]
    list_select_related = ["model", "owner"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


admin.site.register(LineageEdge)
admin.site.register(ColumnLineageEdge)
admin.site.register(ExternalQualityResult)
