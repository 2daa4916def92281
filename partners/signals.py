"""Any committed change to a partner tier through the ORM (admin edit, delete, import)
rewrites the store once its transaction commits. The engine writes the store itself."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from partners.models import PartnerTier
from partners.store import refresh_store


def _already_scheduled() -> bool:
    # Optimization: deleting 500 rows in one admin action schedules one rewrite, not 500.
    return any(entry[1] is refresh_store for entry in connection.run_on_commit)


@receiver(post_save, sender=PartnerTier)
@receiver(post_delete, sender=PartnerTier)
def schedule_store_refresh(**kwargs: object) -> None:
    if not _already_scheduled():
        transaction.on_commit(refresh_store)
