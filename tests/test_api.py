"""The HTTP API through Django's test client: the seed's curl examples, errors, tokens."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from partners.models import ApiToken, PartnerTier, SyncRun
from partners.obsidian import export_obsidian
from partners.sync import run_sync
from partners.tokens import create_token, revoke
from tests.helpers import run, write_csv, write_json

pytestmark = pytest.mark.django_db

TIERS = "/v1/partners/tiers"
SYNC = "/v1/partners/sync"
EXPORT = "/v1/partners/export/obsidian"
SEED_KEYS = ["name", "tier", "program", "oem", "poc", "notes", "updated_at", "created_at"]
BASE = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", "Premier partner"],
    ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "Jane Smith", "Top tier"],
]


def token_client(user) -> Client:
    _, token = create_token(user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def user_with(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, password="pw")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def syncer(django_user_model):
    return user_with(django_user_model, "syncer", "view_partnertier", "sync_partnertier")


@pytest.fixture
def api(syncer) -> Client:
    return token_client(syncer)


@pytest.fixture
def base(input_dir):
    write_csv(input_dir / "partners_base.csv", BASE)
    assert run_sync(apply=True).applied


def post(client: Client, body: object = None, **extra):
    if body is None:
        return client.post(SYNC, **extra)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(SYNC, data=data, content_type="application/json", **extra)


# The seed's curl examples.


def test_list_partner_tiers_is_a_bare_list_of_seed_records_ordered_by_oem_and_name(api, base):
    response = api.get(TIERS)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    records = response.json()
    assert [list(r) for r in records] == [SEED_KEYS, SEED_KEYS]
    assert [(r["oem"], r["name"]) for r in records] == [
        ("Cisco", "Red River Technology"),
        ("Nutanix", "Tech Solutions"),
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", records[0]["updated_at"])


def test_the_list_filters_and_pages(api, base, input_dir):
    write_csv(
        input_dir / "partners_more.csv",
        [["Acme", "Silver", "Cisco PTP", "cisco", "", ""], ["Zeta", "Gold", "P", "Cisco", "", ""]],
    )
    run_sync(apply=True)
    names = lambda **q: [r["name"] for r in api.get(TIERS, q).json()]  # noqa: E731
    assert names(oem="CISCO") == ["Acme", "Red River Technology", "Zeta"]
    assert names(tier="gold") == ["Red River Technology", "Zeta"]
    assert names(program="cisco ptp") == ["Acme", "Red River Technology"]
    assert names(q="river") == ["Red River Technology"]
    assert names(limit=2) == ["Acme", "Red River Technology"]
    assert names(limit=2, offset=2) == ["Zeta", "Tech Solutions"]


def test_sync_is_a_dry_run_by_default_in_the_seed_shape(api, base, input_dir):
    write_csv(input_dir / "partners_new.csv", [["New Partner", "Silver", "APN", "aws", "", ""]])
    for response in (post(api), post(api, {}), post(api, {"dry_run": True})):
        assert response.status_code == 200
        data = response.json()
        assert list(data)[:5] == ["dry_run", "added", "updated", "unchanged", "applied"]
        assert data["dry_run"] is True and data["applied"] is False
        assert [r["name"] for r in data["added"]] == ["New Partner"]
        assert data["added"][0]["oem"] == "AWS" and data["added"][0]["poc"] is None
        assert data["fingerprint"]
    assert not PartnerTier.objects.filter(name="New Partner").exists()
    assert not SyncRun.objects.filter(source="api").exists()


def test_an_actual_sync_applies_and_is_recorded(api, base, input_dir, syncer):
    write_csv(input_dir / "partners_new.csv", [["New Partner", "Silver", "APN", "aws", "", ""]])
    response = post(api, {"dry_run": False})
    data = response.json()
    assert response.status_code == 200
    assert data["dry_run"] is False and data["applied"] is True
    assert PartnerTier.objects.filter(name="New Partner").exists()
    run_row = SyncRun.objects.latest("started_at")
    assert (run_row.source, run_row.user, run_row.applied) == ("api", syncer, True)


def test_an_apply_with_a_stale_fingerprint_is_a_409(api, base, input_dir):
    write_csv(input_dir / "partners_new.csv", [["New Partner", "Silver", "APN", "aws", "", ""]])
    fingerprint = post(api).json()["fingerprint"]
    PartnerTier.objects.filter(name="Tech Solutions").update(tier="Gold")

    response = post(api, {"dry_run": False, "expected_fingerprint": fingerprint})

    assert response.status_code == 409
    assert "changed since the preview" in response.json()["detail"]
    assert not PartnerTier.objects.filter(name="New Partner").exists()
    fresh = post(api).json()["fingerprint"]
    ok = post(api, {"dry_run": False, "expected_fingerprint": fresh})
    assert ok.status_code == 200 and ok.json()["applied"]


def test_files_names_files_in_the_input_folder_only(api, base, input_dir):
    write_json(
        input_dir / "other.json", [{"name": "X", "tier": "Gold", "program": "P", "oem": "Y"}]
    )
    response = post(api, {"files": ["other.json"]})
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["added"]] == ["X"]
    for name in ["../secret.csv", "/etc/passwd", "a/b.csv", "..", "x\\y.csv", ""]:
        response = post(api, {"files": [name]})
        assert response.status_code == 400, name
        assert "not a file name inside the input folder" in response.json()["detail"]


def test_a_missing_file_keeps_the_seeds_message(api, base):
    response = post(api, {"files": ["partners_gone.csv"]})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Failed to load ")


def test_validation_failure_is_a_400_listing_every_error(api, base, input_dir):
    write_json(input_dir / "partners_bad.json", [{"tier": "Gold", "program": "P", "oem": "X"}, {}])
    response = post(api, {"dry_run": False})
    data = response.json()
    assert response.status_code == 400
    assert data["detail"].startswith("Validation failed: ")
    assert "Record 0: missing name" in data["detail"]
    assert {"file", "line", "field", "message"} <= set(data["errors"][0])
    assert data["errors"][0]["line"] == 0 and data["errors"][0]["field"] == "name"
    assert len(data["errors"]) == 5
    assert PartnerTier.objects.count() == 2


def test_export_needs_vault_root(api, settings):
    settings.VAULT_ROOT = None
    for method in (api.get, api.post):
        response = method(EXPORT)
        assert response.status_code == 503
        assert response.json() == {"detail": "VAULT_ROOT environment variable not set"}


def test_the_seeds_get_export_answers_a_dry_run_in_the_seed_shape_and_post_writes(
    api, base, tmp_path, settings
):
    settings.VAULT_ROOT = tmp_path
    note = tmp_path / "30 Hubs" / "OEMs" / "Cisco.md"
    response = api.get(EXPORT)
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "success" and data["oems_count"] == 2 and data["dry_run"] is True
    assert str(note) in data["files_written"]
    assert not note.exists()
    assert api.get(f"{EXPORT}?dry_run=false").json()["dry_run"] is True and not note.exists()
    written = api.post(EXPORT).json()
    assert written["dry_run"] is False and str(note) in written["files_written"]
    assert note.exists()
    again = api.post(EXPORT).json()
    assert again["files_written"] == [] and len(again["files_unchanged"]) == 3


def test_a_get_export_with_prune_from_a_session_moves_nothing(
    base, input_dir, tmp_path, settings, django_user_model
):
    settings.VAULT_ROOT = tmp_path
    note = tmp_path / "30 Hubs" / "OEMs" / "Nutanix.md"
    trashed = tmp_path / ".trash" / "Nutanix.md"
    export_obsidian()
    write_csv(input_dir / "partners_base.csv", BASE[:1])
    assert run_sync(apply=True, prune=True).applied  # Nutanix has no records now
    export_obsidian()  # its note is inactive: a prune would trash it
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))

    response = client.get(f"{EXPORT}?prune=true&dry_run=false")  # a link on another site

    assert response.status_code == 200
    assert response.json()["dry_run"] is True and response.json()["trashed"] == [str(trashed)]
    assert note.exists() and not trashed.exists()
    client.get("/admin/")  # the CSRF cookie, as a page of the admin sets it
    token = client.cookies["csrftoken"].value
    posted = client.post(f"{EXPORT}?prune=true", HTTP_X_CSRFTOKEN=token)
    assert posted.status_code == 200 and posted.json()["trashed"] == [str(trashed)]
    assert trashed.exists() and not note.exists()


# Every response.


def test_every_response_carries_a_request_id_and_the_latency(api, base):
    responses = [
        api.get(TIERS),
        post(api, "{bad json"),
        Client().get(TIERS),
        api.get("/v1/nothing/here"),
        api.delete(TIERS),
        api.get("/v1/openapi.json"),
    ]
    for response in responses:
        assert uuid.UUID(response["x-request-id"])
        assert float(response["x-latency-ms"]) >= 0
        assert response["Content-Type"] == "application/json"
        if response.status_code >= 400:
            assert isinstance(response.json()["detail"], str)
    assert [r.status_code for r in responses] == [200, 400, 401, 404, 405, 200]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123_X.y", True), ("x" * 128, True), ("x" * 129, False), ("bad id!", False), ("", False)],
)
def test_a_callers_request_id_is_kept_only_when_it_is_safe(api, given, kept):
    response = api.get(TIERS, HTTP_X_REQUEST_ID=given)
    assert (response["x-request-id"] == given) is kept


def test_one_structured_log_line_per_request(api, base, caplog, syncer):
    with caplog.at_level(logging.INFO, logger="partners.api"):
        api.get(TIERS, HTTP_X_REQUEST_ID="trace-1")
    [line] = [json.loads(r.message) for r in caplog.records if r.name == "partners.api"]
    assert line["method"] == "GET" and line["path"] == TIERS and line["status"] == 200
    assert line["request_id"] == "trace-1" and line["user"] == "syncer"
    assert line["latency_ms"] >= 0


def test_an_unexpected_error_is_a_500_with_the_request_id_and_no_traceback(api, base, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("partners.api.run_sync", boom)
    response = post(api, HTTP_X_REQUEST_ID="req-500")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error", "request_id": "req-500"}
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


# Tokens.


def test_tokens_are_stored_hashed_and_record_their_last_use(syncer):
    row, token = create_token(syncer, "ci")
    assert token.startswith(f"pts_{row.prefix}_") and token not in row.token_hash
    assert row.last_used_at is None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_revoked_or_tampered_token_is_a_401(syncer):
    row, token = create_token(syncer)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {tampered}").get(TIERS).status_code == 401
    revoke(row)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"


def test_create_api_token_prints_the_token_once(syncer):
    out, err, code = run("create_api_token", "syncer", "--name", "script")
    token = out.strip()
    assert code == 0 and token.startswith("pts_")
    assert ApiToken.objects.get().name == "script"
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 200
    _, err, code = run("create_api_token", "nobody")
    assert code == 2 and "No user 'nobody'" in err


def test_the_admin_creates_a_token_shown_once_and_revokes_it(admin_client, admin_user):
    response = admin_client.post(
        "/admin/partners/apitoken/add/", {"user": admin_user.pk, "name": "portal"}, follow=True
    )
    [message] = [m for m in response.context["messages"] if "new token" in str(m)]
    found = re.search(r"pts_\S+", str(message))
    assert found is not None
    token = found.group()
    row = ApiToken.objects.get()
    assert token not in row.token_hash
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 200
    admin_client.post(
        "/admin/partners/apitoken/", {"action": "revoke", "_selected_action": [row.pk]}
    )
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 401


# Docs.


def test_the_schema_and_the_docs_are_served(client):
    schema = client.get("/v1/openapi.json").json()
    assert {"/v1/partners/tiers", "/v1/partners/sync", "/v1/partners/export/obsidian"} <= set(
        schema["paths"]
    )
    assert set(schema["paths"]["/v1/partners/export/obsidian"]) == {"get", "post"}
    docs = client.get("/v1/docs")
    assert docs.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in docs.content  # served here, no CDN


# Symlinks and the paths errors show.


@pytest.fixture
def viewer_api(django_user_model) -> Client:
    return token_client(user_with(django_user_model, "viewer", "view_partnertier"))


@pytest.fixture
def symlinked(input_dir, tmp_path):
    outside = write_csv(tmp_path / "passwd.csv", [["Leaked", "Gold", "P", "Cisco", "", ""]])
    (input_dir / "partners_x.csv").symlink_to(outside)
    return outside


@pytest.mark.parametrize("body", [{}, {"files": ["partners_x.csv"]}], ids=["folder", "files"])
def test_it_refuses_a_symlinked_input_the_same_way_for_the_folder_and_for_files(
    viewer_api, base, symlinked, tmp_path, body
):
    response = post(viewer_api, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "Refusing partners_x.csv: it is a symbolic link"}


def test_errors_a_viewer_sees_carry_no_absolute_server_path(viewer_api, base, tmp_path):
    response = post(viewer_api, {"files": ["partners_gone.csv"]})
    assert response.status_code == 400
    assert response.json() == {"detail": "Failed to load partners_gone.csv: no such file"}


def test_an_empty_input_folder_is_named_without_its_server_path(viewer_api, input_dir, tmp_path):
    response = post(viewer_api, {})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("No input files: no partners_*") and str(tmp_path) not in detail
    assert detail.endswith(" in the input folder")
