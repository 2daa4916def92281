"""Spreadsheet formula escaping for everything the app lets people download, and its undoing
for what people upload.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return may run as a formula when
the file is opened in Excel or LibreOffice; a leading apostrophe makes it plain text.
django-import-export's own setting only strips a leading `=`.

The escape is exactly reversible, so an export imports back unchanged: a value whose
apostrophes are followed by a formula start (`'=x`, typed by a person) gets one more
apostrophe too, and an import removes exactly one from such values.
"""

from __future__ import annotations

from typing import Any

import tablib

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_formula(value: Any) -> Any:
    """The inverse of `escape_formula`: only an apostrophe that it could have added goes."""
    if isinstance(value, str) and value[:1] == "'" and value.lstrip("'").startswith(FORMULA_STARTS):
        return value[1:]
    return value


def unescape_column(values: list[str]) -> list[str]:
    """`unescape_formula` over a CSV column of strings (no NUL in them: the loader refuses it).

    Optimization: one C-speed search tells whether any value starts with an apostrophe; a
    100,000-row column without one costs a join, not 100,000 calls.
    """
    if "\x00'" not in "\x00" + "\x00".join(values):
        return values
    return [unescape_formula(value) for value in values]


def escape_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        escaped.append([escape_formula(value) for value in row])
    return escaped
