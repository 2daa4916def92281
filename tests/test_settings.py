"""Settings read from the environment, as a fresh process sees them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.reliability.harness import ROOT

PRINT = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'partnersite.settings'; "
    "from django.conf import settings; "
    "print(settings.PARTNERS_AUTO_EXPORT, settings.PARTNERS_NOTE_RECENT_CHANGES)"
)


def settings_with(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERS_", "VAULT_"))}
    done = subprocess.run(
        [sys.executable, "-c", PRINT],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return (done.stdout + done.stderr).strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False 10"),
        ({"VAULT_ROOT": "/tmp/vault"}, "True 10"),
        ({"VAULT_ROOT": "/tmp/vault", "PARTNERS_AUTO_EXPORT": "0"}, "False 10"),
        ({"PARTNERS_NOTE_RECENT_CHANGES": "0"}, "False 0"),
    ],
)
def test_auto_export_is_on_when_there_is_a_vault_unless_turned_off(env, expected):
    assert settings_with(**env) == expected


def test_a_negative_recent_changes_count_is_refused_by_name():
    assert "PARTNERS_NOTE_RECENT_CHANGES must be at least 0" in settings_with(
        PARTNERS_NOTE_RECENT_CHANGES="-1"
    )


@pytest.mark.parametrize(("prepare", "threshold"), [(None, "5"), ("1", "5"), ("0", "None")])
def test_postgresql_prepares_queries_unless_turned_off_for_a_pooler(prepare, threshold):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'partnersite.settings'; "
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['prepare_threshold'])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERS_")}
    env = {**clean, "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}
    if prepare is not None:
        env["PARTNERS_PG_PREPARE"] = prepare
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == threshold, done.stderr
