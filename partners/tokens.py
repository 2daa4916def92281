"""API tokens: `pts_<prefix>_<secret>`. The prefix finds the row; the SHA-256 of the whole
token is compared in constant time. Tokens are 256 random bits, so a fast hash is enough."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field
from django.utils import timezone

from partners import db
from partners.models import ApiToken
from partners.throttle import failure_time

LAST_USED_PRECISION = timedelta(minutes=1)  # at most one write per token per minute


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: Any, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    token = f"pts_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken.objects.create(user=user, name=name, prefix=prefix, token_hash=_digest(token))
    return row, token


def authenticate(token: str) -> Any:
    """The token's active user, or None for a malformed, unknown or revoked token."""
    return authenticate_unless_blocked(token, None)[0]


def authenticate_unless_blocked(
    token: str, blocking: tuple[str, list[Any]] | None
) -> tuple[Any, datetime | None]:
    """`authenticate(token)`, and the first value of `blocking` (the SQL of a one-column
    query and its parameters, e.g. the failure that blocks this client: see
    partners.throttle) when the token's row was found: both from one query. The caller
    decides which answer counts.

    Optimization: the throttle's check and the token's row were two round trips on every
    request; a token that finds no row (rare: a bad one) leaves the check to the caller.
    """
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "pts" or len(token) > 200:
        return None, None
    now = timezone.now()
    stale = connection.ops.adapt_datetimefield_value(now - LAST_USED_PRECISION)
    blocked_sql, blocked_params = blocking or ("SELECT NULL", [])
    rows = db.fetch_often(_token_sql(blocked_sql), [stale, *blocked_params, parts[1]])
    if not rows:
        return None, None
    row = rows[0]
    pk, token_hash, revoked, unused_lately, blocked, *user_values = row
    blocked_at = failure_time(blocked) if blocked is not None else None
    if not secrets.compare_digest(token_hash, _digest(token)):
        return None, blocked_at
    user = _user(user_values)
    if revoked or not user.is_active:
        return None, blocked_at
    if blocked_at is not None:
        return None, blocked_at  # refused whatever the token: no use is recorded
    if unused_lately:
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)
    return user, None


def _user_fields() -> list[Field[Any, Any]]:
    return list(get_user_model()._meta.concrete_fields)


@functools.lru_cache
def _token_sql(blocking: str) -> str:
    """The token's row by its prefix, with its user's and `blocking`'s.

    Optimization: SQL written once, not a queryset with `select_related` and a subquery
    compiled on every request (most of the CPU authentication took).
    """
    user = get_user_model()._meta
    users = ", ".join(f"{user.db_table}.{field.column}" for field in _user_fields())
    token = ApiToken._meta.db_table
    owner = f"{user.db_table}.{user.pk.column} = {token}.{ApiToken.user.field.column}"
    return (
        f"SELECT {token}.id, {token}.token_hash, {token}.revoked_at IS NOT NULL, "
        f"{token}.last_used_at IS NULL OR {token}.last_used_at < %s, ({blocking}), {users} "
        f"FROM {token} INNER JOIN {user.db_table} ON {owner} WHERE {token}.prefix = %s"
    )


def _user(values: list[Any]) -> Any:
    """The user from its row's values, converted as the ORM converts them."""
    fields = _user_fields()
    values = [db.as_read(field, value) for field, value in zip(fields, values, strict=True)]
    return get_user_model().from_db(connection.alias, [f.attname for f in fields], values)


def revoke(row: ApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
