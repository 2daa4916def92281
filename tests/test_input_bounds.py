"""Input bombs through the command in a child process with its address space capped: each is
read for what it really holds or refused naming the file and the limit, within the time and
memory bounds below, and nothing is written.

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
WALL_SECONDS = 10.0

# Runs the command as its only child, under the cap, and reports how it went.
MEASURE = """
import json, resource, subprocess, sys, time
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
print(json.dumps({{
    "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
    "seconds": time.perf_counter() - started,
    "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}}))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bounds")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "PARTNERS_INPUT_DIR": str(folder / "input"),
        "PARTNERS_STORE_PATH": str(folder / "oems.json"),
    }
    (folder / "input").mkdir()
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=300)
    return env


def measured(env: dict[str, str], path: Path) -> dict:
    command = [sys.executable, str(ROOT / "manage.py"), "sync_partners", str(path)]
    script = MEASURE.format(cap=ADDRESS_SPACE)
    done = subprocess.run(
        [sys.executable, "-c", script, *command, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", sorted(bombs.files()))
def test_it_bounds_the_work_of_every_input_bomb(name, env, tmp_path):
    path = tmp_path / name
    path.write_bytes(bombs.files()[name])
    run = measured(env, path)
    assert run["rss_mb"] <= PEAK_RSS_MB, run
    assert run["seconds"] <= WALL_SECONDS, run
    assert "Traceback" not in run["stderr"] and "MemoryError" not in run["stderr"]
    if name.startswith("accept_"):
        assert run["code"] == 0, run["stderr"]
        assert json.loads(run["stdout"])["summary"]["added"] == 1
    else:
        assert run["code"] == 2, run["stderr"]
        assert f"Failed to load {path}: " in run["stderr"]
        assert bombs.REASONS[name] in run["stderr"]
    assert not Path(env["PARTNERS_STORE_PATH"]).exists()
