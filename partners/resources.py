"""django-import-export resources: used for exports (and, in the benchmark, as the baseline)."""

from __future__ import annotations

from import_export import resources

from partners.fields import RECORD_FIELDS
from partners.models import PartnerTier

EXPORT_FIELDS = RECORD_FIELDS


class PartnerTierResource(resources.ModelResource):
    class Meta:
        model = PartnerTier
        fields = EXPORT_FIELDS
        export_order = EXPORT_FIELDS
        import_id_fields = ("name", "oem")
