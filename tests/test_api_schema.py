"""schemathesis fuzzes every API operation from /v1/openapi.json, through WSGI, with a valid
token: no server error, and every response (status, content type, body, headers) is one the
schema documents."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from partners.sync import run_sync
from partners.tokens import create_token
from tests.helpers import write_csv

schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", get_wsgi_application())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection after each request, which would end
    the test's transaction; Django's test client keeps it open the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, keep_connection, django_user_model, input_dir, tmp_path, settings, monkeypatch):
    settings.VAULT_ROOT = tmp_path
    monkeypatch.setattr("partners.api.CHUNK", 1)  # the list of two records is streamed
    write_csv(
        input_dir / "partners_a.csv",
        [["Acme", "Gold", "P", "Cisco", "", ""], ["Beta", "Silver", "Q", "Dell", "x", "y"]],
    )
    run_sync(apply=True)
    user = django_user_model.objects.create_superuser("fuzz", "f@example.com", "pw")
    return create_token(user)[1]


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_keeps_to_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
