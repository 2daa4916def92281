"""The sample partner tiers that `make run` loads into a new database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from partners import profiles
from partners.locking import sync_lock
from partners.models import ImportProfile, PartnerTier
from partners.sync import InputError, SyncResult, run_sync

PROFILES_FILE = "profiles.yaml"


def load_samples(paths: Sequence[str | Path] | None = None) -> SyncResult | None:
    """Apply the sample files (default: PARTNERS_INPUT_DIR) only while the database holds no
    partner tiers, so restarting the app never puts sample values back over a person's edits.
    The folder's `profiles.yaml` is imported first (profiles not in the database yet), so a
    vendor export there is read with its profile.

    None when records were already there. Checked and applied under the sync lock, so two
    servers starting at once load the samples once. Raises what `run_sync` raises.
    """
    with sync_lock(settings.PARTNERS_LOCK_TIMEOUT):
        if PartnerTier.objects.exists():
            return None
        _load_profiles(paths)
        return run_sync(paths, apply=True, source="cli")


def _load_profiles(paths: Sequence[str | Path] | None) -> None:
    folders = [Path(p) for p in paths or [settings.PARTNERS_INPUT_DIR] if Path(p).is_dir()]
    for folder in folders:
        path = folder / PROFILES_FILE
        if not path.is_file():
            continue
        try:
            found = profiles.import_yaml(path.read_text(encoding="utf-8"), path.name)
        except (OSError, UnicodeDecodeError, profiles.ProfileError) as exc:
            raise InputError(f"Failed to load {path.name}: {exc}") from None
        existing = set(ImportProfile.objects.values_list("name", flat=True))
        for profile in found:
            if profile.name not in existing:
                profiles.save(profile)
