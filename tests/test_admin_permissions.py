"""Who may do what in the admin: every role × every action, by status code and by effect."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from partners.models import PartnerTier, Upload
from partners.sync import run_sync
from partners.tokens import authenticate, create_token
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


# Every admin action of every ModelAdmin, listed from the admin site itself: a new action
# fails `test_every_admin_action_declares_its_permissions` and is missing from MATRIX below.


def registry() -> list[tuple[Any, Any]]:
    """Every registered model and its ModelAdmin. `_get_base_actions` is what Django's own
    `get_actions` filters by permission; it is read unfiltered here."""
    return list(admin.site._registry.items())


def site_actions() -> list[tuple[str, str]]:
    """(model label, action name) for every action any ModelAdmin offers, before the
    permission filter (so an action nobody may run is still checked)."""
    admin.autodiscover()  # the site registers in urls.py (SimpleAdminConfig); collection is earlier
    found = []
    for model, model_admin in registry():
        for _func, name, _description in model_admin._get_base_actions():
            found.append((model._meta.label_lower, name))
    return sorted(found)


def action_roles(label: str) -> dict[str, list[str] | str | None]:
    model = label.split(".")[1]
    crud = [f"{verb}_{model}" for verb in ("view", "add", "change", "delete")]
    return {
        "anonymous": None,
        "staff": [],
        "viewer": [f"view_{model}"],
        "editor": crud,
        "syncer": [f"view_{model}", "sync_partnertier"],
        "superuser": "all",
    }


# Who may run each action (written out, not read from the admin): the others are refused.
MATRIX = {
    ("auth.group", "delete_selected"): {"editor", "superuser"},
    ("auth.user", "delete_selected"): {"editor", "superuser"},
    ("partners.apitoken", "delete_selected"): {"editor", "superuser"},
    ("partners.apitoken", "revoke"): {"editor", "superuser"},
    ("partners.importprofile", "delete_selected"): {"editor", "superuser"},
    ("partners.oemalias", "delete_selected"): {"editor", "superuser"},
    ("partners.partnertier", "delete_selected"): {"editor", "superuser"},
    ("partners.partnertier", "export_to_obsidian"): {"syncer", "superuser"},
    ("partners.program", "delete_selected"): {"editor", "superuser"},
    ("partners.syncrun", "delete_selected"): set(),  # the history is read-only for everyone
}


def test_every_admin_action_declares_its_permissions():
    admin.autodiscover()
    undeclared = [
        (model._meta.label_lower, name)
        for model, model_admin in registry()
        for func, name, _ in model_admin._get_base_actions()
        if not getattr(func, "allowed_permissions", None)
    ]
    assert undeclared == []


def test_the_matrix_covers_every_admin_action():
    assert site_actions() == sorted(MATRIX)


def target_for(label: str, action: str, django_user_model, settings, tmp_path):
    """An object for the action to act on, and a check of whether the action had its effect."""
    model = apps.get_model(label)
    row: Any
    if label == "partners.apitoken":
        owner = django_user_model.objects.create_superuser("owner", "o@example.com", "pw")
        row, token = create_token(owner)
        if action == "revoke":
            return row, lambda: authenticate(token) is None
    elif label == "partners.partnertier":
        write_csv(settings.PARTNERS_INPUT_DIR / "partners_a.csv", [RECORD_ROW])
        run_sync(apply=True)
        settings.VAULT_ROOT = tmp_path / "vault"
        settings.VAULT_ROOT.mkdir()
        row = PartnerTier.objects.get()
        if action == "export_to_obsidian":
            return row, (settings.VAULT_ROOT / "30 Hubs" / "OEMs" / "Cisco.md").exists
    elif label == "auth.user":
        row = django_user_model.objects.create_user("victim", password="pw")
    else:
        row = any_row(model)
    if action != "delete_selected":
        raise AssertionError(f"say in target_for what {label} {action} does")
    return row, lambda: not model.objects.filter(pk=row.pk).exists()


SAMPLE_VALUES: dict[str, Any] = {
    "DateTimeField": timezone.now(),
    "GenericIPAddressField": "127.0.0.1",
    "IntegerField": 0,
    "PositiveIntegerField": 0,
    "BooleanField": False,
    "JSONField": {},
}


def any_row(model: Any) -> Any:
    """A row of any model: its required fields filled with plain values (so a newly
    registered model's delete action is in the matrix without a factory of its own)."""
    values = {
        field.name: SAMPLE_VALUES.get(field.get_internal_type(), "x")
        for field in model._meta.concrete_fields
        if not (field.primary_key or field.has_default() or field.null or field.blank)
    }
    return model.objects.create(**values)


RECORD_ROW = ["Acme", "Gold", "P", "Cisco", "", ""]


@pytest.mark.parametrize("role", list(action_roles("x.y")))
@pytest.mark.parametrize(("label", "action"), site_actions())
def test_each_role_may_run_exactly_the_admin_actions_its_permissions_allow(
    label, action, role, django_user_model, settings, tmp_path
):
    row, happened = target_for(label, action, django_user_model, settings, tmp_path)
    perms = action_roles(label)[role]
    client = Client()
    if perms == "all":
        client.force_login(django_user_model.objects.create_superuser(role, "r@example.com", "pw"))
    elif perms is not None:
        user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        app_label = label.split(".")[0]
        user.user_permissions.set(
            Permission.objects.filter(
                codename__in=perms, content_type__app_label__in=[app_label, "partners"]
            )
        )
        client.force_login(user)
    url = reverse(f"admin:{label.replace('.', '_')}_changelist")
    data = {"action": action, "_selected_action": [row.pk], "index": 0, "post": "yes"}

    response = client.post(url, data)

    if role in MATRIX[(label, action)]:
        assert response.status_code == 302 and happened()
    else:  # refused: 403, or the action is not offered (the list again, or a redirect to it)
        assert response.status_code in (200, 302, 403) and not happened()
