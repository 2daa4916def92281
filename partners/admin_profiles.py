"""The admin of import profiles: list, edit, add and delete them, each with its model
permission. What makes a profile valid is the engine's rule (partners.profiles), shown on the
form; the mapping step of an upload saves new ones (see PartnerTierAdmin.mapping_view)."""

from __future__ import annotations

from django.contrib import admin

from partners.forms import ImportProfileForm
from partners.models import ImportProfile


@admin.register(ImportProfile)
class ImportProfileAdmin(admin.ModelAdmin):
    form = ImportProfileForm
    list_display = ["name", "pattern", "sheet", "mapped", "constants_shown", "updated_at"]
    search_fields = ["name", "pattern"]
    ordering = ["name"]

    @admin.display(description="columns")
    def mapped(self, profile: ImportProfile) -> str:
        return ", ".join(f"{column} → {target}" for column, target in profile.columns) or "—"

    @admin.display(description="constants")
    def constants_shown(self, profile: ImportProfile) -> str:
        return ", ".join(f"{name} = {value}" for name, value in profile.constants) or "—"
