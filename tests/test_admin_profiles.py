"""Import profiles in the admin: listed and edited with their model permissions, and refused
with the engine's own reasons when a profile could not read a file."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from partners.models import ImportProfile

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:partners_importprofile_changelist")
ADD_URL = reverse("admin:partners_importprofile_add")
CISCO = {
    "name": "cisco-portal",
    "pattern": "cisco_*.xlsx",
    "sheet": "",
    "header_row": "",
    "delimiter": "",
    "columns": json.dumps([["Partner Name", "name"], ["Partner Level", "tier"]]),
    "constants": json.dumps([["oem", "Cisco"], ["program", "Cisco Partner Program"]]),
    "values": json.dumps([["tier", [["Gold Certified", "Gold"]]]]),
}


def staff(django_user_model, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("pm", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_a_profile_added_in_the_admin_is_listed_with_its_mapping(admin_client):
    response = admin_client.post(ADD_URL, CISCO)

    assert response.status_code == 302
    profile = ImportProfile.objects.get()
    assert profile.columns == [["Partner Name", "name"], ["Partner Level", "tier"]]
    assert profile.to_profile().value_maps() == {"tier": {"gold certified": "Gold"}}
    listing = admin_client.get(LIST_URL).content.decode()
    assert "cisco-portal" in listing and "Partner Level → tier" in listing
    assert "oem = Cisco" in listing


def test_a_profile_leaving_a_required_field_unmapped_is_refused_naming_it(admin_client):
    data = {**CISCO, "constants": json.dumps([["program", "Cisco Partner Program"]])}

    response = admin_client.post(ADD_URL, data)

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "required field 'oem' is neither mapped from a column nor a constant" in errors
    assert not ImportProfile.objects.exists()


def test_a_column_mapped_to_an_unknown_field_is_refused_naming_both(admin_client):
    data = {**CISCO, "columns": json.dumps([["Partner Name", "name"], ["Level", "rank"]])}

    response = admin_client.post(ADD_URL, data)

    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "column 'Level' maps to unknown field 'rank'" in errors
    assert not ImportProfile.objects.exists()


def test_columns_that_are_not_pairs_are_a_field_error_not_a_crash(admin_client):
    data = {**CISCO, "columns": json.dumps({"Partner Name": "name"})}

    response = admin_client.post(ADD_URL, data)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "Expected a list of pairs" in " ".join(form.errors["columns"])
    assert not ImportProfile.objects.exists()


def test_an_edit_is_checked_by_the_same_rule(admin_client):
    admin_client.post(ADD_URL, CISCO)
    profile = ImportProfile.objects.get()
    url = reverse("admin:partners_importprofile_change", args=[profile.pk])

    response = admin_client.post(url, {**CISCO, "constants": "[]"})

    assert response.status_code == 200
    assert "required field &#x27;program&#x27; is neither" in response.content.decode()
    assert ImportProfile.objects.get().constants == [
        ["oem", "Cisco"],
        ["program", "Cisco Partner Program"],
    ]


def test_a_viewer_sees_profiles_but_cannot_change_them(admin_client, django_user_model):
    admin_client.post(ADD_URL, CISCO)
    profile = ImportProfile.objects.get()
    client = staff(django_user_model, "view_importprofile")
    url = reverse("admin:partners_importprofile_change", args=[profile.pk])

    assert client.get(LIST_URL).status_code == 200
    assert client.post(url, {**CISCO, "pattern": "x_*"}).status_code == 403
    assert client.post(ADD_URL, {**CISCO, "name": "other"}).status_code == 403
    assert ImportProfile.objects.get().pattern == "cisco_*.xlsx"


def test_staff_without_the_profile_permissions_get_403(django_user_model):
    client = staff(django_user_model, "view_partnertier", "sync_partnertier")

    assert client.get(LIST_URL).status_code == 403
    assert client.post(ADD_URL, CISCO).status_code == 403
    assert not ImportProfile.objects.exists()
