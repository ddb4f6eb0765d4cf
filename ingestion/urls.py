"""URLs of the ingestion app (included at the root)."""

from django.urls import path

from ingestion import views

urlpatterns = [
    path(
        "ingest/eventbridge/<slug:tenant>/",
        views.eventbridge_ingest,
        name="ingest_eventbridge",
    ),
]
