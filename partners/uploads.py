"""Where an admin upload waits between its preview and its confirm: the database.

A django-import-export temporary storage (`IMPORT_EXPORT_TMP_STORAGE_CLASS`), so the library's
own flow can use it too. Every server process sees the same rows, which a temp folder or a
per-process cache would not give.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone
from import_export.tmp_storages import BaseStorage

from partners.models import Upload

EXPIRY = timedelta(hours=24)


class DatabaseStorage(BaseStorage):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name: str | None = kwargs.get("name")
        self.user = kwargs.get("user")

    def save(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode(self.encoding or "utf-8")
        discard_expired()
        self.name = self.name or secrets.token_urlsafe(24)
        user = self.user if getattr(self.user, "pk", None) else None
        Upload.objects.update_or_create(name=self.name, defaults={"data": data, "user": user})

    def read(self) -> bytes | str:
        """The upload's bytes; Upload.DoesNotExist when confirmed, expired or not this user's."""
        uploads = Upload.objects.filter(name=self.name, created_at__gte=timezone.now() - EXPIRY)
        if getattr(self.user, "pk", None):
            uploads = uploads.filter(user=self.user)
        data = bytes(uploads.values_list("data", flat=True).get())
        return data if "b" in self.read_mode else data.decode(self.encoding or "utf-8")

    def remove(self) -> None:
        Upload.objects.filter(name=self.name).delete()


def discard_expired() -> int:
    return Upload.objects.filter(created_at__lt=timezone.now() - EXPIRY).delete()[0]
