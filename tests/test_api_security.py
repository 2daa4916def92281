"""Who may call what, and what hostile requests get: always a 4xx with a JSON detail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from partners.models import PartnerTier
from partners.sync import run_sync
from partners.tokens import create_token, revoke
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

CALLS = {
    "list": ("get", "/v1/partners/tiers", None),
    "dry run": ("post", "/v1/partners/sync", {"dry_run": True}),
    "apply": ("post", "/v1/partners/sync", {"dry_run": False}),
    "export get": ("get", "/v1/partners/export/obsidian", None),
    "export post": ("post", "/v1/partners/export/obsidian", None),
}
ALL_OK = dict.fromkeys(CALLS, 200)
EXPECTED = {
    "anonymous": dict.fromkeys(CALLS, 401),
    "bad token": dict.fromkeys(CALLS, 401),
    "revoked token": dict.fromkeys(CALLS, 401),
    "viewer token": {
        "list": 200,
        "dry run": 200,
        "apply": 403,
        "export get": 403,
        "export post": 403,
    },
    "syncer token": ALL_OK,
    "session with csrf": ALL_OK,
    "session without csrf": {**ALL_OK, "dry run": 403, "apply": 403, "export post": 403},
    # A token is not subject to CSRF, even beside a session cookie; a bad token is a 401
    # even beside a good session: the credentials a client sent are the ones answered.
    "token beside a session without csrf": ALL_OK,
    "bad token beside a session with csrf": dict.fromkeys(CALLS, 401),
    "bad token beside a session without csrf": dict.fromkeys(CALLS, 401),
    "basic credentials": dict.fromkeys(CALLS, 401),  # not a scheme this API takes
}


@pytest.fixture
def world(input_dir, tmp_path, settings):
    settings.VAULT_ROOT = tmp_path
    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    run_sync(apply=True)


def user(django_user_model, name, *codenames, staff=False):
    created = django_user_model.objects.create_user(name, password="pw", is_staff=staff)
    created.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return created


def caller(role: str, django_user_model) -> tuple[Client, dict[str, str]]:
    """A client as a browser or a script would be: Django's CSRF checks on, always."""
    sync_perms = ("view_partnertier", "sync_partnertier")
    token = ""
    if role.startswith("bad token"):
        token = "pts_nothing_here"
    elif role == "revoked token":
        row, token = create_token(user(django_user_model, "gone", *sync_perms))
        revoke(row)
    elif role == "viewer token":
        _, token = create_token(user(django_user_model, "viewer", "view_partnertier"))
    elif role.startswith(("syncer token", "token beside")):
        _, token = create_token(user(django_user_model, "syncer", *sync_perms))
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if role == "basic credentials":
        auth = {"HTTP_AUTHORIZATION": "Basic YWRtaW46cGFzc3dvcmQ="}
    client = Client(enforce_csrf_checks=True, **auth)
    if "session" not in role:
        return client, {}
    client.force_login(user(django_user_model, "staff", *sync_perms, staff=True))
    if "with csrf" not in role:
        return client, {}
    client.get("/admin/")  # a page with a form sets the CSRF cookie
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_caller_gets_exactly_what_its_credentials_allow(role, call, world, django_user_model):
    client, headers = caller(role, django_user_model)
    method, url, body = CALLS[call]
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body else {}
    response = getattr(client, method)(url, **kwargs, **headers)
    assert response.status_code == EXPECTED[role][call], response.content
    assert isinstance(response.json(), dict | list)
    if response.status_code == 401:
        assert response["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"detail": "Missing or invalid credentials"}
    if response.status_code == 403 and "session" in role:
        assert response.json() == {"detail": "CSRF check Failed"}
    applied = call == "apply" and response.status_code == 200
    assert PartnerTier.objects.count() == 1 and (not applied or response.json()["applied"])


HOSTILE_BODIES = {
    "wrong type": json.dumps({"dry_run": "false"}),
    "null": "null",
    "null field": json.dumps({"dry_run": None}),
    "list": json.dumps([True]),
    "number": "1",
    "NaN": '{"dry_run": NaN}',
    "Infinity": '{"prune": Infinity}',
    "5000 digits": '{"dry_run": ' + "9" * 5000 + "}",
    "nesting 1000": '{"files": ' + "[" * 1000 + "]" * 1000 + "}",
    "nesting 100000": "[" * 100_000 + "]" * 100_000,
    "not utf-8": b'{"dry_run": "\xff\xfe"}',
    "unknown key": json.dumps({"dry_run": True, "drop": "tables"}),
    "files not a list": json.dumps({"files": "partners_a.csv"}),
    "file names not strings": json.dumps({"files": [1, 2]}),
    "traversal": json.dumps({"files": ["../../etc/passwd"]}),
    "absolute": json.dumps({"files": ["/etc/passwd"]}),
    "nul": json.dumps({"files": ["a\u0000.csv"]}),
    "truncated": '{"dry_run": tr',
    "empty object key": json.dumps({"": 1}),
    "huge fingerprint": json.dumps({"expected_fingerprint": "x" * 10_000}),
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_bodies_get_a_4xx_with_a_readable_detail(name, world, django_user_model):
    client, _ = caller("syncer token", django_user_model)
    body = HOSTILE_BODIES[name]
    response = client.post("/v1/partners/sync", data=body, content_type="application/json")
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert b"Traceback" not in response.content
    assert PartnerTier.objects.count() == 1


def test_a_20_mb_body_is_a_413(world, django_user_model):
    client, _ = caller("syncer token", django_user_model)
    body = json.dumps({"files": ["x" * 1000] * 20_000})
    assert len(body) > 20_000_000
    response = client.post("/v1/partners/sync", data=body, content_type="application/json")
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_a_body_that_is_not_json_is_a_400(world, django_user_model):
    client, _ = caller("syncer token", django_user_model)
    response = client.post("/v1/partners/sync", data="dry_run=false", content_type="text/plain")
    assert response.status_code == 400
    assert "Send JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=-1", "offset=-5", "limit=abc", "oem=" + "x" * 500, "q=%00", "tier=a%0Ab"],
)
def test_bad_list_parameters_are_a_422_with_field_errors(query, world, django_user_model):
    client, _ = caller("viewer token", django_user_model)
    response = client.get(f"/v1/partners/tiers?{query}")
    assert response.status_code == 422
    data = response.json()
    assert data["detail"].startswith("Malformed request: ")
    assert data["errors"][0]["field"] in ("limit", "offset", "oem", "q", "tier")


@pytest.mark.parametrize("field", ["profile", "source"])
def test_a_sync_naming_a_profile_or_source_with_a_nul_is_a_422_not_a_500(
    field, world, django_user_model
):
    client, _ = caller("syncer token", django_user_model)
    response = client.post(
        "/v1/partners/sync", data=json.dumps({field: "bench\x00"}), content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
