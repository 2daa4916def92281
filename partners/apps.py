from __future__ import annotations

import gc
from typing import Any

from django.apps import AppConfig
from django.core import checks


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner tiers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_xlsx_parser_is_defused, checks.Tags.security)
        # Start-up is over (manage.py paused the collector for it): what it made lives as long
        # as the process, so it is frozen out of later collections, then collecting resumes.
        gc.freeze()
        gc.enable()


def check_xlsx_parser_is_defused(**kwargs: Any) -> list[checks.CheckMessage]:
    """Uploaded XLSX files are XML: without defusedxml, openpyxl would expand entity bombs
    (billion laughs). Runs with the server's start-up checks, not with every command."""
    from openpyxl.xml import DEFUSEDXML

    if DEFUSEDXML:
        return []
    return [
        checks.Error(
            "openpyxl is not using defusedxml; uploaded XLSX files could expand XML bombs.",
            hint="pip install defusedxml",
            id="partners.E001",
        )
    ]
