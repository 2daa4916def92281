"""The partner-tier record's fields, said once. Every module that lists fields (model, rules,
loaders, SQL, store, API, exports, ledger) takes them from here, so a new field is one line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # as Django writes verbose names: lower case but for acronyms
    max_length: int = 0  # characters; 0 for the times
    required: bool = False
    time: bool = False


# The seed's order: the store, the API, exports and the ledger's JSON write records this way.
FIELDS = (
    Field("name", "name", 200, required=True),
    Field("tier", "tier", 100, required=True),
    Field("program", "program", 200, required=True),
    Field("oem", "OEM", 200, required=True),
    Field("poc", "POC", 200),
    Field("notes", "notes", 5000),
    Field("updated_at", "updated at", time=True),
    Field("created_at", "created at", time=True),
)

RECORD_FIELDS = tuple(f.name for f in FIELDS)
# What a sync compares and a person edits: every field but the times.
COMPARED = tuple(f.name for f in FIELDS if not f.time)
REQUIRED = tuple(f.name for f in FIELDS if f.required)
OPTIONAL = tuple(f.name for f in FIELDS if not f.required and not f.time)
TIMES = ("created_at", "updated_at")
MAX_LENGTH = {f.name: f.max_length for f in FIELDS if not f.time}
LABELS = {f.name: f.label for f in FIELDS}


def verbose_name(name: str) -> str | None:
    """The model field's verbose name: None where Django's own (the name, spaced) is the label,
    so the model's migrations do not change."""
    label = LABELS[name]
    return None if label == name.replace("_", " ") else label
