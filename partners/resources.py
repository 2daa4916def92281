"""django-import-export resources: used for exports (and, in the benchmark, as the baseline)."""

from __future__ import annotations

from import_export import resources

from partners.models import PartnerTier

EXPORT_FIELDS = ("name", "tier", "program", "oem", "poc", "notes", "updated_at", "created_at")


class PartnerTierResource(resources.ModelResource):
    class Meta:
        model = PartnerTier
        fields = EXPORT_FIELDS
        export_order = EXPORT_FIELDS
        import_id_fields = ("name", "oem")
