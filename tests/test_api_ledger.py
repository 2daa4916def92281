"""The ledger's API: runs with their changes, reverting a run, the tier-change report."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from partners.models import LedgerEntry, PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import write_csv
from tests.test_api import token_client, user_with

pytestmark = pytest.mark.django_db

SYNCS = "/v1/partners/syncs"
CHANGES = "/v1/partners/changes"


@pytest.fixture
def runs(input_dir):
    first = write_csv(
        input_dir / "partners_a.csv",
        [
            ["Red River", "Gold", "PTP", "Cisco", "", ""],
            ["Acme", "Silver", "APN", "AWS", "", ""],
        ],
    )
    a = run_sync([first], apply=True)
    second = write_csv(
        input_dir / "partners_b.csv",
        [
            ["Red River", "Platinum", "PTP", "Cisco", "", ""],
            ["Acme", "Silver", "APN", "AWS", "", ""],
        ],
    )
    b = run_sync([second], apply=True)
    return a, b


@pytest.fixture
def viewer(django_user_model) -> Client:
    return token_client(user_with(django_user_model, "viewer", "view_partnertier"))


@pytest.fixture
def syncer(django_user_model) -> Client:
    return token_client(
        user_with(django_user_model, "syncer", "view_partnertier", "sync_partnertier")
    )


def revert(client: Client, run_id: int, **body):
    return client.post(
        f"{SYNCS}/{run_id}/revert", json.dumps(body), content_type="application/json"
    )


def test_runs_are_listed_newest_first_with_ninjas_page_shape(runs, viewer):
    a, b = runs
    data = viewer.get(SYNCS, {"limit": 1}).json()
    assert data["count"] == 2 and [r["id"] for r in data["items"]] == [b.run_id]
    assert data["items"][0]["changes_count"] == 1 and data["items"][0]["source"] == "cli"
    assert viewer.get(SYNCS, {"offset": 1}).json()["items"][0]["id"] == a.run_id


def test_a_run_shows_its_changes_paginated(runs, viewer):
    a, _ = runs
    data = viewer.get(f"{SYNCS}/{a.run_id}", {"limit": 1, "offset": 1}).json()
    assert data["changes"]["count"] == 2 and len(data["changes"]["items"]) == 1
    entry = data["changes"]["items"][0]
    assert entry["action"] == "added" and entry["old"] is None
    assert entry["new"]["tier"] in {"Gold", "Silver"} and entry["new"]["created_at"].endswith("Z")
    assert viewer.get(f"{SYNCS}/99999").status_code == 404


def test_a_revert_is_a_dry_run_by_default_and_a_viewer_may_preview_it(runs, viewer):
    _, b = runs
    response = revert(viewer, b.run_id)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["dry_run"] is True and data["reverts"] == b.run_id
    assert data["updated"][0]["changes"]["tier"]["new"] == "Gold"
    assert PartnerTier.objects.get(name="Red River").tier == "Platinum"
    assert revert(viewer, b.run_id, dry_run=False).status_code == 403


def test_applying_a_revert_needs_the_sync_permission_and_the_fresh_fingerprint(runs, syncer):
    _, b = runs
    preview = revert(syncer, b.run_id).json()
    PartnerTier.objects.filter(name="Acme").update(poc="Someone")  # not touched by run b
    stale = revert(syncer, b.run_id, dry_run=False, expected_fingerprint=preview["fingerprint"])
    assert stale.status_code == 409
    fresh = revert(syncer, b.run_id).json()["fingerprint"]
    response = revert(syncer, b.run_id, dry_run=False, expected_fingerprint=fresh)
    assert response.status_code == 200 and response.json()["applied"] is True
    assert PartnerTier.objects.get(name="Red River").tier == "Gold"
    run = SyncRun.objects.get(pk=response.json()["run_id"])
    assert run.source == "revert" and run.user is not None and run.user.username == "syncer"


def test_conflicts_are_a_409_unless_skipped_or_forced(runs, syncer):
    _, b = runs
    PartnerTier.objects.filter(name="Red River").update(tier="Silver")
    refused = revert(syncer, b.run_id, dry_run=False)
    assert refused.status_code == 409
    assert refused.json()["conflicts"][0]["field"] == "tier"
    assert PartnerTier.objects.get(name="Red River").tier == "Silver"
    both = revert(syncer, b.run_id, dry_run=False, skip_conflicts=True, force=True)
    assert both.status_code == 400
    forced = revert(syncer, b.run_id, dry_run=False, force=True)
    assert forced.status_code == 200 and PartnerTier.objects.get(name="Red River").tier == "Gold"


def test_tier_changes_are_the_reports_entries(runs, viewer):
    _, b = runs
    data = viewer.get(CHANGES, {"run": b.run_id}).json()
    assert data == {
        "items": [
            {
                "at": data["items"][0]["at"],
                "run_id": b.run_id,
                "source": "cli",
                "user": None,
                "oem": "Cisco",
                "program": "PTP",
                "name": "Red River",
                "from": "Gold",
                "to": "Platinum",
                "direction": "up",
            }
        ],
        "count": 1,
    }
    assert viewer.get(CHANGES, {"since": "2020-01-01", "limit": 1}).json()["count"] == 3
    assert viewer.get(CHANGES, {"since": "yesterday"}).status_code == 400


def test_a_run_number_past_any_id_is_a_422_not_a_500(runs, viewer):
    assert viewer.get(CHANGES, {"run": 2**63 - 1}).json()["count"] == 0
    response = viewer.get(CHANGES, {"run": 2**63})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "run"


def test_nothing_here_writes_on_get_and_anonymous_callers_are_401(runs):
    anonymous = Client()
    assert anonymous.get(SYNCS).status_code == 401
    assert anonymous.get(CHANGES).status_code == 401
    _, b = runs
    assert Client().get(f"{SYNCS}/{b.run_id}/revert").status_code == 405


def test_an_api_sync_is_in_the_ledger_and_the_records_history_with_its_user(
    input_dir, syncer, admin_client
):
    write_csv(input_dir / "partners_a.csv", [["Red River", "Gold", "PTP", "Cisco", "", ""]])
    response = syncer.post(
        "/v1/partners/sync", json.dumps({"dry_run": False}), content_type="application/json"
    )
    assert response.status_code == 200
    run_id = response.json()["run_id"]
    entry = LedgerEntry.objects.get(run_id=run_id)
    assert entry.action == "added" and entry.user is not None and entry.user.username == "syncer"
    assert SyncRun.objects.get(pk=run_id).source == "api"
    record = PartnerTier.objects.get(name="Red River")
    page = admin_client.get(f"/admin/partners/partnertier/{record.pk}/history/").content.decode()
    assert "syncer" in page and f"{run_id} · api" in page
