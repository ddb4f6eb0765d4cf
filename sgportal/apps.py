from django.apps import AppConfig


class SgportalConfig(AppConfig):
    name = "sgportal"
    verbose_name = "Tenancy and audit"

    def ready(self) -> None:
        from sgportal import people, receivers, sso  # noqa: F401
