from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# No per-example deadline: on a busy 2-core machine (CI, two workers) a slow example is not a
# failure; properties are about results, the benchmarks are about time.
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")

SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.fixture(autouse=True)
def no_list_marks(monkeypatch):
    """No test sees another's marks of the API list (see partners.api._marks): a test's
    database is rolled back, so its ledger's ids come again with other records."""
    monkeypatch.setattr("partners.api._marked", {})


@pytest.fixture(autouse=True)
def partner_paths(settings, tmp_path):
    """Every test gets its own input folder and store; nothing touches the repo's data/.
    Passwords are hashed fast: the admin tests log a user in hundreds of times."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PARTNERS_INPUT_DIR = tmp_path / "input"
    settings.PARTNERS_STORE_PATH = tmp_path / "store" / "oems.json"
    settings.PARTNERS_INPUT_DIR.mkdir()
    return settings


@pytest.fixture
def input_dir(settings) -> Path:
    return Path(settings.PARTNERS_INPUT_DIR)


@pytest.fixture
def store(settings) -> Path:
    return Path(settings.PARTNERS_STORE_PATH)
