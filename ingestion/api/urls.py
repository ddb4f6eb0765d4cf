from __future__ import annotations

from rest_framework.routers import SimpleRouter

from ingestion.api.views import PollRunViewSet

router = SimpleRouter()
router.register("poll-runs", PollRunViewSet, basename="api-poll-run")

urlpatterns = router.urls
