"""`make run` loads the samples with `manage.py load_samples`: into an empty database only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from partners.models import PartnerTier, SyncRun
from partners.samples import load_samples
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db

ROWS = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", ""],
    ["Tech Solutions", "platinum", "Nutanix Elevate", "nutanix", "", ""],
]


def test_it_loads_the_samples_into_an_empty_database(input_dir, store):
    path = write_csv(input_dir / "partners_a.csv", ROWS)
    out, err, code = run("load_samples")
    assert (code, err) == (0, "")
    assert out == f"Loaded 2 sample partner tiers from {path.name} into the empty database.\n"
    assert PartnerTier.objects.count() == 2 and store.exists()


def test_an_edit_survives_loading_the_samples_again(input_dir, store):
    write_csv(input_dir / "partners_a.csv", ROWS)
    assert load_samples() is not None
    edited = PartnerTier.objects.get(name="Red River Technology")
    edited.tier = "Silver"
    edited.save()
    stored = store.read_bytes()

    assert load_samples() is None
    out, err, code = run("load_samples")

    assert (code, err) == (0, "")
    assert out == (
        "Samples not loaded: the database already holds 2 partner tiers "
        "(manage.py sync_partners --apply loads the files anyway).\n"
    )
    assert PartnerTier.objects.get(name="Red River Technology").tier == "Silver"
    assert store.read_bytes() == stored
    assert SyncRun.objects.count() == 1  # only the first load applied anything


def test_the_shipped_samples_load_without_errors_or_warnings():
    result = load_samples([Path(settings.BASE_DIR) / "data" / "partners"])
    assert result is not None and result.applied
    assert result.errors == [] and result.warnings == []
    assert PartnerTier.objects.count() == result.summary["added"] > 0


def test_it_exits_2_when_there_are_no_samples(input_dir):
    out, err, code = run("load_samples")
    assert code == 2 and out == ""
    assert err == (
        "CommandError: No input files: no partners_*{.csv/.json/.xlsx/.yaml/.yml} "
        "in the input folder\n"
    )
    assert PartnerTier.objects.count() == 0


def test_it_exits_1_and_writes_nothing_when_a_sample_is_invalid(input_dir, store):
    path = write_csv(input_dir / "partners_a.csv", [["", "Gold", "P", "Cisco", "", ""]])
    out, err, code = run("load_samples")
    assert code == 1 and out == ""
    assert err == (
        f"{path.name}: Line 2: missing name\n"
        f"CommandError: Validation failed: {path.name}: Line 2: missing name; nothing was written\n"
    )
    assert PartnerTier.objects.count() == 0 and not store.exists()
