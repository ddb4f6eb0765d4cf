from __future__ import annotations

from rest_framework.routers import SimpleRouter

from ingestion.api.views import PollRunViewSet, SourceHealthViewSet

router = SimpleRouter()
router.register("poll-runs", PollRunViewSet, basename="api-poll-run")
router.register("sources", SourceHealthViewSet, basename="api-source")

urlpatterns = router.urls
