"""A re-sync of files that are byte for byte what their sources last applied, read with the
same rules, restates their bases instead of parsing them again, and says exactly what a full
read says (the no-op re-sync is most syncs)."""

from __future__ import annotations

import pytest

from partners.edits import delete_records, save_record
from partners.loaders import InputFile
from partners.models import PartnerTier, Source
from partners.sync import run_sync
from tests.helpers import write_csv
from tests.test_result_json import untimed

pytestmark = pytest.mark.django_db

HEADER = ["name", "tier", "program", "oem", "poc", "notes", "region"]  # region: ignored
ROWS = [
    ["Red River", "Gold", "PTP", "Cisco", "Ana Ruiz", "first", "EMEA"],
    ["Blue Lake", "Silver", "PTP", "Cisco", "", "", "EMEA"],
    ["Green Hill", "Premier", "APN", "AWS", "Omar Said", "", "US"],
]


def unparsed(monkeypatch) -> None:
    """Parsing a file from here on fails the test: the sync must not need to."""

    def refuse(self):
        raise AssertionError(f"{self.path} was parsed again")

    monkeypatch.setattr(InputFile, "load", refuse)


def full_read(path) -> dict:
    """The dry run of `path` as a sync that remembers nothing of earlier reads makes it."""
    Source.objects.update(read={})
    return untimed(run_sync([path]).to_dict())


def edit(name: str, **values: str | None) -> None:
    record = PartnerTier.objects.get(name=name)
    fields = {f: getattr(record, f) for f in ("name", "tier", "program", "oem", "poc", "notes")}
    assert save_record({**fields, **values}, pk=record.pk, user=None).applied


def test_an_unchanged_file_is_not_parsed_again_and_says_what_a_full_read_says(
    input_dir, monkeypatch
):
    other = write_csv(input_dir / "partners_other.csv", [["Far Away", "Gold", "P", "Dell"]])
    assert run_sync([other], apply=True).applied
    path = write_csv(
        input_dir / "partners_a.csv", [*ROWS, ["Gone Soon", "Gold", "P", "Cisco"]], HEADER
    )
    assert run_sync([path], apply=True).applied
    write_csv(input_dir / "partners_a.csv", ROWS, HEADER)  # no longer states 'Gone Soon'
    first = run_sync([path], apply=True)
    assert first.applied and first.warnings
    edit("Red River", tier="Platinum")  # kept
    delete_records([PartnerTier.objects.get(name="Blue Lake").pk], user=None)  # stays deleted

    with monkeypatch.context() as patched:
        unparsed(patched)
        restated = run_sync([path], apply=True)
        again = untimed(run_sync([path]).to_dict())
    assert restated.applied and restated.summary["updated"] == restated.summary["added"] == 0
    assert restated.warnings == first.warnings  # the ignored column, as the full read said
    assert {k.row.name: k.fields for k in restated.plan.kept} == {
        "Red River": ["tier"],
        "Blue Lake": ["name", "tier", "program", "oem", "poc", "notes"],
    }
    assert [k.row.name for k in restated.plan.kept if k.deleted] == ["Blue Lake"]
    assert {row.name for row in restated.plan.missing} == {"Far Away", "Gone Soon"}
    assert again == full_read(path)
    assert PartnerTier.objects.get(name="Red River").tier == "Platinum"


def test_a_file_read_with_other_rules_is_read_again(input_dir, settings, monkeypatch):
    path = write_csv(input_dir / "partners_a.csv", [ROWS[0][:6]])
    assert run_sync([path], apply=True).applied
    assert run_sync([path], apply=True).applied  # restated
    settings.PARTNERS_STRICT_TIERS = True
    with monkeypatch.context() as patched:
        unparsed(patched)
        with pytest.raises(AssertionError, match="parsed again"):
            run_sync([path])


@pytest.mark.parametrize("option", ["prune", "overwrite", "prune_all"])
def test_a_prune_or_an_overwrite_reads_the_files(input_dir, monkeypatch, option):
    path = write_csv(input_dir / "partners_a.csv", [ROWS[0][:6]])
    assert run_sync([path], apply=True).applied
    unparsed(monkeypatch)
    with pytest.raises(AssertionError, match="parsed again"):
        run_sync(
            [path],
            prune=option == "prune",
            overwrite=option == "overwrite",
            prune_all=option == "prune_all",
        )


def test_the_same_files_with_another_source_beside_them_are_read(input_dir, monkeypatch):
    a = write_csv(input_dir / "partners_a.csv", [ROWS[0][:6]])
    b = write_csv(input_dir / "partners_b.csv", [ROWS[2][:6]])
    assert run_sync([a], apply=True).applied
    assert run_sync([b], apply=True).applied
    unparsed(monkeypatch)
    run_sync([b])  # restated: read as this same set of sources before
    with pytest.raises(AssertionError, match="parsed again"):
        run_sync([a, b])  # a record both state would be an error only a read can tell
