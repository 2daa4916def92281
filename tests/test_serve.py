"""The production-like server: gunicorn, DEBUG off, static files served, deploy checks clean."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PARTNERS_STORE_PATH": str(tmp_path / "oems.json"),
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DJANGO_DEBUG": "0",
        **extra,
    }


def test_deploy_checks_are_clean_with_production_settings(tmp_path):
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env_for(tmp_path, DJANGO_HTTPS="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "System check identified no issues" in proc.stdout


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn is not installed")
def test_gunicorn_serves_the_api_and_static_files_with_debug_off(tmp_path):
    env = env_for(tmp_path)
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "partnersite.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # two workers start slowly on a busy machine
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/v1/openapi.json", timeout=30)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        css = urllib.request.urlopen(f"{base}/static/admin/css/base.css", timeout=30)
        assert css.status == 200 and b"body" in css.read()
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{base}/v1/partners/tiers", timeout=30)
        assert denied.value.code == 401
        assert denied.value.headers["x-request-id"] and denied.value.headers["x-latency-ms"]
        assert b"Missing or invalid credentials" in denied.value.read()
    finally:
        server.terminate()
        server.wait(timeout=10)
