"""URLs of the approvals app (included at the root)."""

from django.urls import path

from approvals import views
from approvals.slack import views as slack_views

app_name = "approvals"

urlpatterns = [
    path("", views.change_list, name="queue"),
    path("slack/interactions/", slack_views.interactions, name="slack_interactions"),
    path("slack/link/<str:token>/", views.slack_link, name="slack_link"),
    path("changes/", views.change_list, name="change_list"),
    path("changes/approve/", views.bulk_approve, name="bulk_approve"),
    path("changes/<int:pk>/", views.change_detail, name="change_detail"),
    path("changes/<int:pk>/status/", views.change_status, name="change_status"),
    path("changes/<int:pk>/decide/", views.change_decide, name="change_decide"),
    path("changes/<int:pk>/allow/", views.change_allow, name="change_allow"),  # issue 15
    path("changes/<int:pk>/undo/", views.change_undo, name="change_undo"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("audit/", views.audit_log, name="audit"),
    path("ingestion/status/", views.ingestion_status, name="ingestion_status"),
]
