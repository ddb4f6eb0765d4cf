from django.apps import AppConfig


class IngestionConfig(AppConfig):
    name = "ingestion"
    verbose_name = "Ingestion"

    def ready(self) -> None:
        from ingestion import metrics, sources
        from sgportal import aws_roles

        metrics.register()
        if sources.read_role_arns not in aws_roles.read_role_finders:
            aws_roles.read_role_finders.append(sources.read_role_arns)
