"""Personal API tokens: create (the secret is returned once), authenticate, revoke.

Only the sha256 of a secret is stored. A presented secret is hashed and looked up by that hash, so
no stored secret is ever compared character by character (nothing to time), and a leaked database
gives no usable token. A token acts with its user's role and units, nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import ApiToken, User
from tracker.permissions import Permission, has_permission
from tracker.services import audit
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed

__all__ = [
    "MAX_ACTIVE_TOKENS",
    "NAME_MAX",
    "SECRET_PREFIX",
    "authenticate",
    "create",
    "hash_secret",
    "revoke",
]

SECRET_PREFIX = "trk_"  # noqa: S105  (a marker, not a secret)
NAME_MAX = 100
PREFIX_CHARS = 8  # "trk_" and four characters: tells tokens apart, reveals nothing usable
MAX_ACTIVE_TOKENS = 20  # per user; keeps the tokens page (and a leak's blast radius) bounded
MAX_SECRET_CHARS = 200  # anything longer is not ours: refused before hashing
# last_used_at is written at most this often, so a busy script does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: sha256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _clean_name(name: str | None) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise ValidationFailed(
            _l("Give the token a name, e.g. the script that uses it."), field="name"
        )
    if len(text) > NAME_MAX:
        raise ValidationFailed(
            _l("The name may be at most %(limit)d characters.", limit=NAME_MAX), field="name"
        )
    return text


def create(
    session: Session,
    *,
    actor: User | None,
    user: User,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token of `user` and its secret: the only time the secret exists outside the client.

    `actor` is the user himself on the tokens page, None from the command line.
    """
    if actor is not None and actor.id != user.id:
        raise PermissionDenied(_l("You may only create tokens for yourself."))
    if not user.active:
        raise ValidationFailed(_l("The account is deactivated."), field="user")
    name = _clean_name(name)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(_l("The expiry must be in the future."), field="expires_at")
    active = session.scalar(
        select(func.count(ApiToken.id)).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
        )
    )
    if (active or 0) >= MAX_ACTIVE_TOKENS:
        raise ValidationFailed(
            _l(
                "At most %(limit)d tokens can be active at once: revoke one you no longer use.",
                limit=MAX_ACTIVE_TOKENS,
            ),
            field="name",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        user=user,
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[:PREFIX_CHARS],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.created",
        object_type="api_token",
        object_id=token.id,
        # Never the secret, nor its hash: the prefix is enough to recognise it.
        data={
            "user_id": user.id,
            "user": user.email,
            "name": name,
            "prefix": token.prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        at=now,
    )
    return token, secret


def authenticate(session: Session, secret: str | None, *, now: datetime) -> ApiToken | None:
    """The usable token for a presented secret, else None (unknown, revoked, expired, inactive).

    Records when the token was last used (at most once a minute): the change is left pending
    in the session (`token in session.dirty`) for the caller to commit.
    """
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > MAX_SECRET_CHARS:
        return None
    digest = hash_secret(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The database found the row by equality on the hash; this compare is belt and braces.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if not token.is_usable(now) or not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Left pending, not flushed: the caller sees it in `session.dirty` and commits.
        token.last_used_at = now
    return token


def revoke(session: Session, *, actor: User | None, token: ApiToken, now: datetime) -> ApiToken:
    """Revoke a token for good: its owner, an administrator, or the command line (actor None)."""
    if (
        actor is not None
        and actor.id != token.user_id
        and not has_permission(actor, Permission.MANAGE_USERS)
    ):
        raise PermissionDenied(_l("You may only revoke your own tokens."))
    if token.revoked_at is not None:
        raise InvalidTransition(_l("This token has already been revoked."))
    token.revoked_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.revoked",
        object_type="api_token",
        object_id=token.id,
        data={"user_id": token.user_id, "name": token.name, "prefix": token.prefix},
        at=now,
    )
    return token
