#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks."""

import gc
import os
import sys


def main() -> None:
    # Optimization: Django's start-up makes tens of thousands of objects that live as long as
    # the process; collecting cycles among them costs a tenth of a second per command.
    # PartnersConfig.ready() turns the collector back on once the apps are loaded.
    gc.disable()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnersite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
