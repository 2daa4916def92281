from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from partners.fields import MAX_LENGTH, verbose_name
from partners.normalize import identity_key


class PartnerTier(models.Model):
    """Which tier a partner holds in one OEM's partner program."""

    name = models.CharField(verbose_name("name"), max_length=MAX_LENGTH["name"])
    tier = models.CharField(verbose_name("tier"), max_length=MAX_LENGTH["tier"])
    program = models.CharField(verbose_name("program"), max_length=MAX_LENGTH["program"])
    oem = models.CharField(verbose_name("oem"), max_length=MAX_LENGTH["oem"])
    poc = models.CharField(verbose_name("poc"), max_length=MAX_LENGTH["poc"], null=True, blank=True)
    notes = models.TextField(
        verbose_name("notes"), max_length=MAX_LENGTH["notes"], null=True, blank=True
    )
    # The identity (name, OEM) as compared: NFC, casefolded, whitespace collapsed.
    name_key = models.CharField(max_length=800, editable=False)
    oem_key = models.CharField(max_length=800, editable=False)  # indexed by the constraint
    created_at = models.DateTimeField(editable=False)
    updated_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ["oem", "name"]
        constraints = [
            models.UniqueConstraint(fields=["oem_key", "name_key"], name="partner_unique_per_oem")
        ]
        # django-import-export asks for "<IMPORT_EXPORT_IMPORT_PERMISSION_CODE>_partnertier".
        permissions = [("sync_partnertier", "Can import and sync partner tiers")]

    def __str__(self) -> str:
        return f"{self.name} — {self.oem} {self.tier}"

    def save(self, *args, **kwargs):
        self.name_key = identity_key(self.name)
        self.oem_key = identity_key(self.oem)
        # Whole seconds: the store and the API show times to the second.
        now = timezone.now().replace(microsecond=0)
        self.updated_at = now
        if self.created_at is None:
            self.created_at = now
        super().save(*args, **kwargs)


class SyncRun(models.Model):
    """One applying sync, whether it succeeded, failed or was refused."""

    class Source(models.TextChoices):
        CLI = "cli"
        ADMIN = "admin"
        API = "api"
        EDIT = "edit"  # one record added, changed or deleted by a person (admin or API)
        REVERT = "revert"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    files = models.JSONField(default=list)  # [{"path", "sha256"}]
    counts = models.JSONField(default=dict)  # {"added": n, ...}
    # Runs before the ledger kept a capped summary here; the ledger (`LedgerEntry`) is the
    # record of what changed.
    changes = models.JSONField(default=dict)
    applied = models.BooleanField(default=False)
    errors = models.JSONField(default=list)
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reverted_by"
    )
    # Notes the vault refresh after this run created (relative to the vault): its revert
    # moves them to .trash when they are inactive again and nothing of a person's is in them.
    notes_created = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        state = "applied" if self.applied else "not applied"
        return f"{self.get_source_display()} sync at {self.started_at:%Y-%m-%d %H:%M:%S} ({state})"


class LedgerEntry(models.Model):
    """One change to one partner tier: the ledger every write leaves behind.

    `old` and `new` hold the changed fields (every field for added and removed records), so
    a run can be undone from its entries alone. Tier, program and identity are columns of
    their own: the tier-change report reads them through the `at` index, never the JSON.
    """

    class Action(models.TextChoices):
        ADDED = "added"
        UPDATED = "updated"
        REMOVED = "removed"

    # Optimization: the references are not checked by the database. Its checks are deferred
    # triggers, one per entry and reference at commit: 0.4 s for a sync of 100,000 records
    # on PostgreSQL. Runs are never deleted (PROTECT), and Django sets a deleted user to null.
    run = models.ForeignKey(
        SyncRun, on_delete=models.PROTECT, related_name="ledger", db_constraint=False
    )
    record_id = models.BigIntegerField(db_index=True)  # not a foreign key: removed ones stay
    action = models.CharField(max_length=10, choices=Action.choices)
    oem = models.CharField(verbose_name("oem"), max_length=MAX_LENGTH["oem"])
    name = models.CharField(verbose_name("name"), max_length=MAX_LENGTH["name"])
    program = models.CharField(verbose_name("program"), max_length=MAX_LENGTH["program"])
    oem_key = models.CharField(max_length=800)
    name_key = models.CharField(max_length=800)
    tier_from = models.CharField(max_length=100, null=True, blank=True)
    tier_to = models.CharField(max_length=100, null=True, blank=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    at = models.DateTimeField()
    user = models.ForeignKey(  # no index: 100,000 entries a sync, and nobody looks up by user
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = "change"
        verbose_name_plural = "ledger"
        ordering = ["-at", "-id"]
        indexes = [
            # A period's tier changes: `tier_changes --since/--until` walks this range only.
            models.Index(fields=["at"], name="ledger_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.oem} / {self.name}"


class Source(models.Model):
    """A named origin of input files (`cisco-portal`, `partners_core.csv`) and what its files
    said when last applied: `digest` of their bytes and the rules they were read with."""

    name = models.CharField(max_length=200, unique=True)
    digest = models.CharField(max_length=64)
    # What the last applied full read of its files said beyond its records (`sources.Read`):
    # a re-sync of the same files restates it without parsing them again.
    read = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class SourceBase(models.Model):
    """The base of a three-way sync: per source and OEM, the values the source's last applied
    files stated for each record (only the fields they had), keyed by name key."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="bases")
    oem_key = models.CharField(max_length=800)
    # {name_key: [value, …] | {field: value}} as JSON text, compressed with lz4 on PostgreSQL
    # where the server has it, else uncompressed (migrations 0012, 0019): written and read
    # whole by the engine, never queried inside; jsonb's parsing and pglz's compression made
    # saving a 100,000-record base 0.85 s instead of 0.15.
    stated = models.TextField(default="{}")
    # A digest of the name keys in `stated` (`sources.keys_digest`): a save whose files state
    # the same records under this OEM writes their values without reading the old ones.
    keys = models.CharField(max_length=32, default="", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "oem_key"], name="base_per_source_oem")
        ]

    def __str__(self) -> str:
        return f"{self.source} / {self.oem_key}"


class ListCount(models.Model):
    """How many records a list's filters matched, as of a state of the ledger: the
    `X-Total-Count` of the next page with the same filters, while nothing was written since.

    Optimization: counting 100,000 rows for every `?limit=50` page was most of its time. Every
    write to the table leaves ledger entries in its transaction, under the sync lock, so the
    ledger's newest id names the table's state; in the database, so every process shares it.
    """

    filters = models.CharField(max_length=64, unique=True)  # sha256 of the filters
    ledger_id = models.BigIntegerField()
    total = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.total} at {self.ledger_id}"


class RecentChanges(models.Model):
    """Each OEM's last tier changes, newest first, for its Obsidian note: kept up to date by
    the write path in the transaction of the changes (so it always agrees with the ledger).

    Optimization: an index of the ledger by OEM made every sync of 100,000 records 0.2 s
    slower; this is a thousand small rows, read by an export in one query.
    """

    oem_key = models.CharField(max_length=800, unique=True)
    changes = models.JSONField(default=list)  # [{"at", "name", "program", "from", "to", "action"}]

    def __str__(self) -> str:
        return self.oem_key


class StoreState(models.Model):
    """What the store file held when it was last written, and from which state of the ledger.

    A no-op sync compares this with the file instead of rendering 100,000 records only to find
    them unchanged; anything else (a failed write, a file changed by hand) renders again.
    """

    path = models.CharField(max_length=1000, unique=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    ledger_id = models.BigIntegerField()  # the newest ledger entry the file reflects

    def __str__(self) -> str:
        return self.path


class ExportState(models.Model):
    """What an export left in a vault's OEM folder, and from which state of the ledger and of
    the rules notes are rendered by. An export finding the ledger, the rules and every file
    as they were left reports the result of then instead of rendering 1,000 notes only to find
    them unchanged; anything else (a note edited, deleted or added, a write, a new catalog,
    template or version) exports in full.
    """

    folder = models.CharField(max_length=1000, unique=True)
    ledger_id = models.BigIntegerField()  # the newest ledger entry the notes reflect
    rules = models.CharField(max_length=64)  # sha256 of all else that decides a note's text
    # {"files": {name: sha256 of its bytes}, "notes": [name, …] as the result lists them,
    # "inactive": [name, …], "inputs": {name: sha256 of its OEM's rows and recent changes},
    # "oems": count}
    left = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.folder


class Upload(models.Model):
    """A file uploaded in the admin, kept between its preview and its confirm.

    In the database, not a per-process temp folder: the confirm may reach another server
    process (or machine) than the preview did. Deleted on confirm; stale ones on expiry.
    """

    name = models.CharField(max_length=64, unique=True)  # random token, as in the form
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    data = models.BinaryField()
    # The upload's state between its steps, read by every step (preview, changes CSV,
    # confirm), never carried in form fields or query strings.
    original_name = models.CharField(max_length=255, default="")
    format = models.CharField(max_length=10, default="")  # the engine's: csv, json, xlsx, yaml
    source_name = models.CharField(max_length=200, blank=True, default="")
    overwrite = models.BooleanField(default=False)
    sheet = models.CharField(max_length=100, blank=True, default="")  # XLSX: name or number
    # The mapping it is read with: an ImportProfile's fields (name included), a saved
    # profile's as they were when it was chosen, so a later edit of the profile does not
    # change what this upload's preview showed. `profile_name`: that saved profile, if any.
    mapping = models.JSONField(null=True, blank=True)
    profile_name = models.CharField(max_length=200, blank=True, default="")
    revision = models.PositiveIntegerField(default=0)  # counts the mapping's changes

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer token for the HTTP API, belonging to a user and acting with their
    permissions. Only a SHA-256 of the token is stored; the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.user} · {self.name or self.prefix}{state}"


class ApiAuthFailure(models.Model):
    """One bad bearer token presented to the API, by client address. In the database, so
    every server process counts the same failures (see partners/throttle.py)."""

    client = models.CharField(max_length=64)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "API authentication failure"
        indexes = [models.Index(fields=["client", "failed_at"], name="api_failure_client_time")]

    def __str__(self) -> str:
        return f"{self.client} at {self.failed_at:%Y-%m-%d %H:%M:%S}"


class ImportProfile(models.Model):
    """How one source's files map onto partner tiers (see partners/profiles.py): its name is
    the files' source name. Columns, constants and value maps are JSON lists of pairs, so the
    order a person wrote them in is the order they are shown and exported in."""

    name = models.CharField(max_length=200, unique=True, help_text="the source name")
    pattern = models.CharField(
        max_length=200, blank=True, help_text="folder files it applies to, e.g. cisco_*.xlsx"
    )
    sheet = models.CharField(
        max_length=100, blank=True, help_text="a sheet's name or 1-based number; empty: the first"
    )
    header_row = models.PositiveIntegerField(
        null=True, blank=True, help_text="1-based; empty: found automatically"
    )
    delimiter = models.CharField(
        max_length=1, blank=True, help_text="one character; empty: detected"
    )
    columns = models.JSONField(default=list, blank=True)  # [[column, field or "ignore"], ...]
    constants = models.JSONField(default=list, blank=True)  # [[field, value], ...]
    values = models.JSONField(default=list, blank=True)  # [[field, [[from, to], ...]], ...]
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_profile(self) -> Any:
        from partners.profiles import from_model

        return from_model(self)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from partners.profiles import problems

        found = problems(self.to_profile())
        if found:
            raise ValidationError([message for _, message in found])


class Program(models.Model):
    """An OEM's partner program and its ladder of tiers (`ProgramTier`, lowest → highest).

    `program` null is the OEM's default ladder, used by its programs that have none.
    `catalog_digest` is what the shipped catalog (`data/programs.yaml`) last put here: while the
    program still hashes to it nobody changed it and the loader may refresh it; once a person
    changes it (admin, `programs import`) it no longer does and the loader leaves it alone.
    """

    oem = models.CharField(verbose_name("oem"), max_length=MAX_LENGTH["oem"])
    program = models.CharField(
        verbose_name("program"), max_length=MAX_LENGTH["program"], null=True, blank=True
    )
    oem_key = models.CharField(max_length=800, editable=False)
    program_key = models.CharField(max_length=800, editable=False)  # "" for the default
    catalog_digest = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        ordering = ["oem_key", "program_key"]
        constraints = [
            models.UniqueConstraint(fields=["oem_key", "program_key"], name="program_unique")
        ]

    def __str__(self) -> str:
        return f"{self.oem} {self.program or '(default ladder)'}"

    def save(self, *args, **kwargs):
        self.oem_key = identity_key(self.oem)
        self.program_key = identity_key(self.program or "")
        super().save(*args, **kwargs)


class ProgramTier(models.Model):
    """One rung of a program's ladder; `position` 0 is the lowest."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="tiers")
    position = models.PositiveIntegerField()
    name = models.CharField(verbose_name("tier"), max_length=MAX_LENGTH["tier"])

    class Meta:
        ordering = ["program", "position"]
        constraints = [
            models.UniqueConstraint(fields=["program", "position"], name="tier_position_unique")
        ]

    def __str__(self) -> str:
        return self.name


class TierAlias(models.Model):
    """Another spelling of a ladder's tier (`gold partner` → Gold), or a tier's old name."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=MAX_LENGTH["tier"])
    alias_key = models.CharField(max_length=400, editable=False)
    tier = models.ForeignKey(ProgramTier, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        verbose_name_plural = "tier aliases"
        constraints = [
            models.UniqueConstraint(fields=["program", "alias_key"], name="tier_alias_unique")
        ]

    def __str__(self) -> str:
        return f"{self.alias} → {self.tier}"

    def save(self, *args, **kwargs):
        self.alias_key = identity_key(self.alias)
        super().save(*args, **kwargs)


class OemAlias(models.Model):
    """Another spelling of an OEM (`Cisco Systems` → Cisco), read like PARTNERS_OEM_ALIASES."""

    alias = models.CharField(max_length=MAX_LENGTH["oem"])
    alias_key = models.CharField(max_length=800, unique=True, editable=False)
    oem = models.CharField(verbose_name("oem"), max_length=MAX_LENGTH["oem"])

    class Meta:
        verbose_name = "OEM alias"
        verbose_name_plural = "OEM aliases"
        ordering = ["alias_key"]

    def __str__(self) -> str:
        return f"{self.alias} → {self.oem}"

    def save(self, *args, **kwargs):
        self.alias_key = identity_key(self.alias)
        super().save(*args, **kwargs)
