"""`manage.py export_obsidian --format json`: one JSON object on stdout on every exit code."""

from __future__ import annotations

import json

import pytest

from partners.notes import END
from partners.sync import run_sync
from tests.helpers import lock_held_elsewhere, run, write_csv

pytestmark = pytest.mark.django_db

ROWS = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", ""],
    ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "", ""],
]


def failure(detail: str, file: str | None = None) -> dict:
    return {
        "detail": detail,
        "errors": [{"file": file, "line": None, "field": None, "message": detail}],
    }


def test_it_prints_json_when_vault_root_is_not_set(settings):
    settings.VAULT_ROOT = None
    out, err, code = run("export_obsidian", "--format", "json")
    assert code == 2
    assert json.loads(out) == failure("VAULT_ROOT environment variable not set")
    assert err == "CommandError: VAULT_ROOT environment variable not set\n"


def test_it_prints_json_when_the_vault_is_not_a_folder(tmp_path):
    missing = tmp_path / "no-vault"
    out, err, code = run("export_obsidian", "--vault", str(missing), "--format", "json")
    assert code == 2
    assert json.loads(out) == failure(f"Vault {missing} is not a directory")
    assert err == f"CommandError: Vault {missing} is not a directory\n"


def test_it_prints_json_when_a_sync_holds_the_lock(tmp_path, settings):
    settings.PARTNERS_LOCK_TIMEOUT = 0.2
    vault = tmp_path / "vault"
    vault.mkdir()
    with lock_held_elsewhere():
        out, err, code = run("export_obsidian", "--vault", str(vault), "--format", "json")
    detail = "Export failed: another sync is running; gave up after 0.2 s"
    assert code == 3
    assert json.loads(out) == failure(detail)
    assert err == f"CommandError: {detail}\n"
    assert list(vault.iterdir()) == []


def test_it_adds_detail_and_errors_to_the_result_when_notes_are_skipped(input_dir, tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    run_sync([write_csv(input_dir / "a.csv", ROWS)], apply=True)
    assert run("export_obsidian", "--vault", str(vault))[2] == 0
    note = vault / "30 Hubs" / "OEMs" / "Cisco.md"
    note.write_text(note.read_text().replace(END, ""))

    out, err, code = run("export_obsidian", "--vault", str(vault), "--format", "json")

    data = json.loads(out)
    reason = "expected one begin and one end marker, found 1 and 0"
    assert code == 1
    assert data["detail"] == "1 notes skipped as conflicts; the rest were exported"
    assert data["errors"] == [
        {
            "file": str(note),
            "line": None,
            "field": None,
            "message": f"Skipped {note}: {reason}",
        }
    ]
    assert data["status"] == "success"  # the keys of the result keep their meaning
    assert data["conflicts"] == [{"path": str(note), "reason": reason}]
    assert err == "CommandError: 1 notes skipped as conflicts; the rest were exported\n"
