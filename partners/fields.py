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


def header_key(label: object) -> str:
    """A header cell as matched: case, spaces and punctuation ignored ("Partner-Name " and
    "partner name" are one column), so a person's spelling of a header never matters."""
    return "".join(char for char in str(label).casefold() if char.isalnum())


# Headers vendor portals and spreadsheets use for our fields. No guessing beyond this list:
# each one used is named in a warning ("read 'Partner Level' as tier").
SYNONYMS = {
    "name": ("Partner Name", "Company", "Account Name"),
    "tier": ("Partner Level", "Level", "Partner Tier"),
    "program": ("Partner Program",),
    "oem": ("Vendor", "Manufacturer"),
    "poc": ("Contact", "Primary Contact", "Partner Manager"),
    "notes": ("Comments",),
}
# header_key → field, for the fields' own names and their synonyms.
FIELD_NAMES = {header_key(name): name for name in RECORD_FIELDS}
SYNONYM_FIELDS = {header_key(s): name for name, found in SYNONYMS.items() for s in found}
