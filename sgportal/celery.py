"""The Celery app: Redis broker, JSON only, late acks, schedules in django-celery-beat.

Every ``CELERY_*`` setting lives in ``sgportal.settings``; this module only wires them.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")

app = Celery("sgportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
