"""URLs of the approvals app (included at the root)."""

urlpatterns: list = []
