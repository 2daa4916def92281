"""The sample partner tiers that `make run` loads into a new database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from partners.locking import sync_lock
from partners.models import PartnerTier
from partners.sync import SyncResult, run_sync


def load_samples(paths: Sequence[str | Path] | None = None) -> SyncResult | None:
    """Apply the sample files (default: PARTNERS_INPUT_DIR) only while the database holds no
    partner tiers, so restarting the app never puts sample values back over a person's edits.

    None when records were already there. Checked and applied under the sync lock, so two
    servers starting at once load the samples once. Raises what `run_sync` raises.
    """
    with sync_lock(settings.PARTNERS_LOCK_TIMEOUT):
        if PartnerTier.objects.exists():
            return None
        return run_sync(paths, apply=True, source="cli")
