"""The forms ApiTokenAdmin shows: add (name, tenant, scopes, expiry) and change (revoke)."""

from __future__ import annotations

from django import forms

from sgportal.api.tokens import DEFAULT_EXPIRY_DAYS
from sgportal.models import ApiToken
from sgportal.models.tokens import Scope


class ApiTokenAddForm(forms.ModelForm):
    """A new token: the text is generated on save and shown once on the next page."""

    token_scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=Scope.choices,
        initial=[Scope.READ],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_days = forms.IntegerField(
        label="Expires in (days)",
        min_value=0,
        max_value=3650,
        initial=DEFAULT_EXPIRY_DAYS,
        help_text="0: never expires.",
    )

    class Meta:
        model = ApiToken
        fields = ["tenant", "name"]

    def clean(self):
        cleaned = super().clean()
        tenant, name = cleaned.get("tenant"), cleaned.get("name")
        if tenant and name and ApiToken.objects.filter(tenant=tenant, name=name).exists():
            self.add_error("name", "This tenant already has a token with this name.")
        return cleaned


class ApiTokenChangeForm(forms.ModelForm):
    """An existing token can only be revoked (for good)."""

    revoke = forms.BooleanField(
        required=False,
        help_text="Revoke this token now. A revoked token can never be used again.",
    )

    class Meta:
        model = ApiToken
        fields: list[str] = []
