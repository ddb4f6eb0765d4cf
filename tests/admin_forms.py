"""Post an admin change form back as a browser would: its fields and its inline formsets."""

from __future__ import annotations


def changeform_data(page, *, keep_empty: bool = False) -> dict:
    """The change page's current values (main form and inlines, with management forms)."""
    initial = page.context["adminform"].form.initial
    data = {
        name: value
        for name, value in initial.items()
        if keep_empty or value not in (None, False, "")
    }
    for inline in page.context.get("inline_admin_formsets", []):
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.forms:
            for name in form.fields:
                value = form[name].value()
                if value not in (None, False, ""):
                    data[form.add_prefix(name)] = value
    return data
