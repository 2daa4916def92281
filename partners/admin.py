from __future__ import annotations

from django.contrib import admin

from partners.models import PartnerTier, SyncRun


@admin.register(PartnerTier)
class PartnerTierAdmin(admin.ModelAdmin):
    list_display = ["name", "oem", "tier", "program", "poc", "updated_at"]
    list_filter = ["oem", "tier", "program"]
    search_fields = ["name", "program", "poc", "notes"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "source", "user", "applied", "counts"]
    list_filter = ["source", "applied"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
