"""An export after an export: told from what the last one left, never at the cost of a note."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from partners import db
from partners.edits import save_record
from partners.models import ExportState, PartnerTier
from partners.notes import BEGIN
from partners.obsidian import Exporter, export_obsidian
from partners.revert import revert_run
from tests.test_obsidian_export import SEED, oem_dir, sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def vault(tmp_path, input_dir, settings) -> Path:
    """A vault just exported: Cisco and Nutanix active, Dell inactive, a person's own note."""
    settings.PARTNERS_NOTE_RECENT_CHANGES = 10
    root = tmp_path / "vault"
    root.mkdir()
    sync(input_dir, [*SEED, ["Someone", "Gold", "P", "Dell", "", ""]])
    export_obsidian(root)
    sync(input_dir, SEED)
    (oem_dir(root) / "Reading list.md").write_text("My own note.\n")
    export_obsidian(root)
    return root


@contextmanager
def not_rendered(monkeypatch) -> Iterator[None]:
    """Reading the table for the notes fails the test: exports in here must not render."""
    with monkeypatch.context() as patched:
        patched.setattr(db, "read_for_notes", lambda: pytest.fail("the notes were rendered"))
        yield


@pytest.fixture
def rendered(monkeypatch) -> list[str]:
    """The OEMs whose notes the exports render, in order."""
    oems: list[str] = []
    render = Exporter._render

    def spy(self, oem, *args, **kwargs):
        oems.append(oem)
        return render(self, oem, *args, **kwargs)

    monkeypatch.setattr(Exporter, "_render", spy)
    return oems


def full_export(vault: Path) -> dict:
    ExportState.objects.all().delete()
    return export_obsidian(vault).to_dict()


def test_a_no_op_export_renders_nothing_and_reports_what_a_full_one_finds(vault, monkeypatch):
    with not_rendered(monkeypatch):
        result = export_obsidian(vault).to_dict()
        dry = export_obsidian(vault, dry_run=True).to_dict()

    assert result["inactive"] == [str(oem_dir(vault) / "Dell.md")]
    assert result["files_written"] == []
    assert result == full_export(vault)
    assert dry == {**result, "dry_run": True}


def test_an_edit_of_the_same_size_and_time_is_still_seen(vault):
    note = oem_dir(vault) / "Cisco.md"
    text, status = note.read_text(), note.stat()
    note.write_text(text.replace("Platinum", "Platinun"))
    os.utime(note, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert note.stat().st_size == status.st_size

    result = export_obsidian(vault)

    assert result.files_written == [str(note)]
    assert note.read_text() == text


def test_a_deleted_note_is_written_again(vault):
    note = oem_dir(vault) / "Nutanix.md"
    text = note.read_text()
    note.unlink()

    assert export_obsidian(vault).files_written == [str(note)]
    assert note.read_text() == text


def test_a_renamed_note_is_found_under_its_new_name(vault):
    folder = oem_dir(vault)
    (folder / "Cisco.md").rename(folder / "Cisco Systems.md")

    result = export_obsidian(vault)

    assert str(folder / "Cisco Systems.md") in result.files_unchanged
    assert result.files_written == [str(folder / "OEM Index.md")]  # its link follows
    assert not (folder / "Cisco.md").exists()


def test_a_changed_record_renders_its_oems_note_alone(vault, input_dir, rendered):
    sync(input_dir, [*SEED[:2], ["Tech Solutions", "Gold", "Nutanix Elevate", "Nutanix", "", ""]])

    result = export_obsidian(vault)

    assert sorted(Path(p).name for p in result.files_written) == ["Nutanix.md", "OEM Index.md"]
    assert "Platinum → Gold" in (oem_dir(vault) / "Nutanix.md").read_text()
    assert rendered == ["Nutanix", "Dell"]  # Dell's is inactive: those are always rendered
    assert full_export(vault)["files_written"] == []  # rendering every note finds them so


def test_a_record_moved_to_another_oem_renders_both_notes(vault, rendered):
    record = PartnerTier.objects.get(name="Red River Technology")
    values = {f: getattr(record, f) for f in ("name", "tier", "program", "poc", "notes")}
    assert save_record({**values, "oem": "Nutanix"}, pk=record.pk, user=None).applied

    result = export_obsidian(vault)

    assert sorted(rendered) == ["Cisco", "Dell", "Nutanix"]
    assert "### Red River" not in (oem_dir(vault) / "Cisco.md").read_text()
    assert "### Red River" in (oem_dir(vault) / "Nutanix.md").read_text()
    assert len(result.files_written) == 3  # and the index
    assert full_export(vault)["files_written"] == []


def test_an_edited_note_alone_is_rendered_again(vault, rendered):
    note = oem_dir(vault) / "Nutanix.md"
    text = note.read_text()
    note.write_text(text.replace("Platinum", "Gold"))

    assert export_obsidian(vault).files_written == [str(note)]
    assert rendered == ["Nutanix", "Dell"]
    assert note.read_text() == text


def test_a_new_setting_or_template_renders_the_notes_again(vault, settings, tmp_path):
    settings.PARTNERS_NOTE_RECENT_CHANGES = 0
    assert len(export_obsidian(vault).files_written) == 3  # Cisco, Nutanix, Dell
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "oem_note.md").write_text("# {{ oem }}\n")
    engines_setting = [dict(t) for t in settings.TEMPLATES]
    engines_setting[1]["DIRS"] = [custom, *engines_setting[1]["DIRS"]]
    settings.TEMPLATES = engines_setting

    export_obsidian(vault)

    assert f"{BEGIN}\n\n# Cisco\n\n" in (oem_dir(vault) / "Cisco.md").read_text()


def test_a_copied_vault_is_told_apart_from_its_original(vault, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(vault, copy)  # times kept, as cp -p and rsync -a keep them
    note = oem_dir(copy) / "Cisco.md"
    text = note.read_text()
    note.write_text(text.replace("Platinum", "Platinun"))

    assert export_obsidian(copy).files_written == [str(note)]
    assert note.read_text() == text
    with not_rendered(monkeypatch):
        assert export_obsidian(vault).files_written == []
        assert export_obsidian(copy).files_written == []


def test_a_change_undone_before_the_export_is_still_listed(vault, input_dir):
    change = sync(
        input_dir, [*SEED[:2], ["Tech Solutions", "Gold", "Nutanix Elevate", "Nutanix", "", ""]]
    )
    assert revert_run(change.run_id, apply=True).applied  # the rows are as they were

    export_obsidian(vault)

    text = (oem_dir(vault) / "Nutanix.md").read_text()
    assert "Tech Solutions: Platinum → Gold" in text
    assert "Tech Solutions: Gold → Platinum" in text
