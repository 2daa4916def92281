from __future__ import annotations

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner tiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from partners import signals  # noqa: F401 - connects the receivers
