"""Spreadsheet formula escaping for everything the app lets people download.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return may run as a formula when
the file is opened in Excel or LibreOffice; a leading apostrophe makes it plain text.
django-import-export's own setting only strips a leading `=`.
"""

from __future__ import annotations

from typing import Any

import tablib

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def escape_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        escaped.append([escape_formula(value) for value in row])
    return escaped
