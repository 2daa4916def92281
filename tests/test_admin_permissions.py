"""Who may do what in the admin: every role × every action, by status code and by effect."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from partners.models import PartnerTier, Upload
from partners.sync import run_sync
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

ROLES = {
    "anonymous": None,
    "staff": [],
    "viewer": ["view_partnertier"],
    "editor": ["view_partnertier", "add_partnertier", "change_partnertier", "delete_partnertier"],
    "syncer": ["view_partnertier", "sync_partnertier"],
    "superuser": "all",
}
OK, DENIED, LOGIN = "ok", "denied", "login"

# What each role gets; anonymous is always sent to the login page.
EXPECTED = {
    "staff": dict.fromkeys(
        ["list", "view", "add", "change", "delete", "import", "confirm", "export", "sync"], DENIED
    ),
    "viewer": {
        **dict.fromkeys(["list", "view", "export"], OK),
        **dict.fromkeys(["add", "change", "delete", "import", "confirm", "sync"], DENIED),
    },
    "editor": {
        **dict.fromkeys(["list", "view", "add", "change", "delete", "export"], OK),
        **dict.fromkeys(["import", "confirm", "sync"], DENIED),
    },
    "syncer": {
        **dict.fromkeys(["list", "view", "export", "import", "confirm", "sync"], OK),
        **dict.fromkeys(["add", "change", "delete"], DENIED),
    },
    "superuser": dict.fromkeys(
        ["list", "view", "add", "change", "delete", "import", "confirm", "export", "sync"], OK
    ),
}
ACTIONS = list(EXPECTED["superuser"])
RECORD = {"name": "Acme", "tier": "Gold", "program": "P", "oem": "Cisco", "poc": "", "notes": ""}


@pytest.fixture
def record(input_dir) -> PartnerTier:
    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    run_sync(apply=True)
    return PartnerTier.objects.get()


def client_for(role: str, django_user_model) -> Client:
    client = Client()
    perms = ROLES[role]
    if perms is None:
        return client
    if perms == "all":
        user = django_user_model.objects.create_superuser(role, f"{role}@example.com", "pw")
    else:
        user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    client.force_login(user)
    return client


def act(client: Client, action: str, record: PartnerTier) -> tuple[int, bool]:
    """Do `action`; the status code and whether it had its effect."""
    change_url = reverse("admin:partners_partnertier_change", args=[record.pk])
    if action == "list":
        r = client.get(reverse("admin:partners_partnertier_changelist"))
        return r.status_code, r.status_code == 200
    if action == "view":
        r = client.get(change_url)
        return r.status_code, r.status_code == 200
    if action == "add":
        r = client.post(reverse("admin:partners_partnertier_add"), {**RECORD, "name": "New"})
        return r.status_code, PartnerTier.objects.filter(name="New").exists()
    if action == "change":
        r = client.post(change_url, {**RECORD, "tier": "Platinum"})
        return r.status_code, PartnerTier.objects.get(pk=record.pk).tier == "Platinum"
    if action == "delete":
        url = reverse("admin:partners_partnertier_delete", args=[record.pk])
        r = client.post(url, {"post": "yes"})
        return r.status_code, not PartnerTier.objects.filter(pk=record.pk).exists()
    if action == "import":
        data = b"name,tier,program,oem\nNew,Gold,P,Cisco\n"
        r = client.post(
            reverse("admin:partners_partnertier_import"),
            {"import_file": SimpleUploadedFile("p.csv", data), "format": "0"},
        )
        return r.status_code, Upload.objects.exists()
    if action == "confirm":
        r = client.post(reverse("admin:partners_partnertier_process_import"), {})
        return r.status_code, r.status_code == 302 and "login" not in r["Location"]
    if action == "export":
        r = client.get(reverse("admin:partners_partnertier_export"))
        return r.status_code, r.status_code == 200
    if action == "sync":
        r = client.get(reverse("admin:partners_partnertier_sync_folder"))
        return r.status_code, r.status_code == 200 and r.context["summary"]["unchanged"] == 1
    raise AssertionError(action)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_may_do_exactly_what_its_permissions_allow(
    role, action, record, django_user_model
):
    client = client_for(role, django_user_model)
    status, happened = act(client, action, record)
    if role == "anonymous":
        assert status == 302 and not happened
        return
    if EXPECTED[role][action] == OK:
        assert status in (200, 302) and happened
    else:
        assert status == 403 and not happened


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_users_without_the_sync_permission_see_no_import_or_sync_button(
    role, record, django_user_model
):
    page = client_for(role, django_user_model).get(reverse("admin:partners_partnertier_changelist"))
    html = page.content.decode()
    assert "import_link" not in html and "Sync from data folder" not in html
    assert "export_link" in html


def test_users_with_the_sync_permission_see_both_buttons(record, django_user_model):
    page = client_for("syncer", django_user_model).get(
        reverse("admin:partners_partnertier_changelist")
    )
    html = page.content.decode()
    assert "import_link" in html and "Sync from data folder" in html
