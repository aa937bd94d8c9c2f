from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # lineage cannot import audits: the audit and issue-report clearance checks are
        # providers registered with lineage.clearance at start-up.
        from audits.clearance import register

        register()
