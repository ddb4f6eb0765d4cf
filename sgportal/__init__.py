"""sgportal: settings, tenancy, audit log and what every app shares."""

from sgportal.celery import app as celery_app

__all__ = ["celery_app"]
