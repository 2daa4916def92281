"""The API as third-party clients see it: its schema is valid OpenAPI, and a client generated
from it by openapi-python-client reaches every operation of a live server."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from openapi_spec_validator import validate

from partners.models import Program
from partners.sync import run_sync
from partners.tokens import create_token
from tests.helpers import write_csv

PACKAGE = "partners_generated_client"
# No post hooks: the generator would run ruff over its output; nothing here needs the network.
CONFIG = f"post_hooks: []\npackage_name_override: {PACKAGE}\n"
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def operation_ids(schema: dict[str, Any]) -> set[str]:
    return {op["operationId"] for ops in schema["paths"].values() for op in ops.values()}


def test_the_served_schema_is_valid_openapi_with_unique_operation_ids(client):
    schema = client.get("/v1/openapi.json").json()
    validate(schema)  # raises, naming the first problem (e.g. a duplicate operationId)
    count = sum(len(ops) for ops in schema["paths"].values())
    assert len(operation_ids(schema)) == count == 9
    for ops in schema["paths"].values():
        for op in ops.values():
            assert {"401", "429"} <= set(op["responses"])


def generate(schema_file: Path, into: Path) -> Path:
    """Run openapi-python-client as a user would, with the network unreachable."""
    config = into / "config.yaml"
    config.write_text(CONFIG)
    package = into / PACKAGE
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            f"--path={schema_file}",
            f"--config={config}",
            f"--output-path={package}",
            "--meta=none",
        ],
        env={**os.environ, **OFFLINE},
        capture_output=True,
        text=True,
        timeout=300,  # under a second alone; generous for a busy 2-core machine
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    return package


@pytest.fixture
def generated(tmp_path, live_server) -> Iterator[ModuleType]:
    with urllib.request.urlopen(f"{live_server.url}/v1/openapi.json", timeout=60) as response:
        schema_file = tmp_path / "openapi.json"
        schema_file.write_bytes(response.read())
    generate(schema_file, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


def generated_operations(package: ModuleType) -> dict[str, ModuleType]:
    """Every operation module the generator wrote, under any tag."""
    api = importlib.import_module(f"{package.__name__}.api")
    found = {}
    for tag in pkgutil.iter_modules(api.__path__):
        group = importlib.import_module(f"{api.__name__}.{tag.name}")
        for module in pkgutil.iter_modules(group.__path__):
            found[module.name] = importlib.import_module(f"{group.__name__}.{module.name}")
    return found


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_reaches_every_operation_of_a_live_server(
    generated, live_server, input_dir, tmp_path, settings, django_user_model
):
    settings.VAULT_ROOT = tmp_path / "vault"
    settings.VAULT_ROOT.mkdir()
    write_csv(input_dir / "partners_a.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    run_id = run_sync(apply=True).run_id
    boss = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    token = create_token(boss)[1]
    client = generated.AuthenticatedClient(base_url=live_server.url, token=token)
    note = tmp_path / "vault" / "30 Hubs" / "OEMs" / "Cisco.md"
    models = importlib.import_module(f"{PACKAGE}.models")

    def list_partner_tiers(op: ModuleType) -> None:
        [record] = op.sync(client=client, oem="cisco")
        assert (record.name, record.tier, record.oem) == ("Acme", "Gold", "Cisco")
        page = op.sync_detailed(client=client, limit=1, offset=1)
        assert page.parsed == [] and page.headers["X-Total-Count"] == "1"

    def sync_partner_tiers(op: ModuleType) -> None:
        result = op.sync(client=client, body=models.SyncRequest(dry_run=True))
        assert result.dry_run is True and result.summary.unchanged == 1
        assert result.fingerprint  # the state it was computed from, for an apply

    def preview_obsidian_export(op: ModuleType) -> None:
        result = op.sync(client=client, prune=True)
        assert result.dry_run is True and str(note) in result.files_written
        assert not note.exists()

    def export_to_obsidian(op: ModuleType) -> None:
        result = op.sync(client=client)
        assert result.dry_run is False and str(note) in result.files_written
        assert note.exists()

    def list_sync_runs(op: ModuleType) -> None:
        page = op.sync(client=client, limit=10)
        assert page.count == 1 and page.items[0].id == run_id and page.items[0].source == "cli"

    def get_sync_run(op: ModuleType) -> None:
        run = op.sync(client=client, run_id=run_id)
        assert run.changes.count == 1 and run.changes.items[0].action == "added"

    def revert_sync_run(op: ModuleType) -> None:
        result = op.sync(client=client, run_id=run_id, body=models.RevertRequest(dry_run=True))
        assert result.reverts == run_id and [r.name for r in result.removed] == ["Acme"]

    def list_tier_changes(op: ModuleType) -> None:
        page = op.sync(client=client, run=run_id)
        [change] = page.items
        assert (change.from_, change.to, change.direction) == (None, "Gold", "new")

    def list_programs(op: ModuleType) -> None:
        Program.objects.create(oem="Cisco", program=None).tiers.create(position=0, name="Gold")
        page = op.sync(client=client)
        assert page.count == 1 and page.items[0].oem == "Cisco"
        assert page.items[0].tiers == ["Gold"]

    calls: dict[str, Callable[[ModuleType], None]] = {
        "list_partner_tiers": list_partner_tiers,
        "sync_partner_tiers": sync_partner_tiers,
        "preview_obsidian_export": preview_obsidian_export,
        "export_to_obsidian": export_to_obsidian,
        "list_sync_runs": list_sync_runs,
        "get_sync_run": get_sync_run,
        "revert_sync_run": revert_sync_run,
        "list_tier_changes": list_tier_changes,
        "list_programs": list_programs,
    }
    schema = json.loads((tmp_path / "openapi.json").read_text())
    operations = generated_operations(generated)
    # An operation the generator dropped, or one this test does not call, fails here.
    assert set(operations) == operation_ids(schema) == set(calls)
    for name, call in calls.items():
        call(operations[name])

    anonymous = generated.Client(base_url=live_server.url)
    refused = operations["list_partner_tiers"].sync_detailed(client=anonymous)
    assert refused.status_code == 401 and refused.parsed.detail == "Missing or invalid credentials"
