"""A person's edits in the admin go through the engine's write path: each is a run with
ledger entries, shown in the record's History and the run's page, and any run can be
reverted from its page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from partners.models import LedgerEntry, PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

RECORD = {"name": "Acme", "tier": "Gold", "program": "P", "oem": "Cisco", "poc": "", "notes": ""}


@pytest.fixture
def synced(input_dir) -> SyncRun:
    write_csv(input_dir / "partners_a.csv", [["Acme", "Silver", "P", "Cisco", "Ana", ""]])
    result = run_sync(apply=True)
    return SyncRun.objects.get(pk=result.run_id or 0)


def change_url(record: PartnerTier) -> str:
    return reverse("admin:partners_partnertier_change", args=[record.pk])


def test_an_admin_change_is_an_edit_run_with_who_and_old_to_new(
    admin_client, admin_user, synced, store
):
    record = PartnerTier.objects.get()
    response = admin_client.post(change_url(record), {**RECORD, "poc": "Ana"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.exclude(run=synced).get()
    assert entry.run.source == "edit" and entry.user == admin_user == entry.run.user
    assert entry.action == "updated" and entry.record_id == record.pk
    assert (entry.old or {})["tier"] == "Silver" and (entry.new or {})["tier"] == "Gold"
    assert (entry.tier_from, entry.tier_to) == ("Silver", "Gold")
    assert '"tier": "Gold"' in store.read_text()


def test_an_admin_add_and_delete_are_recorded_and_rewrite_the_store(admin_client, synced, store):
    response = admin_client.post(
        reverse("admin:partners_partnertier_add"), {**RECORD, "name": "New"}
    )
    assert response.status_code == 302
    added = PartnerTier.objects.get(name="New")
    assert response["Location"].endswith(reverse("admin:partners_partnertier_changelist"))
    entry = LedgerEntry.objects.get(action="added", record_id=added.pk, run__source="edit")
    assert (entry.new or {})["name"] == "New" and (entry.new or {})["created_at"].endswith("Z")
    assert '"New"' in store.read_text()
    delete = reverse("admin:partners_partnertier_delete", args=[added.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    removed = LedgerEntry.objects.get(action="removed", record_id=added.pk)
    assert (removed.old or {})["name"] == "New" and removed.new is None
    assert '"New"' not in store.read_text()


def test_the_delete_selected_action_is_one_run(admin_client, input_dir, synced):
    write_csv(
        input_dir / "partners_b.csv",
        [["B1", "Gold", "P", "Dell", "", ""], ["B2", "Gold", "P", "Dell", "", ""]],
    )
    run_sync(apply=True)
    ids = list(PartnerTier.objects.filter(oem="Dell").values_list("pk", flat=True))
    url = reverse("admin:partners_partnertier_changelist")
    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    )
    assert response.status_code == 302
    assert not PartnerTier.objects.filter(oem="Dell").exists()
    runs = {e.run_id for e in LedgerEntry.objects.filter(action="removed")}
    assert len(runs) == 1 and SyncRun.objects.get(pk=runs.pop()).counts["removed"] == 2


def test_the_records_history_lists_syncs_and_edits(admin_client, admin_user, synced):
    record = PartnerTier.objects.get()
    admin_client.post(change_url(record), {**RECORD, "tier": "Platinum", "poc": "Ana"})
    page = admin_client.get(reverse("admin:partners_partnertier_history", args=[record.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "doesn’t have a change history" not in html
    assert html.count("ledger-") >= 2 and "admin" in html and "(command line)" in html
    assert 'title="promotion"' in html
    assert reverse("admin:partners_syncrun_change", args=[synced.pk]) in html


def test_a_failed_edit_says_so_and_claims_nothing(admin_client, synced, input_dir):
    record = PartnerTier.objects.get()
    write_csv(input_dir / "partners_b.csv", [["Other", "Gold", "P", "Cisco", "", ""]])
    run_sync(apply=True)
    response = admin_client.post(change_url(record), {**RECORD, "name": "Other"}, follow=True)
    assert "already has a tier" in response.content.decode()
    assert PartnerTier.objects.get(pk=record.pk).name == "Acme"


def test_a_run_page_lists_its_changes_and_reverts_them(admin_client, synced, input_dir):
    write_csv(input_dir / "partners_a.csv", [["Acme", "Platinum", "P", "Cisco", "Ana", ""]])
    second = SyncRun.objects.get(pk=run_sync(apply=True).run_id or 0)
    page = admin_client.get(reverse("admin:partners_syncrun_change", args=[second.pk]))
    html = page.content.decode()
    assert "ledger-updated" in html and "Revert this sync" in html
    revert_url = reverse("admin:partners_syncrun_revert", args=[second.pk])
    preview = admin_client.get(revert_url)
    assert preview.status_code == 200 and "To reset" in preview.content.decode()
    response = admin_client.post(
        revert_url, {"fingerprint": preview.context["fingerprint"]}, follow=True
    )
    assert PartnerTier.objects.get().tier == "Silver"
    assert "Reverted run" in response.content.decode()
    reverting = SyncRun.objects.get(reverts=second)
    assert reverting.source == "revert"


def test_a_revert_confirm_is_refused_when_the_data_changed_since_its_preview(
    admin_client, synced, input_dir
):
    write_csv(input_dir / "partners_a.csv", [["Acme", "Platinum", "P", "Cisco", "Ana", ""]])
    second = run_sync(apply=True).run_id
    revert_url = reverse("admin:partners_syncrun_revert", args=[second])
    fingerprint = admin_client.get(revert_url).context["fingerprint"]
    PartnerTier.objects.update(poc="Someone else")
    response = admin_client.post(revert_url, {"fingerprint": fingerprint}, follow=True)
    assert "changed since the preview" in response.content.decode()
    assert PartnerTier.objects.get().tier == "Platinum"


def test_reverting_needs_the_sync_permission(synced, django_user_model, input_dir):
    from django.contrib.auth.models import Permission

    write_csv(input_dir / "partners_a.csv", [["Acme", "Platinum", "P", "Cisco", "Ana", ""]])
    second = run_sync(apply=True).run_id
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(codename__in=["view_partnertier", "view_syncrun"])
    )
    client = Client()
    client.force_login(viewer)
    revert_url = reverse("admin:partners_syncrun_revert", args=[second])
    assert client.get(revert_url).status_code == 200
    page = client.get(reverse("admin:partners_syncrun_change", args=[second])).content.decode()
    assert "Revert this sync" not in page
    assert client.post(revert_url, {"fingerprint": "x"}).status_code == 403
    assert PartnerTier.objects.get().tier == "Platinum"


def test_the_tier_changes_page_filters_by_period_and_oem_and_downloads_csv(
    admin_client, synced, input_dir
):
    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "Ana", ""]])
    run_sync(apply=True)
    url = reverse("admin:partners_syncrun_tier_changes")
    listing = admin_client.get(reverse("admin:partners_syncrun_changelist")).content.decode()
    assert url in listing
    page = admin_client.get(url, {"since": "2020-01-01", "oem": "cisco"})
    html = page.content.decode()
    assert page.status_code == 200 and "↑ up" in html and "Acme" in html
    assert page.context["summary"] == [
        ("Cisco", {"up": 1, "down": 0, "new": 1, "removed": 0, "changed": 0})
    ]
    assert admin_client.get(url, {"oem": "dell"}).context["changes"] == []
    download = admin_client.get(url, {"since": "2020-01-01", "format": "csv"})
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert lines[0].startswith("at,run_id,source") and len(lines) == 3
    bad = admin_client.get(url, {"since": "soon"})
    assert "not a date or time" in bad.content.decode()


def test_the_tier_changes_page_needs_the_view_permission(synced, django_user_model):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(reverse("admin:partners_syncrun_tier_changes")).status_code == 403
