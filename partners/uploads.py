"""Where an admin upload waits between its preview and its confirm: the database.

A django-import-export temporary storage (`IMPORT_EXPORT_TMP_STORAGE_CLASS`), so the library's
own flow can use it too. Every server process sees the same rows, which a temp folder or a
per-process cache would not give. Only previews that can be confirmed are stored, within a
quota per user and in total (PARTNERS_UPLOADS_PER_USER, PARTNERS_UPLOADS_MAX_TOTAL_BYTES).

The row also holds the upload's state between its steps (original name, format, source name,
overwrite): the preview, its changes CSV and its confirm all read it from there, so no step
depends on what a form or a link carried back.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Length
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from import_export.tmp_storages import BaseStorage

from partners.loaders import LoadedFile, Reading, load_bytes
from partners.mapping import from_snapshot
from partners.models import Upload
from partners.profiles import parse_sheet

EXPIRY = timedelta(hours=24)
QUOTA_LOCK_KEY = 0x7061_7274_7570  # PostgreSQL advisory lock: one quota check at a time


class UploadRefused(Exception):
    """Storing this upload would pass the total quota, even after dropping the user's own
    older uploads; nothing was stored."""


class DatabaseStorage(BaseStorage):
    """`state`: the upload's other fields (original_name, format, source_name, overwrite)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name: str | None = kwargs.get("name")
        self.user = kwargs.get("user")
        self.state: dict[str, Any] = kwargs.get("state") or {}

    def save(self, data: bytes | str) -> None:
        """Store `data`, making room first: the user's oldest pending uploads are dropped
        to stay within the quotas; UploadRefused when other users' uploads fill the total."""
        if isinstance(data, str):
            data = data.encode(self.encoding or "utf-8")
        self.name = self.name or secrets.token_urlsafe(24)
        user = self.user if getattr(self.user, "pk", None) else None
        with transaction.atomic():
            _one_at_a_time()
            discard_expired()
            _make_room(user, len(data), keep=self.name)
            Upload.objects.update_or_create(
                name=self.name, defaults={"data": data, "user": user, **self.state}
            )

    def read(self) -> bytes | str:
        """The upload's bytes; Upload.DoesNotExist when confirmed, expired or not this user's."""
        data = bytes(_pending(self.name or "", self.user).values_list("data", flat=True).get())
        return data if "b" in self.read_mode else data.decode(self.encoding or "utf-8")

    def remove(self) -> None:
        Upload.objects.filter(name=self.name).delete()


def pending(name: str, user: Any) -> Upload:
    """The upload `name` waiting for `user`'s confirm, with its state; Upload.DoesNotExist
    when it was confirmed, has expired or is someone else's."""
    return _pending(name, user).get()


def load_upload(upload: Upload) -> LoadedFile:
    """The stored file read as it was previewed: by its original name and chosen format (a
    `portal.txt` uploaded as CSV stays CSV), its sheet and its mapping. LoadError as
    `load_bytes`."""
    data = bytes(upload.data)
    return load_bytes(data, upload.original_name, upload.format or None, reading=reading(upload))


def reading(upload: Upload) -> Reading:
    """How the upload is read: its mapping (a profile) and the sheet chosen on upload."""
    profile = from_snapshot(upload.mapping) if upload.mapping else None
    return Reading(profile=profile, sheet=parse_sheet(upload.sheet))


def _pending(name: str, user: Any) -> Any:
    uploads = Upload.objects.filter(name=name, created_at__gte=timezone.now() - EXPIRY)
    if getattr(user, "pk", None):
        uploads = uploads.filter(user=user)
    return uploads


def discard_expired() -> int:
    return Upload.objects.filter(created_at__lt=timezone.now() - EXPIRY).delete()[0]


def _one_at_a_time() -> None:
    """Serialize quota checks across server processes. SQLite's transactions already are
    (BEGIN IMMEDIATE); PostgreSQL gets a transaction-scoped advisory lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [QUOTA_LOCK_KEY])


def _make_room(user: Any, size: int, keep: str) -> None:
    """Drop the user's oldest pending uploads until one more of `size` bytes fits. Other
    users' uploads are never dropped: one person must not cancel another's preview."""
    per_user = settings.PARTNERS_UPLOADS_PER_USER
    limit = settings.PARTNERS_UPLOADS_MAX_TOTAL_BYTES
    others = Upload.objects.exclude(name=keep)
    mine = list(
        others.filter(user=user)
        .order_by("created_at", "pk")
        .annotate(size=Length("data"))
        .values_list("pk", "size")
    )
    total = others.aggregate(total=Sum(Length("data")))["total"] or 0
    dropped: list[int] = []
    while mine and (len(mine) + 1 > per_user or total + size > limit):
        pk, old_size = mine.pop(0)
        dropped.append(pk)
        total -= old_size
    if total + size > limit:
        raise UploadRefused(
            f"The server already holds {filesizeformat(total)} of uploads waiting for "
            f"confirmation (the limit is {filesizeformat(limit)}); nothing was stored. "
            "Try again when other previews have been confirmed or have expired."
        )
    Upload.objects.filter(pk__in=dropped).delete()
