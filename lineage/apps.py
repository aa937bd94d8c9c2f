from django.apps import AppConfig


class LineageConfig(AppConfig):
    name = "lineage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # catalog cannot import lineage: it calls back through its listener registry.
        from catalog.versioning import register_rollback_listener
        from lineage.notifications import on_dataset_rollback

        register_rollback_listener(on_dataset_rollback)
