"""Failed authentication is throttled per client, in the database: bad API tokens (429 with
Retry-After) and wrong admin passwords (django-axes), whichever server process answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.utils import timezone

from partners.models import ApiAuthFailure
from partners.tokens import create_token
from partnersite.env import envint

TIERS = "/v1/partners/tiers"
REPO = Path(__file__).resolve().parent.parent
BAD = "Bearer pts_0123456789ab_guess"  # well formed, unknown


@pytest.fixture
def limit(settings):
    settings.PARTNERS_API_FAILURE_LIMIT = 5
    settings.PARTNERS_API_FAILURE_WINDOW = 600
    return 5


@pytest.fixture
def token(django_user_model):
    user = django_user_model.objects.create_user("script", password="pw")
    user.user_permissions.set(Permission.objects.filter(codename="view_partnertier"))
    return create_token(user)[1]


def database_url() -> str:
    """The test database, as another process would be pointed at it."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


ANOTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.test import Client
answers = []
for address in sys.argv[2:]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {sys.argv[1]}", REMOTE_ADDR=address)
    response = client.get("/v1/partners/tiers")
    answers.append([response.status_code, response.get("Retry-After"), response.json()])
print(json.dumps(answers))
"""


@pytest.mark.django_db(transaction=True)
def test_it_refuses_tokens_from_a_client_past_the_limit_in_every_process(limit, token):
    guesser = Client(HTTP_AUTHORIZATION=BAD)
    assert [guesser.get(TIERS).status_code for _ in range(limit)] == [401] * limit
    refused = guesser.get(TIERS)
    assert refused.status_code == 429
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert refused.json() == {
        "detail": f"Too many bad tokens from your address; retry in {refused['Retry-After']} s"
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "partnersite.settings",
        "DATABASE_URL": database_url(),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "PARTNERS_API_FAILURE_LIMIT": str(limit),
    }
    # Another server process: its memory knows nothing of the failures above.
    done = subprocess.run(
        [sys.executable, "-c", ANOTHER_PROCESS, token, "127.0.0.1", "10.0.0.2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    same_client, other_client = json.loads(done.stdout.splitlines()[-1])
    assert same_client[0] == 429 and int(same_client[1]) > 0  # even a good token: no oracle
    assert other_client[0] == 200 and other_client[2] == []


@pytest.mark.django_db
def test_a_client_may_try_again_once_its_failures_leave_the_window(limit, token):
    anonymous = Client()  # no token at all: a 401, but not a guess
    assert {anonymous.get(TIERS).status_code for _ in range(limit * 2)} == {401}
    assert not ApiAuthFailure.objects.exists()
    guesser = Client(HTTP_AUTHORIZATION=BAD)
    for _ in range(limit):
        guesser.get(TIERS)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 429
    ApiAuthFailure.objects.update(failed_at=timezone.now() - timedelta(seconds=601))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 200
    assert guesser.get(TIERS).status_code == 401
    assert ApiAuthFailure.objects.count() == 1  # the expired ones were cleared


@pytest.mark.django_db
def test_a_known_token_prefix_with_a_wrong_secret_counts_and_is_refused_once_blocked(limit, token):
    # The token's row is found (its prefix is real): the throttle is read in the same query.
    wrong = Client(HTTP_AUTHORIZATION=f"Bearer {token.rpartition('_')[0]}_wrong")
    assert [wrong.get(TIERS).status_code for _ in range(limit)] == [401] * limit
    assert ApiAuthFailure.objects.count() == limit
    assert wrong.get(TIERS).status_code == 429
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(TIERS).status_code == 429
    assert Client(HTTP_AUTHORIZATION=BAD).get(TIERS).status_code == 429
    assert ApiAuthFailure.objects.count() == limit  # refused ones are not counted


# The admin's login form (django-axes).

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    return settings.AXES_COOLOFF_TIME.total_seconds()


def log_in(password: str, address: str = "127.0.0.1"):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": "boss", "password": password})


@pytest.mark.django_db
def test_it_locks_out_a_username_from_an_address_after_the_limit_until_the_cool_off(
    lockout, django_user_model
):
    django_user_model.objects.create_superuser("boss", "b@example.com", "right")
    assert [log_in("wrong").status_code for _ in range(2)] == [200, 200]
    locked = log_in("wrong")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins for “boss” from your address (3 in a row)" in text
    assert "Logging in is locked for 0:00:02 (h:mm:ss) after the last attempt" in text
    assert log_in("right").status_code == 429  # the right password does not get through
    assert log_in("right", address="10.0.0.2").status_code == 302  # another client may

    time.sleep(lockout + 0.5)  # the cool-off (restarted by the last refused attempt)

    response = log_in("right")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_it_refuses_a_limit_below_one_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PARTNERS_API_FAILURE_LIMIT", "0")
    with pytest.raises(ImproperlyConfigured, match="PARTNERS_API_FAILURE_LIMIT must be at least 1"):
        envint("PARTNERS_API_FAILURE_LIMIT", 20, minimum=1)
