"""Single sign-on: identity-provider groups that grant a role in a tenant."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from sgportal.tenancy import Role, TenantScopedQuerySet


class IdpGroupMapping(models.Model):
    """Members of an identity-provider group get ``role`` in ``tenant`` at each SSO sign-in."""

    tenant = models.ForeignKey(
        "sgportal.Tenant", on_delete=models.CASCADE, related_name="idp_group_mappings"
    )
    group = models.CharField(
        max_length=255,
        help_text="The group's name exactly as the identity provider sends it: the OpenID "
        "Connect `groups` claim, or the SAML `groups` attribute.",
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["tenant", "group"]
        verbose_name = "identity-provider group mapping"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "group"],
                name="uniq_idp_group_mapping",
                violation_error_message="This group is already mapped in this tenant.",
            ),
            models.CheckConstraint(condition=~models.Q(group=""), name="idp_group_named"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.role} in {self.tenant}"

    def clean(self) -> None:
        self.group = (self.group or "").strip()
        if not self.group:
            raise ValidationError({"group": "Name the identity provider's group."})
