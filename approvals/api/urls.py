from __future__ import annotations

from rest_framework.routers import SimpleRouter

from approvals.api.views import ChangeViewSet

router = SimpleRouter()
router.register("changes", ChangeViewSet, basename="api-change")

urlpatterns = router.urls
