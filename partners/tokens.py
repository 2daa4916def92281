"""API tokens: `pts_<prefix>_<secret>`. The prefix finds the row; the SHA-256 of the whole
token is compared in constant time. Tokens are 256 random bits, so a fast hash is enough."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet, Subquery
from django.utils import timezone

from partners.models import ApiToken

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
    token: str, blocking: QuerySet[Any, Any] | None
) -> tuple[Any, datetime | None]:
    """`authenticate(token)`, and the first value of `blocking` (a one-column query, e.g.
    the failure that blocks this client: see partners.throttle) when the token's row was
    found: both from one query. The caller decides which answer counts.

    Optimization: the throttle's check and the token's row were two round trips on every
    request; a token that finds no row (rare: a bad one) leaves the check to the caller.
    """
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "pts" or len(token) > 200:
        return None, None
    rows = ApiToken.objects.select_related("user").filter(prefix=parts[1])
    if blocking is not None:
        rows = rows.annotate(blocked_at=Subquery(blocking))
    row = rows.first()
    if row is None:
        return None, None
    blocked_at = getattr(row, "blocked_at", None)
    if not secrets.compare_digest(row.token_hash, _digest(token)):
        return None, blocked_at
    if row.revoked_at is not None or not row.user.is_active:
        return None, blocked_at
    if blocked_at is not None:
        return None, blocked_at  # refused whatever the token: no use is recorded
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user, None


def revoke(row: ApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
