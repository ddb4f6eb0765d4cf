"""URLs of the ingestion app (included at the root)."""

urlpatterns: list = []
