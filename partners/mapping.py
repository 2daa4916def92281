"""The admin upload's mapping step: a file whose columns do not all map, and that no profile
matches, is shown column by column (with its first values) to be mapped to fields or
ignored, with constants for the fields it lacks; the result is an import profile, used for
this upload's preview and, saved, for the source's later files.

Every rule is the engine's: columns and samples from `loaders.read_columns` (the sync's own
header search), suggestions from `profiles.suggest_mapping` (the one synonym list), the
profile checked by `profiles.problems`.
"""

from __future__ import annotations

from typing import Any

from django import forms

from partners.fields import COMPARED, LABELS, MAX_LENGTH, REQUIRED
from partners.loaders import Columns
from partners.models import ImportProfile
from partners.profiles import (
    IGNORE,
    NAME_LENGTH,
    Profile,
    model_fields,
    parse_sheet,
    suggest_mapping,
)

MAX_COLUMNS = 100  # a file wider than this is previewed as it is: nobody maps 10,000 columns


def needs_mapping(columns: Columns) -> bool:
    """Whether a file cannot be read as it is: a column maps to no field, or a required
    field is in no column. Past MAX_COLUMNS, never (the preview says what is wrong)."""
    if len([label for label in columns.labels if label]) > MAX_COLUMNS:
        return False
    suggested = suggest_mapping(columns.labels)
    found = {target for target in suggested.values() if target}
    return None in suggested.values() or not set(REQUIRED) <= found


def snapshot(profile: Profile) -> dict[str, Any]:
    """A profile as an upload row keeps it (`Upload.mapping`): the ImportProfile's fields."""
    return {"name": profile.name, **model_fields(profile)}


def from_snapshot(mapping: dict[str, Any]) -> Profile:
    profile: Profile = ImportProfile(**mapping).to_profile()
    return profile


class MappingForm(forms.Form):
    """One choice per column of the file (a field, or ignore), suggested from its header; a
    constant per field the suggestion leaves without a column; a name and pattern to save
    the mapping as a profile."""

    profile_name = forms.CharField(
        required=False,
        max_length=NAME_LENGTH,
        label="Profile name",
        help_text="The source name of this vendor's files, e.g. cisco-portal.",
    )
    pattern = forms.CharField(
        required=False,
        max_length=200,
        label="File-name pattern",
        help_text="Later files whose names match use the profile, e.g. cisco_*.xlsx "
        "(files with these same columns do anyway).",
    )

    def __init__(self, columns: Columns, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.labels = [label for label in columns.labels if label]
        suggested = suggest_mapping(self.labels)
        choices = [(name, LABELS[name]) for name in COMPARED] + [(IGNORE, "(ignore)")]
        self.columns = []
        for at, label in enumerate(self.labels):
            key = f"column_{at}"
            self.fields[key] = forms.ChoiceField(
                choices=choices, initial=suggested.get(label) or IGNORE, label=label
            )
            self.columns.append((self[key], columns.samples.get(label, [])))
        lacking = [name for name in COMPARED if name not in suggested.values()]
        self.constants = []
        for name in lacking:
            key = f"constant_{name}"
            self.fields[key] = forms.CharField(
                required=False, max_length=MAX_LENGTH[name], label=f"Every row's {LABELS[name]}"
            )
            self.constants.append(self[key])

    def profile(self, name: str, sheet: str) -> Profile:
        """The mapping as a profile named `name` (checked by the caller, with the engine's
        rules)."""
        data = self.cleaned_data
        columns = tuple((label, data[f"column_{at}"]) for at, label in enumerate(self.labels))
        constants = tuple(
            (field.name[len("constant_") :], value)
            for field in self.constants
            if (value := (data.get(field.name) or "").strip())
        )
        return Profile(
            name=name,
            pattern=(data.get("pattern") or "").strip(),
            sheet=parse_sheet(sheet),
            columns=columns,
            constants=constants,
        )
