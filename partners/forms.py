"""Admin forms. Every rule comes from the engine; these only carry its answers to fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.template.defaultfilters import filesizeformat
from django.utils.text import capfirst
from import_export.forms import ImportForm, SelectableFieldsExportForm

from partners.models import ImportProfile, PartnerTier
from partners.records import COMPARED
from partners.sync import check_record


class PartnerTierForm(forms.ModelForm):
    class Meta:
        model = PartnerTier
        fields = list(COMPARED)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if any(name in self.errors for name in COMPARED):
            return data
        cleaned, problems = check_record(dict(data), self.instance.pk)
        for name, message in problems:
            self.add_error(name if name in self.fields else None, message)
        if not problems:
            data.update({name: cleaned[name] for name in COMPARED})
        return data


class UploadForm(ImportForm):
    """django-import-export's upload form, with the size limit checked before anything is
    read (PARTNERS_UPLOAD_MAX_BYTES)."""

    source = forms.CharField(
        required=False,
        max_length=200,
        label="Source",
        help_text="The name this file's source is remembered by (default: the file's name), "
        "e.g. cisco-portal for monthly exports under different names.",
    )
    overwrite = forms.BooleanField(
        required=False,
        label="The file's values win",
        help_text="Every field the file states replaces the database's, even a person's edit.",
    )
    sheet = forms.CharField(
        required=False,
        max_length=100,
        label="Sheet",
        help_text="XLSX: the sheet to read, by name or number (empty: the first sheet).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["import_file"].allow_empty_file = True  # said below, with the file's name

    def clean_import_file(self) -> Any:
        upload = self.cleaned_data["import_file"]
        if upload.size == 0:
            raise forms.ValidationError(f"{upload.name} is empty: there is nothing to import.")
        limit = settings.PARTNERS_UPLOAD_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name} is {filesizeformat(upload.size)}; "
                f"the limit is {filesizeformat(limit)}."
            )
        return upload


class ExportForm(SelectableFieldsExportForm):
    """The library's export form, its field boxes labelled with the model's verbose names
    ("OEM", "POC") instead of the field names title-cased ("Oem", "Poc"). The file's
    headers stay the input's column names, so an export reads back as an input."""

    def _get_field_label(self, resource: Any, field_name: str) -> str:
        try:
            field = resource._meta.model._meta.get_field(field_name)
        except FieldDoesNotExist:
            return super()._get_field_label(resource, field_name)
        return capfirst(str(field.verbose_name))


class ConfirmUploadForm(forms.Form):
    """What the preview page posts back: which upload (its row holds the rest of its state),
    and what the page showed (the data's fingerprint, the mapping's revision), so a stale
    preview is refused."""

    import_file_name = forms.CharField(widget=forms.HiddenInput, max_length=64)
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


class ConfirmFolderForm(forms.Form):
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    prune = forms.BooleanField(
        required=False,
        label="Also remove the missing records",
        help_text="Records in the database that no file in the data folder lists are deleted "
        "(at most PARTNERS_MAX_REMOVE, or a quarter of them).",
    )


class ImportProfileForm(forms.ModelForm):
    """A profile as the admin edits it. The lists' shapes are checked here, so the engine's
    profile rules (`ImportProfile.clean`, from partners.profiles) only ever see pairs of text."""

    class Meta:
        model = ImportProfile
        fields = ["name", "pattern", "sheet", "header_row", "delimiter"]
        fields += ["columns", "constants", "values"]
        help_texts = {
            "columns": 'The file\'s column → a field or "ignore", as JSON pairs: '
            '[["Partner Name", "name"], ["Country", "ignore"]]',
            "constants": 'A value for every row of a field the files lack: [["oem", "Cisco"]]',
            "values": 'Per field, a file\'s value → the value kept: [["tier", [["Gold Certified", '
            '"Gold"]]]]',
        }

    def clean_columns(self) -> Any:
        return _pairs(self.cleaned_data["columns"], "a column and its field")

    def clean_constants(self) -> Any:
        return _pairs(self.cleaned_data["constants"], "a field and its value")

    def clean_values(self) -> Any:
        values = self.cleaned_data["values"] or []
        if not isinstance(values, list) or not all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            for item in values
        ):
            raise forms.ValidationError("Expected [[field, [[from, to], ...]], ...].")
        for _, pairs in values:
            _pairs(pairs, "a value and its replacement")
        return values


def _pairs(value: Any, what: str) -> list[list[str]]:
    """A JSON list of two-text lists, else a form error saying the shape."""
    value = value or []
    if not isinstance(value, list) or not all(
        isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item)
        for item in value
    ):
        raise forms.ValidationError(f"Expected a list of pairs, each [{what}] as text.")
    return value
