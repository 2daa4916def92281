"""The catalog in the admin: programs with their ladder as an ordered inline, and OEM aliases.

A program saved here is written by the catalog's own `save_entry` with no catalog digest, so
`manage.py programs load` knows a person changed it and never overwrites it. The ladder is
checked by the catalog file's rules (`check_entry`): a tier listed twice, an alias that is
already a tier, are refused with the same words as in a file.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from partners.models import OemAlias, Program, ProgramTier
from partners.normalize import identity_key
from partners.programs import CatalogError, Entry, check_entry, save_entry

LAST = 1_000_000  # where a new row without a position goes: after every other


class ProgramForm(forms.ModelForm):
    class Meta:
        model = Program
        fields = ["oem", "program"]
        help_texts = {"program": "Empty: the OEM's default ladder, for its programs without one."}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        oem, program = data.get("oem"), data.get("program") or None
        if oem:
            others = Program.objects.filter(
                oem_key=identity_key(oem), program_key=identity_key(program or "")
            ).exclude(pk=self.instance.pk)
            if others.exists():
                what = f"{oem} {program}" if program else f"{oem}'s default ladder"
                raise forms.ValidationError(f"{what} is already in the catalog.")
        data["program"] = program
        return data


class LadderTierForm(forms.ModelForm):
    """One rung: its position (lowest first), its name and its other spellings."""

    spellings = forms.CharField(
        required=False,
        max_length=2000,
        label="aliases",
        help_text="Other spellings, comma-separated (gold partner, gold certified).",
    )

    class Meta:
        model = ProgramTier
        fields = ["position", "name", "spellings"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["position"].required = False
        self.fields["position"].help_text = "0 is the lowest; empty: after the others."
        if self.instance.pk:
            names = self.instance.aliases.order_by("id").values_list("alias", flat=True)
            self.initial["spellings"] = ", ".join(names)


class LadderFormSet(BaseInlineFormSet):
    """The rungs as one ladder: ordered by position, checked as the catalog file is, and
    kept as `entry` for `ProgramAdmin.save_related`."""

    entry: Entry | None = None

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or not self.instance.oem:
            return
        rows = []
        for index, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("name") and not data.get("DELETE"):
                position = data.get("position")
                rows.append((LAST if position is None else position, index, form))
        rows.sort(key=lambda row: row[:2])
        tiers = [form.cleaned_data["name"] for _, _, form in rows]
        aliases: dict[str, str] = {}
        for _, _, form in rows:
            name = form.cleaned_data["name"]
            for alias in filter(
                None, (a.strip() for a in form.cleaned_data["spellings"].split(","))
            ):
                if any(identity_key(alias) == identity_key(a) for a in aliases):
                    raise forms.ValidationError(f"The alias {alias!r} is listed twice.")
                aliases[alias] = name
        taken = {identity_key(t) for t in tiers} | {identity_key(a) for a in aliases}
        for _, _, form in rows:
            # A renamed tier keeps its old name as an alias, as `rename_tier` does: records
            # and history that still say the old name keep their rank.
            old = form.initial.get("name") if form.instance.pk else None
            if old and identity_key(old) not in taken:
                aliases[old] = form.cleaned_data["name"]
                taken.add(identity_key(old))
        program = self.instance
        if not tiers:
            self.entry = Entry(program.oem, program.program or None, ())
            return
        raw = {"oem": program.oem, "program": program.program, "tiers": tiers, "aliases": aliases}
        try:
            self.entry = check_entry(raw, "The ladder")
        except CatalogError as exc:
            raise forms.ValidationError(str(exc)) from None


class LadderInline(admin.TabularInline):
    model = ProgramTier
    form = LadderTierForm
    formset = LadderFormSet
    extra = 1
    verbose_name = "tier"
    verbose_name_plural = "ladder (lowest first)"

    @admin.display(description="aliases")
    def spellings(self, tier: ProgramTier) -> str:
        """The aliases as a viewer sees them (the form's field for those who may change)."""
        return ", ".join(tier.aliases.order_by("id").values_list("alias", flat=True))

    # The rungs are part of their program: whoever may change the program may change them.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = request.user
        return user.has_perm("partners.view_program") or user.has_perm("partners.change_program")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _may_edit(request, obj)


def _may_edit(request: HttpRequest, program: Any) -> bool:
    return request.user.has_perm(
        "partners.add_program" if program is None else "partners.change_program"
    )


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    form = ProgramForm
    inlines = [LadderInline]
    list_display = ["oem", "program_name", "ladder", "by_a_person"]
    search_fields = ["oem", "program"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description="program", ordering="program_key")
    def program_name(self, program: Program) -> str:
        return program.program or "(default ladder)"

    @admin.display(description="ladder, lowest first")
    def ladder(self, program: Program) -> str:
        return " < ".join(tier.name for tier in program.tiers.all()) or "(none)"

    @admin.display(description="changed by a person", boolean=True)
    def by_a_person(self, program: Program) -> bool:
        """The loader leaves such a program alone (see `load_shipped`)."""
        return not program.catalog_digest

    def save_model(self, request: HttpRequest, obj: Program, form: Any, change: bool) -> None:
        obj.catalog_digest = ""  # a person's: `programs load` never overwrites it
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        form.save_m2m()
        for formset in formsets:
            if isinstance(formset, LadderFormSet) and formset.entry is not None:
                save_entry(formset.entry)  # the catalog's write: ladder and aliases at once
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            else:
                self.save_formset(request, form, formset, change)


@admin.register(OemAlias)
class OemAliasAdmin(admin.ModelAdmin):
    """Other spellings of OEMs (`Cisco Systems` → Cisco), read by every sync."""

    list_display = ["alias", "oem"]
    search_fields = ["alias", "oem"]
    fields = ["alias", "oem"]
