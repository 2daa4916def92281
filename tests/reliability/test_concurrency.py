"""Concurrent writers through every door, on the suite's database (SQLite or PostgreSQL).

`make test` runs 3 rounds; `make stress` (PARTNERS_STRESS_ROUNDS=50) 50.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client

from partners.db import read_rows
from partners.models import PartnerTier
from partners.store import render
from partners.tokens import create_token
from tests.helpers import write_csv
from tests.test_concurrent_sync import start_sync

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = int(os.environ.get("PARTNERS_STRESS_ROUNDS", "3"))
SHARED = 200  # keys every input writes


def write_input(folder, index: int):
    """Input `index`: the shared keys at its own tier and program, plus 50 keys of its own."""
    shared = [[f"Shared {k}", "Gold", f"Program {index}", "Acme", "", ""] for k in range(SHARED)]
    own = [[f"Own {index}-{k}", "Silver", "P", f"OEM {index}", "", ""] for k in range(50)]
    return write_csv(folder / f"in_{index}.csv", shared + own)


def test_concurrent_applies_end_in_a_serial_order_with_no_lock_errors(input_dir, store):
    rng = random.Random(42)
    for round_ in range(ROUNDS):
        with connection.cursor() as cursor:  # an empty database: no records, no bases
            cursor.execute("DELETE FROM partners_partnertier")
            cursor.execute("DELETE FROM partners_sourcebase")
            cursor.execute("DELETE FROM partners_source")
        writers = rng.randint(2, 8)
        paths = [write_input(input_dir, i) for i in range(writers)]
        procs = [start_sync(path, store) for path in paths]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, f"round {round_}: {err}"
            assert "locked" not in err.lower()
        rows = read_rows()
        assert len(rows) == SHARED + 50 * writers  # no duplicates, nothing lost
        assert len({r.key for r in rows}) == len(rows)
        programs = Counter(r.program for r in rows if r.name.startswith("Shared"))
        assert len(programs) == 1, f"round {round_}: shared rows mix inputs {programs}"
        last = int(next(iter(programs)).split()[-1])
        # In a serial order the last writer saw every other writer's shared rows.
        results = [json.loads(out) for out, _ in outputs]
        assert results[last]["summary"]["added"] in (50, 50 + SHARED)
        assert sum(r["summary"]["added"] for r in results) == SHARED + 50 * writers
        assert store.read_bytes() == render(rows)


@pytest.fixture
def syncer_token(django_user_model):
    user = django_user_model.objects.create_user("syncer", password="pw")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_partnertier", "sync_partnertier"])
    )
    return create_token(user)[1]


def test_twenty_parallel_api_applies_answer_200_or_409_and_lose_nothing(
    live_server, input_dir, syncer_token
):
    import urllib.error
    import urllib.request

    for i in range(20):
        write_csv(
            input_dir / f"partners_{i:02}.csv",
            [[f"Api {i}-{k}", "Gold", "P", f"OEM {i % 4}", "", ""] for k in range(30)]
            + [["Shared", "Gold", f"From {i}", "Acme", "", ""]],
        )
    statuses: list[int] = []
    applied: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        body = json.dumps({"dry_run": False, "files": [f"partners_{i:02}.csv"]}).encode()
        request = urllib.request.Request(
            f"{live_server.url}/v1/partners/sync",
            data=body,
            headers={"Authorization": f"Bearer {syncer_token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status = response.status
                assert json.loads(response.read())["applied"] is True
        except urllib.error.HTTPError as exc:
            status = exc.code
        with lock:
            statuses.append(status)
            if status == 200:
                applied.append(i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert set(statuses) <= {200, 409}, statuses
    names = set(PartnerTier.objects.values_list("name", flat=True))
    for i in range(20):
        mine = {f"Api {i}-{k}" for k in range(30)}
        assert (mine <= names) is (i in applied)  # applied whole, or not at all
    assert PartnerTier.objects.filter(name="Shared").count() == (1 if applied else 0)
    connections.close_all()


def test_a_command_line_sync_during_an_admin_confirm(admin_user, input_dir, store):
    base = write_csv(input_dir / "base.csv", [["Acme", "Gold", "P", "Cisco", "", ""]])
    start_sync(base, store).communicate(timeout=120)
    client = Client()
    client.force_login(admin_user)
    upload = b"name,tier,program,oem\nAcme,Platinum,P,Cisco\nNew Co,Silver,P,Cisco\n"
    preview = client.post(
        "/admin/partners/partnertier/import/",
        {"import_file": SimpleUploadedFile("portal.csv", upload), "format": "0"},
    )
    cli_input = write_csv(input_dir / "cli.csv", [["Acme", "Bronze", "P", "Cisco", "", ""]])

    cli = start_sync(cli_input, store)
    confirm = client.post(
        "/admin/partners/partnertier/process_import/", preview.context["confirm_form"].initial
    )
    _out, err = cli.communicate(timeout=120)

    assert cli.returncode == 0, err
    assert confirm.status_code == 302  # applied, or refused with a message; never a 500
    # Either the confirm went first and the command applied its file on top, or the command
    # went first and the confirm, seeing a changed database, was refused. Never the stale
    # preview written over the command's change:
    assert PartnerTier.objects.get(name="Acme").tier == "Bronze"
    assert store.read_bytes() == render(read_rows())
    connections.close_all()
