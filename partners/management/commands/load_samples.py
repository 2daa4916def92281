"""`manage.py load_samples`: the sample data for `make run`, loaded into an empty database only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from partners.management.failure import SYNC_FAILURES, sync_failure


class Command(BaseCommand):
    help = (
        "Apply the partner tier files in PARTNERS_INPUT_DIR when the database holds no partner "
        "tiers; otherwise change nothing (sync_partners --apply loads them anyway). Exit codes "
        "as sync_partners."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        from partners.management.commands.sync_partners import plural
        from partners.models import PartnerTier
        from partners.samples import load_samples

        try:
            result = load_samples()
        except SYNC_FAILURES as exc:
            detail, _, code = sync_failure(exc)
            raise CommandError(detail, returncode=code) from None
        if result is None:
            held = plural(PartnerTier.objects.count(), "partner tier")
            self.stdout.write(
                f"Samples not loaded: the database already holds {held} "
                "(manage.py sync_partners --apply loads the files anyway)."
            )
            return
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if not result.ok:
            for error in result.errors:
                self.stderr.write(self.style.ERROR(str(error)))
            raise CommandError(f"{result.error_message}; nothing was written", returncode=1)
        files = ", ".join(str(source["path"]) for source in result.sources)
        added = plural(result.summary["added"], "sample partner tier")
        self.stdout.write(f"Loaded {added} from {files} into the empty database.")
