"""Password hashing with Argon2id (argon2-cffi)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

MIN_PASSWORD_LENGTH = 10


@cache
def _hasher(fast: bool) -> PasswordHasher:
    if fast:  # tests only: the suite hashes hundreds of passwords
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def _current() -> PasswordHasher:
    fast = has_app_context() and bool(current_app.config.get("PASSWORD_HASH_FAST"))
    return _hasher(fast)


def hash_password(password: str) -> str:
    return _current().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; never raises on a malformed hash."""
    try:
        return _current().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the email is unknown, so response time does not reveal who exists.
_DUMMY_HASH: dict[bool, str] = {}


def burn_time(password: str) -> None:
    fast = has_app_context() and bool(current_app.config.get("PASSWORD_HASH_FAST"))
    if fast not in _DUMMY_HASH:
        _DUMMY_HASH[fast] = _hasher(fast).hash("not-a-real-password")
    verify_password(_DUMMY_HASH[fast], password)
