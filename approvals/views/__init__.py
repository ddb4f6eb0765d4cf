"""The web pages of approvals (issue 13): changes (queue, change page, decisions) and the
dashboard, audit and ingestion pages."""

from approvals.views.changes import (
    bulk_approve,
    change_allow,
    change_decide,
    change_detail,
    change_list,
    change_status,
    change_undo,
    get_change_for_user,
    slack_link,
)
from approvals.views.pages import audit_log, dashboard, ingestion_status

__all__ = [
    "audit_log",
    "bulk_approve",
    "change_allow",
    "change_decide",
    "change_detail",
    "change_list",
    "change_status",
    "change_undo",
    "dashboard",
    "get_change_for_user",
    "ingestion_status",
    "slack_link",
]
