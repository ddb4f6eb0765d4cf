"""The admin base class every app's ModelAdmin uses: tenant-scoped, role-checked, audited.

A superuser sees everything. A staff user sees and edits only rows of tenants where they
hold ``admin_role`` (``admin`` by default), may only pick those tenants in tenant fields,
and every add/change/delete is written to the tenant's audit chain with before/after,
in the admin's own transaction.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction

from sgportal.audit import record_audit, snapshot
from sgportal.models import AuditAction, Tenant
from sgportal.tenancy import Role, tenant_ids_for


def tenant_admin_ids(request) -> models.QuerySet:
    return tenant_ids_for(request.user, Role.ADMIN)


def is_tenant_admin(request) -> bool:
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(request, "_sg_is_tenant_admin", None)
    if cached is None:
        cached = tenant_admin_ids(request).exists()
        request._sg_is_tenant_admin = cached
    return cached


def tenant_id_of(obj: models.Model) -> int | None:
    if isinstance(obj, Tenant):
        return obj.pk
    path = getattr(obj, "tenant_path", "tenant")
    value: Any = obj
    for part in path.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value.pk if isinstance(value, models.Model) else value


class TenantScopedAdmin(admin.ModelAdmin):
    """ModelAdmin restricted to the caller's tenants, with audited writes."""

    admin_role = Role.ADMIN
    audited = True

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user, self.admin_role)

    def _in_scope(self, request, obj) -> bool:
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request) -> bool:
        return is_tenant_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_tenant_admin(request) and self._in_scope(request, obj)

    def has_add_permission(self, request) -> bool:
        return is_tenant_admin(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_tenant_admin(request) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return is_tenant_admin(request) and self._in_scope(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Tenant and not request.user.is_superuser:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=tenant_admin_ids(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- audit -------------------------------------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            before = None
            if change:
                before = snapshot(type(obj)._default_manager.get(pk=obj.pk))
            super().save_model(request, obj, form, change)
            if self.audited:
                self._audit(
                    request,
                    obj,
                    AuditAction.UPDATE if change else AuditAction.CREATE,
                    before,
                    snapshot(obj),
                )

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            before = snapshot(obj)
            tenant_id = tenant_id_of(obj)
            label, pk, text = obj._meta.label, obj.pk, str(obj)
            super().delete_model(request, obj)
            if self.audited and tenant_id:
                record_audit(
                    tenant_id,
                    AuditAction.DELETE,
                    actor=request.user,
                    via="admin",
                    object_type=label,
                    object_id=pk,
                    object_repr=text,
                    before=before,
                )

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def _audit(self, request, obj, action, before, after) -> None:
        tenant_id = tenant_id_of(obj)
        if tenant_id:
            record_audit(
                tenant_id,
                action,
                actor=request.user,
                via="admin",
                obj=obj,
                before=before,
                after=after,
            )


class ReadOnlyTenantAdmin(TenantScopedAdmin):
    """For rows written only by the system (audit entries, poll runs): view, never edit."""

    audited = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WriteOnlySecretsForm(forms.ModelForm):
    """A form whose ``secret_fields`` are write-only: the page says "set" or "not set", an
    empty input keeps the stored value, a new value replaces it, and a ``<name>__clear``
    checkbox (declared by the subclass) empties it. The stored secret never goes back to
    the browser."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = {}
        for name in [n for n in self.secret_fields if n in self.fields]:
            self._stored[name] = getattr(self.instance, name, "") or ""
            label = self.fields[name].label
            self.fields[name] = forms.CharField(
                label=label,
                required=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text=("Set. " if self._stored[name] else "Not set. ")
                + "Type a new value to replace it; leave empty to keep it.",
            )
            self.initial[name] = ""  # never rendered, never compared with the stored value

    def _clean_fields(self):
        super()._clean_fields()
        for name, stored in self._stored.items():
            if self.cleaned_data.get(f"{name}__clear"):
                self.cleaned_data[name] = ""
            elif not self.cleaned_data.get(name):
                self.cleaned_data[name] = stored

    @property
    def changed_data(self) -> list[str]:
        changed = [n for n in super().changed_data if not n.endswith("__clear")]
        cleaned = getattr(self, "cleaned_data", {})
        return [
            n for n in changed if n not in self._stored or cleaned.get(n) != self._stored[n]
        ] + [
            n
            for n, stored in self._stored.items()
            if n not in changed and cleaned.get(f"{n}__clear") and stored
        ]


class TenantInline(admin.StackedInline):
    """An inline on the tenant's page (one of its ingestion sources, say): shown and edited
    only by an admin of that tenant — the parent TenantAdmin is scoped, and so is this."""

    extra = 0
    max_num = 1
    can_delete = False

    def _allowed(self, request, obj) -> bool:
        if not is_tenant_admin(request):
            return False
        if obj is None or request.user.is_superuser:
            return True
        tenant_id = tenant_id_of(obj)
        return Tenant.objects.filter(pk=tenant_id, pk__in=tenant_admin_ids(request)).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def formset_snapshots(formset) -> dict:
    """The stored state of the rows an inline formset is about to change (call before
    ``formset.save()``), for ``audit_formset``'s "before"."""
    pks = [
        form.instance.pk
        for form in formset.initial_forms
        if form.instance.pk and form.has_changed()
    ]
    if not pks:
        return {}
    return {obj.pk: snapshot(obj) for obj in formset.model._default_manager.filter(pk__in=pks)}


def audit_formset(request, formset, before: dict | None = None) -> None:
    """Audit what an inline formset saved (call after ``formset.save()``), in the tenant's
    chain: created, changed and deleted rows. A changed row's "before" is its stored state
    from ``before`` (``formset_snapshots``) when given, else the names of changed fields."""
    before = before or {}
    for obj in formset.new_objects:
        _record(request, obj, AuditAction.CREATE, None, snapshot(obj))
    for obj, changed in formset.changed_objects:
        _record(
            request,
            obj,
            AuditAction.UPDATE,
            before.get(obj.pk, {"changed": changed}),
            snapshot(obj),
        )
    for obj in formset.deleted_objects:
        _record(request, obj, AuditAction.DELETE, snapshot(obj), None)


def _record(request, obj, action, before, after) -> None:
    tenant_id = tenant_id_of(obj)
    if tenant_id:
        record_audit(
            tenant_id, action, actor=request.user, via="admin", obj=obj, before=before, after=after
        )
