"""Input bombs through every door (the command, the admin upload, an API dry run) in a child
process with its address space capped: each is read for what it really holds or refused naming
the file and the limit, within the time and memory bounds below, and nothing is written or
left stored.

Bounds: RLIMIT_AS 1 GiB (the old reader hit it on every XLSX bomb), peak RSS 300 MB, and 10 s
of wall time for the whole process, Django start-up included (the runs take 0.3–0.8 s on an
idle machine; the margin is for a busy 2-core CI machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import bombs

ROOT = Path(__file__).resolve().parent.parent
ADDRESS_SPACE = 1 << 30
PEAK_RSS_MB = 300
# The work is bounded in CPU time; wall time only catches a hang or a wait (on a shared
# machine, other processes stretch wall time: 10-20 s were seen with four suites on 2 cores).
CPU_SECONDS = 10.0
WALL_SECONDS = 30.0

# Runs the command as its only child, under the cap, and reports how it went.
MEASURE = """
import json, resource, subprocess, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{
    "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
    "seconds": time.perf_counter() - started,
    "cpu_seconds": usage.ru_utime + usage.ru_stime,
    "rss_mb": usage.ru_maxrss / 1024,
}}))
"""


# The admin upload and the API through Django's test client, in the measured child.
DOOR = """
import json, os, sys
import django
from django.test.utils import setup_test_environment

django.setup()
setup_test_environment()  # responses carry their template context
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from partners.models import PartnerTier, Upload
from partners.tokens import create_token

door, path = sys.argv[1], sys.argv[2]
name = os.path.basename(path)
user = get_user_model().objects.create_superuser(f"admin-{door}-{name}", "", "pw")
if door == "admin":
    client = Client()
    client.force_login(user)
    with open(path, "rb") as handle:
        upload = SimpleUploadedFile(name, handle.read())
    index = {".xlsx": "2", ".yaml": "3"}[os.path.splitext(name)[1]]
    response = client.post(
        "/admin/partners/partnertier/import/", {"import_file": upload, "format": index}
    )
    form = response.context["form"]
    shown = " ".join(form.errors.get("import_file", [])) if form else ""
    accepted = "confirm_form" in response.context
else:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {create_token(user)[1]}")
    body = json.dumps({"dry_run": True, "files": [name]})
    response = client.post("/v1/partners/sync", body, content_type="application/json")
    shown, accepted = response.json().get("detail", ""), response.status_code == 200
print(json.dumps({
    "status": response.status_code, "shown": shown, "accepted": accepted,
    "uploads": Upload.objects.filter(user=user).count(),
    "records": PartnerTier.objects.count(),
}))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bounds")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "PARTNERS_INPUT_DIR": str(folder / "input"),
        "PARTNERS_STORE_PATH": str(folder / "oems.json"),
        "DJANGO_SETTINGS_MODULE": "partnersite.settings",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    (folder / "input").mkdir()
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=300)
    return env


def measured(env: dict[str, str], command: list[str]) -> dict:
    script = MEASURE.format(cap=ADDRESS_SPACE)
    done = subprocess.run(
        [sys.executable, "-c", script, *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(done.stdout)


def within_bounds(run: dict) -> None:
    assert run["rss_mb"] <= PEAK_RSS_MB, run
    assert run["cpu_seconds"] <= CPU_SECONDS, run
    assert run["seconds"] <= WALL_SECONDS, run
    assert "Traceback" not in run["stderr"] and "MemoryError" not in run["stderr"], run


@pytest.mark.parametrize("name", sorted(bombs.files()))
def test_it_bounds_the_work_of_every_input_bomb(name, env, tmp_path):
    path = tmp_path / name
    path.write_bytes(bombs.files()[name])
    command = [sys.executable, str(ROOT / "manage.py"), "sync_partners", str(path)]
    run = measured(env, [*command, "--format", "json"])
    within_bounds(run)
    if name.startswith("accept_"):
        assert run["code"] == 0, run["stderr"]
        assert json.loads(run["stdout"])["summary"]["added"] == 1
    else:
        assert run["code"] == 2, run["stderr"]
        assert f"Failed to load {path}: " in run["stderr"]
        assert bombs.REASONS[name] in run["stderr"]
    assert not Path(env["PARTNERS_STORE_PATH"]).exists()


@pytest.mark.parametrize("door", ["admin", "api"])
@pytest.mark.parametrize("name", sorted(bombs.files()))
def test_the_admin_and_the_api_bound_every_input_bomb_too(name, door, env, tmp_path):
    path = tmp_path / name
    path.write_bytes(bombs.files()[name])
    run = measured(
        {**env, "PARTNERS_INPUT_DIR": str(tmp_path)}, [sys.executable, "-c", DOOR, door, str(path)]
    )
    within_bounds(run)
    answer = json.loads(run["stdout"])
    assert answer["records"] == 0
    if name.startswith("accept_"):
        assert answer["accepted"], answer
        assert answer["uploads"] == (1 if door == "admin" else 0)  # kept for the confirm
    else:
        assert not answer["accepted"] and answer["status"] in (200, 400), answer
        assert f"Failed to load {name}: " in answer["shown"]
        assert bombs.REASONS[name] in answer["shown"]
        assert answer["uploads"] == 0
