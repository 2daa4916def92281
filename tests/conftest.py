from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent / "samples"


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
