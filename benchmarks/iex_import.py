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
    from import_export.instance_loaders import CachedInstanceLoader

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

        resource: PartnerTierResource = Fastest()
    else:
        resource = PartnerTierResource()
    result = resource.import_data(dataset, dry_run=False, raise_errors=True)
    print(result.totals, file=sys.stderr)


if __name__ == "__main__":
    main()
