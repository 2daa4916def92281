"""The admin: a door onto the engine. Uploads and folder syncs are previewed with the
engine's dry run and confirmed with its apply; nothing here classifies or writes rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV, JSON, XLSX, YAML

from partners import admin_profiles  # noqa: F401  (registers ImportProfileAdmin)
from partners.edits import delete_records, save_record
from partners.exporting import escape_dataset
from partners.fields import MAX_LENGTH
from partners.forms import (
    ConfirmFolderForm,
    ConfirmUploadForm,
    ExportForm,
    PartnerTierForm,
    UploadForm,
)
from partners.ledger import field_rows
from partners.loaders import Columns, LoadedFile, LoadError, Reading, load_bytes, read_columns
from partners.mapping import MappingForm, needs_mapping, snapshot
from partners.models import ApiToken, ImportProfile, LedgerEntry, PartnerTier, SyncRun, Upload
from partners.normalize import clean, identity_key
from partners.obsidian import OEM_FOLDER, VaultError, export_obsidian, vault_root
from partners.preview import changes_csv, preview
from partners.profiles import match_profile, parse_sheet, problems
from partners.profiles import save as save_profile
from partners.programs import load_catalog, save_oem_aliases
from partners.ranking import rank_expression
from partners.records import COMPARED
from partners.report import ReportError, as_csv, period, summarize, tier_changes
from partners.resources import PartnerTierResource
from partners.revert import RevertConflicts, RevertError, revert_run
from partners.sync import (
    InputError,
    StaleState,
    StoreError,
    SyncBusy,
    SyncResult,
    display_path,
    run_sync,
)
from partners.tokens import create_token, revoke
from partners.uploads import DatabaseStorage, UploadRefused, load_upload, pending, reading

ENGINE_FORMATS = {CSV: "csv", JSON: "json", XLSX: "xlsx", YAML: "yaml"}
SPREADSHEET_FORMATS = (CSV, XLSX)
WEB_LOCK_TIMEOUT = 10.0  # seconds a request waits for another sync before giving up
PREVIEW_ROWS = 200  # rows per list on a revert's preview


class ProgramFilter(admin.SimpleListFilter):
    """The programs of the OEM chosen in the OEM filter (every program when none is)."""

    title = "program"
    parameter_name = "program"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        rows = PartnerTier.objects.all()
        if oem := request.GET.get("oem"):
            rows = rows.filter(oem=oem)
        programs = rows.order_by("program").values_list("program", flat=True).distinct()
        return [(program, program) for program in programs]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(program=value) if value else queryset


@admin.register(PartnerTier)
class PartnerTierAdmin(ImportExportModelAdmin):
    """Partner tiers by OEM, then by rank on their ladder (highest first; unranked tiers
    last), then by name: see `partners.ranking` for why the rank is an expression."""

    form = PartnerTierForm
    list_display = ["name", "oem", "tier_on_ladder", "program", "poc", "updated_at"]
    list_filter = ["oem", "tier", ProgramFilter]
    search_fields = ["name", "program", "poc", "notes"]
    ordering = ["oem", "name"]  # with the rank between them: see `get_ordering`
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 100

    actions = ["export_to_obsidian"]
    resource_classes = [PartnerTierResource]
    import_form_class = UploadForm
    export_form_class = ExportForm
    import_formats = list(ENGINE_FORMATS)
    export_formats = [CSV, JSON, XLSX]
    import_template_name = "admin/partners/partnertier/import.html"
    import_export_change_list_template = "admin/partners/partnertier/change_list.html"

    def get_urls(self) -> list[Any]:
        prefix = "{}_{}".format(*self.get_model_info())
        wrap = self.admin_site.admin_view
        return [
            path(
                "import/changes.csv",
                wrap(self.upload_changes_csv),
                name=f"{prefix}_import_changes",
            ),
            path("import/mapping/", wrap(self.mapping_view), name=f"{prefix}_import_mapping"),
            path("sync-folder/", wrap(self.sync_folder), name=f"{prefix}_sync_folder"),
            path("ladder/", wrap(self.ladder_view), name=f"{prefix}_ladder"),
            path("add-oem-alias/", wrap(self.add_oem_alias), name=f"{prefix}_add_oem_alias"),
            path(
                "export-obsidian/",
                wrap(self.export_obsidian_view),
                name=f"{prefix}_export_obsidian",
            ),
            path(
                "sync-folder/changes.csv",
                wrap(self.folder_changes_csv),
                name=f"{prefix}_sync_folder_changes",
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(tier_rank=rank_expression(load_catalog()))

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        # Not in `ordering`: the system check takes an F() there for a model field.
        return ["oem", F("tier_rank").desc(nulls_last=True), "name"]

    @admin.display(description="tier", ordering=F("tier_rank").desc(nulls_last=True))
    def tier_on_ladder(self, record: PartnerTier) -> str:
        return record.tier

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "tier" in form.base_fields:
            attrs = form.base_fields["tier"].widget.attrs
            attrs["data-ladder-url"] = self._url("ladder")
            attrs["autocomplete"] = "off"
        return form

    class Media:
        js = ["partners/ladder.js"]

    def ladder_view(self, request: HttpRequest) -> JsonResponse:
        """The ladder of an OEM and program as the change form offers it (lowest first), and
        the engine's warning for the tier typed when it is off that ladder. Reads only."""
        if not (
            self.has_view_permission(request)
            or self.has_add_permission(request)
            or self.has_change_permission(request)
        ):
            raise PermissionDenied
        catalog = load_catalog()
        given = {
            name: clean(request.GET.get(name, "")[: MAX_LENGTH[name]]) or ""
            for name in ("oem", "program", "tier")
        }
        aliases = catalog.alias_map(settings.PARTNERS_OEM_ALIASES)
        oem = aliases.get(identity_key(given["oem"]), given["oem"]) if given["oem"] else ""
        program = given["program"] or None
        tiers = list(catalog.ladder(oem, program) or ()) if oem else []
        tier = catalog.spell(oem, program, given["tier"]) if oem and given["tier"] else ""
        warning = catalog.off_ladder(oem, program, tier) if tier else None
        return JsonResponse(
            {"oem": oem, "program": program, "tiers": tiers, "tier": tier, "warning": warning}
        )

    @method_decorator(require_POST)
    def add_oem_alias(self, request: HttpRequest) -> HttpResponse:
        """From a preview's near-duplicate warning: read `alias` as the OEM `oem` from now
        on (the catalog's OEM aliases), so the next preview spells it as that OEM."""
        if not request.user.has_perm("partners.add_oemalias"):
            raise PermissionDenied
        alias = clean(request.POST.get("alias", "")[: MAX_LENGTH["oem"]]) or ""
        oem = clean(request.POST.get("oem", "")[: MAX_LENGTH["oem"]]) or ""
        if not alias or not oem or identity_key(alias) == identity_key(oem):
            messages.error(request, "Nothing was added: an alias needs two different spellings.")
        else:
            save_oem_aliases({alias: oem})
            messages.success(
                request,
                f"{alias!r} is now read as {oem!r}. Upload the file again to preview it so.",
            )
        return HttpResponseRedirect(self._url("import"))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra_context = {**(extra_context or {}), "has_sync_permission": self.can_sync(request)}
        return super().changelist_view(request, extra_context)

    def can_sync(self, request: HttpRequest) -> bool:
        return self.has_import_permission(request)

    # A person's add, change and delete: the engine's write path (partners.edits), so each is
    # a run with ledger entries and rewrites the store. Not inside the admin's own transaction:
    # the write takes the sync lock, commits with its run, then writes the store and the vault.

    @method_decorator(csrf_protect)
    def changeform_view(
        self, request: HttpRequest, object_id: Any = None, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        return self._changeform_view(request, object_id, form_url, extra_context)

    @method_decorator(csrf_protect)
    def delete_view(self, request: HttpRequest, object_id: Any, extra_context=None) -> Any:
        return self._delete_view(request, object_id, extra_context)

    def save_model(self, request: HttpRequest, obj: PartnerTier, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data.get(name) for name in COMPARED}
        result = self._write(request, save_record, values, pk=obj.pk if change else None)
        if result is not None and not change:
            obj.pk = PartnerTier.objects.values_list("pk", flat=True).get(
                oem_key=identity_key(result.plan.added[0].oem),
                name_key=identity_key(result.plan.added[0].name),
            )

    def delete_model(self, request: HttpRequest, obj: PartnerTier) -> None:
        self._write(request, delete_records, [obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        self._write(request, delete_records, list(queryset.values_list("pk", flat=True)))

    def _write(self, request: HttpRequest, write: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an edit; when it could not be written, say why and mark the request so the
        admin does not claim success (see `response_add`/`response_change`)."""
        try:
            result = write(*args, user=request.user, **kwargs)
        except (SyncBusy, StaleState) as exc:
            failure = f"Nothing was saved: {exc}"
        except StoreError as exc:
            messages.warning(request, f"The change was saved, but {exc}")
            return None
        else:
            if result.applied:
                for warning in result.warnings:
                    messages.warning(request, warning)
                return result
            failure = f"Nothing was saved: {result.error_message}"
        request._partners_write_failed = True  # type: ignore[attr-defined]
        messages.error(request, failure)
        return None

    object_history_template = "admin/partners/partnertier/object_history.html"

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> Any:
        """The record's ledger entries, whoever made them: syncs, edits, reverts."""
        entries = LedgerEntry.objects.filter(record_id=_int(object_id))
        context = ledger_page(request, entries, "No change of this record is in the ledger.")
        return super().history_view(request, object_id, {**context, **(extra_context or {})})

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        if getattr(request, "_partners_write_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> Any:
        if getattr(request, "_partners_write_failed", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_partners_write_failed", False):
            return None
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_partners_write_failed", False):
            return None
        return super().log_change(request, obj, message)

    # Upload: preview (import_action) → confirm (process_import).

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        if request.method == "POST" and form.is_valid():
            file = form.cleaned_data["import_file"]
            data = b"".join(file.chunks())
            fmt = ENGINE_FORMATS[self.get_import_formats()[int(form.cleaned_data["format"])]]
            upload = Upload(
                original_name=file.name,
                format=fmt,
                source_name=form.cleaned_data.get("source") or "",
                overwrite=bool(form.cleaned_data.get("overwrite")),
                sheet=form.cleaned_data.get("sheet") or "",
            )
            try:
                columns = self._match_profile(upload, data)
            except LoadError as exc:
                form.add_error("import_file", str(exc))
            else:
                if columns is not None and upload.mapping is None and needs_mapping(columns):
                    # Mapped before previewed: the file waits on its row for the mapping.
                    if self._store(request, form, upload, data):
                        return HttpResponseRedirect(self._mapping_url(upload))
                else:
                    return self._preview_upload(request, upload, data, form=form)
        return self._render_preview(request, {}, form=form, title="Import partner tiers")

    def _match_profile(self, upload: Upload, data: bytes) -> Columns | None:
        """A spreadsheet's columns (None for JSON and YAML, whose records name their fields);
        when a profile matches them or the file's name, it is set as the upload's mapping."""
        if upload.format not in ("csv", "xlsx"):
            return None
        columns = read_columns(data, upload.original_name, upload.format, reading(upload))
        profile = match_profile(columns.labels, upload.original_name)
        if profile is not None:
            upload.mapping, upload.profile_name = snapshot(profile), profile.name
        return columns

    def _preview_upload(
        self,
        request: HttpRequest,
        upload: Upload,
        data: bytes,
        form: Any = None,
        mapping_form: MappingForm | None = None,
    ) -> HttpResponse:
        """The preview of an upload read as its row says; a preview that can be confirmed
        keeps the file (a stored upload is kept either way, for its mapping)."""
        context: dict[str, Any] = {
            "upload": upload,
            "mapping_form": mapping_form,
            "can_save_profile": request.user.has_perm("partners.add_importprofile"),
        }
        try:
            loaded = load_bytes(data, upload.original_name, upload.format, reading=reading(upload))
        except LoadError as exc:
            if form is not None:
                form.add_error("import_file", str(exc))
            else:
                context["load_error"] = str(exc)
        else:
            result = _dry_run(loaded, upload)
            context.update(preview(result))
            context.update(_near_spellings(request, result))
            if result.ok and (upload.pk or self._store(request, form, upload, data)):
                initial = {
                    "import_file_name": upload.name,
                    "fingerprint": result.fingerprint,
                    "revision": upload.revision,
                }
                context.update(
                    upload_name=upload.name, confirm_form=ConfirmUploadForm(initial=initial)
                )
        return self._render_preview(request, context, form=form, title="Import partner tiers")

    def _store(self, request: HttpRequest, form: Any, upload: Upload, data: bytes) -> bool:
        """Store the upload and its state for the next steps (within the quotas; a form
        error when they are full)."""
        state = {
            name: getattr(upload, name)
            for name in ("original_name", "format", "source_name", "overwrite", "sheet")
        }
        state.update(mapping=upload.mapping, profile_name=upload.profile_name)
        storage = DatabaseStorage(user=request.user, read_mode="rb", state=state)
        try:
            storage.save(data)
        except UploadRefused as exc:
            form.add_error("import_file", str(exc))
            return False
        stored = Upload.objects.get(name=storage.name)
        upload.pk, upload.name = stored.pk, stored.name
        return True

    def mapping_view(self, request: HttpRequest) -> HttpResponse:
        """The mapping step of a stored upload: GET shows it; POST previews the mapping, and
        with "save" also saves it as a profile (the profile add permission)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        stored = self._pending(request, request.POST.get("upload") or request.GET.get("upload"))
        if stored is None:
            return HttpResponseRedirect(self._url("import"))
        upload = stored
        data = bytes(upload.data)
        try:
            columns = read_columns(
                data, upload.original_name, upload.format, Reading(sheet=parse_sheet(upload.sheet))
            )
        except LoadError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._url("import"))
        can_save = request.user.has_perm("partners.add_importprofile")
        if request.method != "POST":
            form = MappingForm(columns, initial={"profile_name": upload.source_name})
            return self._render_mapping(request, upload, form, columns, can_save)
        form = MappingForm(columns, request.POST)
        save = "save" in request.POST
        if save and not can_save:
            raise PermissionDenied
        if not form.is_valid():
            return self._render_mapping(request, upload, form, columns, can_save)
        name = form.cleaned_data["profile_name"].strip() if save else ""
        profile = form.profile(name or upload.source_name or upload.original_name, upload.sheet)
        if save and not name:
            form.add_error("profile_name", "Name the profile to save it.")
        elif save and ImportProfile.objects.filter(name=name).exists():
            form.add_error(
                "profile_name",
                f"A profile named {name!r} exists; choose another name, or edit it under "
                "Import profiles.",
            )
        for _key, message in problems(profile):
            form.add_error(None, message)
        if form.errors:
            return self._render_mapping(request, upload, form, columns, can_save)
        if save:
            save_profile(profile)
            messages.success(request, f"Saved the profile {profile.name!r}.")
        upload.mapping = snapshot(profile)
        upload.profile_name = profile.name if save else ""
        upload.revision += 1
        upload.save(update_fields=["mapping", "profile_name", "revision"])
        return self._preview_upload(request, upload, data, mapping_form=None if save else form)

    def _render_mapping(
        self,
        request: HttpRequest,
        upload: Upload,
        form: MappingForm,
        columns: Columns,
        can_save: bool,
    ) -> HttpResponse:
        context = {
            "upload": upload,
            "mapping_form": form,
            "can_save_profile": can_save,
            "mapping_warnings": columns.warnings,
        }
        return self._render_preview(request, context, title="Map the file's columns")

    def _mapping_url(self, upload: Upload) -> str:
        return f"{self._url('import_mapping')}?{urlencode({'upload': upload.name})}"

    @method_decorator(require_POST)
    def process_import(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ConfirmUploadForm(request.POST)
        again = self._url("import")
        if not form.is_valid():
            messages.error(request, "The confirmation was incomplete; upload the file again.")
            return HttpResponseRedirect(again)
        stored = self._stored_upload(request, form.cleaned_data["import_file_name"])
        if stored is None:
            return HttpResponseRedirect(again)
        upload, loaded = stored
        if form.cleaned_data["revision"] != upload.revision:
            messages.error(
                request,
                "This upload was mapped again after that preview; confirm its latest preview.",
            )
            return HttpResponseRedirect(self._mapping_url(upload))
        result = self._apply(
            request,
            files=[loaded],
            fingerprint=form.cleaned_data["fingerprint"],
            source_name=upload.source_name or None,
            overwrite=upload.overwrite,
        )
        upload.delete()
        return HttpResponseRedirect(self._url("changelist") if result else again)

    def upload_changes_csv(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_import_permission(request):
            raise PermissionDenied
        stored = self._stored_upload(request, request.GET.get("upload", ""))
        if stored is None:
            return HttpResponseRedirect(self._url("import"))
        # The preview's own options, from the upload's row: the download lists what it showed.
        return _csv_response(_dry_run(stored[1], stored[0]), "changes.csv")

    def _stored_upload(self, request: HttpRequest, name: str) -> tuple[Upload, LoadedFile] | None:
        """The user's pending upload and its file, read as its preview read it; None (with a
        message) when it is gone or no longer loads."""
        upload = self._pending(request, name)
        if upload is None:
            return None
        try:
            return upload, load_upload(upload)
        except LoadError as exc:
            messages.error(request, str(exc))
            return None

    def _pending(self, request: HttpRequest, name: str | None) -> Upload | None:
        try:
            return pending(name or "", request.user)
        except Upload.DoesNotExist:
            messages.error(
                request, "This upload expired or was already confirmed; upload the file again."
            )
            return None

    # Sync from PARTNERS_INPUT_DIR: the same preview, then apply (optionally pruning).

    def sync_folder(self, request: HttpRequest) -> HttpResponse:
        if not self.can_sync(request):
            raise PermissionDenied
        if request.method == "POST":
            form = ConfirmFolderForm(request.POST)
            if not form.is_valid():
                messages.error(request, "The confirmation was incomplete; preview again.")
                return HttpResponseRedirect(self._url("sync_folder"))
            result = self._apply(
                request,
                files=None,
                fingerprint=form.cleaned_data["fingerprint"],
                prune=form.cleaned_data["prune"],
            )
            return HttpResponseRedirect(self._url("changelist" if result else "sync_folder"))
        try:
            result = run_sync()
        except (InputError, LoadError) as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._url("changelist"))
        context = preview(result)
        context.update(_near_spellings(request, result))
        context["folder"] = True
        context["folder_path"] = display_path(Path(settings.PARTNERS_INPUT_DIR))
        if result.ok:
            form = ConfirmFolderForm(initial={"fingerprint": result.fingerprint})
            count = result.summary["missing"]
            form.fields["prune"].label = f"Also remove the {count:,} missing records"
            context["confirm_form"] = form
        return self._render_preview(request, context, title="Sync from the data folder")

    def folder_changes_csv(self, request: HttpRequest) -> HttpResponseBase:
        if not self.can_sync(request):
            raise PermissionDenied
        try:
            result = run_sync()
        except (InputError, LoadError) as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._url("changelist"))
        return _csv_response(result, "folder-changes.csv")

    # Obsidian: every OEM from the button; the selected rows' OEMs from the action (a note
    # holds all of an OEM's partners, so selecting one partner exports its OEM's whole note).

    @admin.action(description="Export the selected OEMs to Obsidian", permissions=["sync"])
    def export_to_obsidian(self, request: HttpRequest, queryset: Any) -> None:
        self._export_obsidian(request, set(queryset.values_list("oem_key", flat=True)))

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return self.can_sync(request)

    @method_decorator(require_POST)
    def export_obsidian_view(self, request: HttpRequest) -> HttpResponse:
        if not self.can_sync(request):
            raise PermissionDenied
        self._export_obsidian(request)
        return HttpResponseRedirect(self._url("changelist"))

    def _export_obsidian(self, request: HttpRequest, oem_keys: set[str] | None = None) -> None:
        try:
            result = export_obsidian(lock_timeout=WEB_LOCK_TIMEOUT, oem_keys=oem_keys)
        except VaultError as exc:
            messages.error(request, str(exc))
            return
        except SyncBusy:
            messages.error(request, "A sync is running; nothing was exported. Try again.")
            return
        except OSError as exc:
            messages.error(request, f"Export failed: {exc}")
            return
        exported = result.oems_count if oem_keys is None else len(oem_keys)
        messages.success(
            request,
            f"Exported {exported} OEM{'' if exported == 1 else 's'} to Obsidian in "
            f"{vault_root() / OEM_FOLDER}: "
            f"{len(result.files_written)} notes written, {len(result.files_unchanged)} "
            "unchanged.",
        )
        for conflict in result.conflicts:
            messages.warning(request, f"Skipped {conflict['path']}: {conflict['reason']}")

    # Shared by both doors.

    def _apply(
        self,
        request: HttpRequest,
        files: list[LoadedFile] | None,
        fingerprint: str,
        prune: bool = False,
        source_name: str | None = None,
        overwrite: bool = False,
    ) -> SyncResult | None:
        """Apply through the engine; say what happened. None when nothing was applied."""
        try:
            result = run_sync(
                files=files,
                apply=True,
                prune_all=prune,  # the folder sync is a full one: its prune is --prune-all
                source_name=source_name,
                overwrite=overwrite,
                source="admin",
                user=request.user,
                lock_timeout=WEB_LOCK_TIMEOUT,
                expected_fingerprint=fingerprint,
            )
        except (StaleState, InputError, LoadError) as exc:
            messages.error(request, str(exc))
            return None
        except SyncBusy:
            messages.error(request, "Another sync is running; nothing was written. Try again.")
            return None
        except StoreError as exc:
            messages.warning(request, f"The records were saved, but {exc}")
            return None
        if not result.applied:
            messages.error(request, result.error_message)
            return None
        counts = result.summary
        text = (
            f"Added {counts['added']}, updated {counts['updated']}, removed {counts['removed']} "
            f"partner tiers; {counts['unchanged']} unchanged."
        )
        if result.run_id is not None and request.user.has_perm("partners.view_syncrun"):
            url = reverse("admin:partners_syncrun_change", args=[result.run_id])
            text = format_html('{} <a href="{}">See the sync run</a>.', text, url)
        messages.success(request, text)
        return result

    def _render_preview(
        self, request: HttpRequest, context: dict[str, Any], title: str, form: Any = None
    ) -> HttpResponse:
        context.update(self.admin_site.each_context(request))
        context.update(
            title=title,
            form=form,
            opts=self.model._meta,
            media=self.media + form.media if form else self.media,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def _url(self, name: str) -> str:
        return reverse("admin:{}_{}_{}".format(*self.get_model_info(), name))

    # Export: formulas escaped in spreadsheet formats.

    def get_export_data(self, file_format: Any, request: HttpRequest, queryset: Any, **kwargs):
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = self.get_data_for_export(request, queryset, **kwargs)
        if isinstance(file_format, SPREADSHEET_FORMATS):
            data = escape_dataset(data)
        export_data = file_format.export_data(data)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
        return export_data


def _near_spellings(request: HttpRequest, result: SyncResult) -> dict[str, Any]:
    """The new OEM spellings a preview found close to known ones, each offered as an alias
    to those who may add OEM aliases."""
    return {
        "near_oems": [near for near in result.near if near["kind"] == "oem"],
        "can_add_alias": request.user.has_perm("partners.add_oemalias"),
    }


def _int(value: str) -> int:
    """An id from a URL; anything else finds nothing (the admin then answers 404 itself)."""
    return int(value) if value.isascii() and value.isdigit() else 0


def can_sync(request: HttpRequest) -> bool:
    return request.user.has_perm("partners.sync_partnertier")


LEDGER_PAGE = 100


def ledger_page(request: HttpRequest, entries: Any, empty_text: str) -> dict[str, Any]:
    """One page of ledger entries with their field rows, for the history tables."""
    paginator = Paginator(entries.select_related("run", "user"), LEDGER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    catalog = load_catalog()
    rows = [{"entry": entry, "fields": field_rows(entry, catalog)} for entry in page]
    return {"entries": rows, "page": page, "empty_text": empty_text}


def _dry_run(loaded: LoadedFile, upload: Upload) -> SyncResult:
    """An upload's preview, with the options on its row."""
    return run_sync(
        files=[loaded], source_name=upload.source_name or None, overwrite=upload.overwrite
    )


def _csv_response(result: SyncResult, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(changes_csv(result), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """History, read-only: when, who, from where, which files, and what changed."""

    list_display = [
        "started_at",
        "source",
        "user",
        "file_names",
        "applied",
        "added",
        "updated",
        "removed",
    ]
    list_filter = ["source", "applied"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "started_at",
        "finished_at",
        "source",
        "user",
        "applied",
        "reverts_link",
        "files_table",
        "counts_table",
        "errors_list",
        "changes_table",
    ]
    change_form_template = "admin/partners/syncrun/change_form.html"

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:run_id>/revert/", wrap(self.revert_view), name="partners_syncrun_revert"),
            path(
                "tier-changes/", wrap(self.tier_changes_view), name="partners_syncrun_tier_changes"
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        entries = LedgerEntry.objects.filter(run_id=_int(object_id)).order_by("id")
        context = {
            **ledger_page(request, entries, "This run changed nothing."),
            "can_revert": can_sync(request) and entries.exists(),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def tier_changes_view(self, request: HttpRequest) -> HttpResponseBase:
        """The tier-change report for a period and an OEM, on a page or as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = {name: request.GET.get(name, "").strip()[:200] for name in ("since", "until", "oem")}
        context: dict[str, Any] = {"form": form, "limit": PREVIEW_ROWS}
        try:
            when = period(form["since"] or None, form["until"] or None)
        except ReportError as exc:
            context["error"] = str(exc)
        else:
            changes = list(tier_changes(when, oem=form["oem"] or None))
            if request.GET.get("format") == "csv":
                response = StreamingHttpResponse(as_csv(changes), content_type="text/csv")
                response["Content-Disposition"] = 'attachment; filename="tier-changes.csv"'
                return response
            context.update(
                changes=changes[:PREVIEW_ROWS],
                summary=list(summarize(changes).items()),
                count=len(changes),
                capped=len(changes) > PREVIEW_ROWS,
                csv_query=urlencode({**form, "format": "csv"}),
            )
        context.update(self.admin_site.each_context(request), title="Tier changes")
        context["opts"] = self.model._meta
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/partners/syncrun/tier_changes.html", context)

    def revert_view(self, request: HttpRequest, run_id: int) -> HttpResponse:
        """The revert's preview (view permission) and its confirm (sync permission)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        back = reverse("admin:partners_syncrun_change", args=[run_id])
        if request.method == "POST":
            if not can_sync(request):
                raise PermissionDenied
            return self._confirm_revert(request, run_id, back)
        try:
            result = revert_run(run_id)
        except RevertError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(back)
        plan = result.plan
        context = {
            **self.admin_site.each_context(request),
            "title": "Revert a sync",
            "opts": self.model._meta,
            "run": SyncRun.objects.get(pk=run_id),
            "summary": result.summary,
            "conflicts": result.conflicts[:PREVIEW_ROWS],
            "sections": [
                ("To remove (the run added them)", plan.missing[:PREVIEW_ROWS], "removed"),
                ("To restore (the run removed them)", plan.added[:PREVIEW_ROWS], "added"),
            ],
            "updated": plan.updated[:PREVIEW_ROWS],
            "capped": max(len(plan.missing), len(plan.added), len(plan.updated)) > PREVIEW_ROWS,
            "limit": PREVIEW_ROWS,
            "fingerprint": result.fingerprint,
            "can_apply": can_sync(request),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/partners/syncrun/revert.html", context)

    def _confirm_revert(self, request: HttpRequest, run_id: int, back: str) -> HttpResponse:
        choice = request.POST.get("conflicts")
        try:
            result = revert_run(
                run_id,
                apply=True,
                skip_conflicts=choice == "skip",
                force=choice == "force",
                user=request.user,
                lock_timeout=WEB_LOCK_TIMEOUT,
                expected_fingerprint=request.POST.get("fingerprint") or "-",
            )
        except (RevertError, RevertConflicts, StaleState) as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(back)
        except SyncBusy:
            messages.error(request, "Another sync is running; nothing was written. Try again.")
            return HttpResponseRedirect(back)
        except StoreError as exc:
            messages.warning(request, f"The revert was saved, but {exc}")
            return HttpResponseRedirect(back)
        counts = result.summary
        url = reverse("admin:partners_syncrun_change", args=[result.run_id])
        messages.success(
            request,
            format_html(
                'Reverted run {}: removed {}, restored {}, reset {} partner tiers (<a href="{}">'
                "run {}</a>).",
                run_id,
                counts["removed"],
                counts["added"],
                counts["updated"],
                url,
                result.run_id,
            ),
        )
        return HttpResponseRedirect(url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="files")
    def file_names(self, run: SyncRun) -> str:
        return ", ".join(f["path"].rsplit("/", 1)[-1] for f in run.files) or "—"

    @admin.display(description="reverts")
    def reverts_link(self, run: SyncRun) -> str:
        if run.reverts_id is None:
            return "—"
        url = reverse("admin:partners_syncrun_change", args=[run.reverts_id])
        return format_html('<a href="{}">run {}</a>', url, run.reverts_id)

    @admin.display(description="added")
    def added(self, run: SyncRun) -> int:
        return run.counts.get("added", 0)

    @admin.display(description="updated")
    def updated(self, run: SyncRun) -> int:
        return run.counts.get("updated", 0)

    @admin.display(description="removed")
    def removed(self, run: SyncRun) -> int:
        return run.counts.get("removed", 0)

    @admin.display(description="files")
    def files_table(self, run: SyncRun) -> str:
        return format_html_join(
            "", "<div>{} <code>{}</code></div>", ((f["path"], f["sha256"]) for f in run.files)
        )

    @admin.display(description="counts")
    def counts_table(self, run: SyncRun) -> str:
        return ", ".join(f"{name} {count}" for name, count in run.counts.items()) or "—"

    @admin.display(description="errors")
    def errors_list(self, run: SyncRun) -> str:
        messages_ = [e["message"] if isinstance(e, dict) else str(e) for e in run.errors]
        return format_html_join("", "<div>{}</div>", ((m,) for m in messages_)) or "—"

    @admin.display(description="changes (kept before the ledger)")
    def changes_table(self, run: SyncRun) -> str:
        rows: list[tuple[str, str, str, str]] = []
        for record in run.changes.get("added", []):
            rows.append(("added", record["oem"], record["name"], record["tier"]))
        for record in run.changes.get("updated", []):
            detail = "; ".join(
                f"{name}: {change['old']} → {change['new']}"
                for name, change in record["changes"].items()
            )
            rows.append(("updated", record["oem"], record["name"], detail))
        for record in run.changes.get("removed", []):
            rows.append(("removed", record["oem"], record["name"], record["tier"]))
        if not rows:
            return "—"
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html(
            "<table><thead><tr><th>change</th><th>OEM</th><th>partner</th><th>detail</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            body,
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for the HTTP API. The token is shown once, when it is created."""

    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "name"] if obj is None else ["user", "name", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields if obj is None else ["user", *self.readonly_fields]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, token = create_token(obj.user, obj.name)
        obj.pk, obj.prefix = row.pk, row.prefix
        messages.warning(
            request,
            f"The new token is {token} — copy it now: it is not stored and not shown again.",
        )

    # Revoking changes a token; a user who may only view tokens must not lock others out.
    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        for row in queryset:
            revoke(row)
        messages.success(request, f"Revoked {queryset.count()} tokens.")


from partners import admin_programs  # noqa: E402, F401  (registers the catalog's admin)
