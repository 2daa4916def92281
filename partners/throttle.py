"""Failed authentication, throttled per client across every server process.

The admin's logins go through django-axes (its database handler: per username and client
address). The API's bad bearer tokens are counted here, one row per failure in the
database, over a sliding window: a per-process counter (or ninja's throttles on the default
LocMem cache) would give each gunicorn worker its own allowance.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from partners import db
from partners.models import ApiAuthFailure


def client_address(request: HttpRequest) -> str:
    """The client as axes sees it (REMOTE_ADDR unless axes is told about a proxy), so the
    admin and the API agree on who a client is."""
    return (get_client_ip_address(request) or "unknown")[:64]


def _window() -> timedelta:
    return timedelta(seconds=settings.PARTNERS_API_FAILURE_WINDOW)


def blocking_failure(request: HttpRequest, now: datetime) -> tuple[str, list[Any]]:
    """SQL for the failure that blocks this client (at most one `failed_at`, as stored): the
    oldest of the newest `PARTNERS_API_FAILURE_LIMIT` failures in the window, when there are
    that many; and its parameters.

    Optimization: SQL, not a queryset: building and compiling the query was a fifth of the
    CPU a page of the list cost; it runs inside the token's query (see partners.tokens).
    """
    table = ApiAuthFailure._meta.db_table
    sql = (
        f"SELECT failed_at FROM {table} WHERE client = %s AND failed_at > %s "
        "ORDER BY failed_at DESC LIMIT 1 OFFSET %s"
    )
    since = connection.ops.adapt_datetimefield_value(now - _window())
    return sql, [client_address(request), since, settings.PARTNERS_API_FAILURE_LIMIT - 1]


def blocked_at(blocking: tuple[str, list[Any]]) -> datetime | None:
    """The failure `blocking_failure` finds, when it runs on its own."""
    with connection.cursor() as cursor:
        cursor.execute(*blocking)
        row = cursor.fetchone()
    return failure_time(row[0]) if row else None


def failure_time(value: Any) -> datetime | None:
    """A `failed_at` as the database gave it, as Django's field reads it."""
    return db.as_read(ApiAuthFailure._meta.get_field("failed_at"), value)


def retry_after(blocked_at: datetime | None, now: datetime) -> int | None:
    """Seconds until a client blocked by the failure at `blocked_at` may try again: the
    block opens when that failure leaves the window."""
    if blocked_at is None:
        return None
    return max(1, math.ceil((blocked_at + _window() - now).total_seconds()))


def record_token_failure(request: HttpRequest) -> None:
    """Count a bad token against its client; forget failures that left the window."""
    now = timezone.now()
    ApiAuthFailure.objects.filter(failed_at__lte=now - _window()).delete()
    ApiAuthFailure.objects.create(client=client_address(request), failed_at=now)


class LoginLockout(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request (the admin's login
    form always passes one). An authentication without a request (Django's test client's
    `login()`, a shell) has no client to lock out; axes would raise instead."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is not None:
            super().authenticate(request, username, password, **kwargs)
