"""``manage.py ingest_trail --tenant SLUG --once`` that SIGKILLs its own process at the first
SQS DeleteMessage: a worker killed after the upsert committed, before the notice was deleted
(run by tests/ingestion/test_trail_killed.py; test support, never imported by the app)."""

from __future__ import annotations

import os
import signal
import sys

import botocore.client

_real_call = botocore.client.BaseClient._make_api_call


def _dying_call(self, operation_name, api_params):
    if operation_name == "DeleteMessage":
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_call(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _dying_call

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sgportal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("ingest_trail", "--tenant", sys.argv[1], "--once")
