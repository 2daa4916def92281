"""Baseline for bench_sync.py: one CSV through django-import-export's `import_data`.

python benchmarks/iex_import.py FILE default|fastest
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnersite.settings")


def main() -> None:
    import django

    django.setup()
    import tablib
    from django.utils import timezone
    from import_export.instance_loaders import CachedInstanceLoader

    from partners.normalize import identity_key
    from partners.resources import PartnerTierResource

    path, mode = sys.argv[1], sys.argv[2]
    dataset = tablib.Dataset().load(Path(path).read_text(encoding="utf-8"), format="csv")
    if mode == "fastest":

        class Fastest(PartnerTierResource):
            class Meta(PartnerTierResource.Meta):
                use_bulk = True
                skip_diff = True
                skip_unchanged = True
                instance_loader_class = CachedInstanceLoader
                batch_size = 1000

            def before_save_instance(self, instance, row, **kwargs):
                # Bulk mode skips Model.save(), which fills these; without them it cannot run.
                now = timezone.now().replace(microsecond=0)
                instance.name_key = identity_key(instance.name)
                instance.oem_key = identity_key(instance.oem)
                instance.created_at = instance.created_at or now
                instance.updated_at = now

        resource: PartnerTierResource = Fastest()
    else:
        resource = PartnerTierResource()
    result = resource.import_data(dataset, dry_run=False, raise_errors=True)
    print(result.totals, file=sys.stderr)


if __name__ == "__main__":
    main()
