"""View guards: sign-in and permission checks, with 404 before 403 for objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, request, url_for
from flask_login import current_user

from tracker.extensions import db, login_manager
from tracker.permissions import Permission, has_permission
from tracker.scoping import may_see
from tracker.services.errors import PermissionDenied

F = TypeVar("F", bound=Callable[..., Any])

# The declaration recorded on each view, an `Access` (read by the tests that walk the URL map: a
# route without one fails them, and every route is called as every role against it).
ACCESS_ATTRIBUTE = "tracker_access"
# Ids are INTEGER columns: a larger number in a URL is no row (and would overflow the driver).
MAX_ID = 2**31 - 1

PUBLIC = "public"
SIGNED_IN = "signed_in"
PERMISSION = "permission"


@dataclass(frozen=True)
class Access:
    """Who may use a view: anyone, any signed-in user, or a role permission; for the objects
    named in the URL, only users who may see them (`scoping.may_see`, else 404), and, when a
    rule is given, only users the rule allows on the first of them (else 403)."""

    level: str
    permission: Permission | None = None
    objects: tuple[tuple[str, type], ...] = ()
    rule: Callable[[Any, Any], bool] | None = None

    def __str__(self) -> str:
        text = str(self.permission) if self.permission else self.level
        if self.rule is not None:
            text += f" + {self.rule.__name__}"
        return text


def _deny(message: object) -> None:
    """403; the API answers with the rule's own message (its errors carry one)."""
    if message is not None and request.blueprint == "api":
        raise PermissionDenied(message)
    abort(403)


def signed_in(view: F) -> F:
    """Any active signed-in user; anonymous visitors go to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    setattr(wrapper, ACCESS_ATTRIBUTE, Access(SIGNED_IN))
    return wrapper  # type: ignore[return-value]


def requires(
    permission: Permission | None,
    *,
    rule: Callable[[Any, Any], bool] | None = None,
    rule_message: object = None,
    **loaders: type,
) -> Callable[[F], F]:
    """A signed-in user whose role grants the permission (None: any signed-in user).

    `loaders` map URL arguments to models (``user_id=User``): each object is loaded and passed
    to the view without the ``_id`` suffix. A missing object, or one the user may not see
    (another unit's item, evidence or case, another user's token), is 404 before any 403; then
    the permission, then `rule(user, first object)`: 403 (with `rule_message` in the API).
    """
    access = Access(
        PERMISSION if permission is not None else SIGNED_IN,
        permission,
        tuple(loaders.items()),
        rule,
    )

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            user = current_user._get_current_object()
            loaded = []
            for arg, model in loaders.items():
                obj = load_or_404(model, kwargs.pop(arg))
                if not may_see(user, obj):
                    abort(404)  # as absent as a missing one: its existence is not revealed
                kwargs[arg.removesuffix("_id")] = obj
                loaded.append(obj)
            if permission is not None and not has_permission(user, permission):
                _deny(rule_message)
            if rule is not None and not rule(user, loaded[0] if loaded else None):
                _deny(rule_message)
            return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTRIBUTE, access)
        return wrapper  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Declared open to anonymous visitors (sign-in page, health check)."""
    setattr(view, ACCESS_ATTRIBUTE, Access(PUBLIC))
    return view


def access_of(view: Callable[..., Any]) -> Access | None:
    """The declaration of a view function, if it has one."""
    return getattr(view, ACCESS_ATTRIBUTE, None)


# Request values read as ids, page numbers, years or counts: beyond the INTEGER columns no row can
# match, and the drivers refuse such numbers instead of matching nothing (SQLite overflows).
INTEGER_FIELDS = frozenset(
    {"page", "unit", "year", "sample", "waiting", "due_within", "assignee", "reason_template"}
)


def _unreadable(key: str, value: str) -> bool:
    if "\x00" in key or "\x00" in value:
        return True
    if key in INTEGER_FIELDS or key.endswith(("_id", "_ids")):
        digits = value.strip().removeprefix("-").removeprefix("+")
        # (The length first: int() refuses strings of thousands of digits.)
        return digits.isdecimal() and (len(digits) > 10 or int(digits) > MAX_ID)
    return False


def refuse_unreadable_input() -> None:
    """400 for a web form or query value no column can hold: a NUL character (PostgreSQL can
    neither store nor compare one), or an id, page or year beyond the INTEGER range.

    Such values would otherwise reach the database as a driver error (a 500), not a refusal.
    File names are cleaned by the upload pipeline instead, and the API answers its own 422s.
    """
    if request.blueprint == "api":
        return
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if _unreadable(key, value):
                abort(400)


# Dates a filter may name: outside them an instant at the local midnight (or the day after)
# cannot be computed, and no record exists there anyway.
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2999, 12, 31)


def date_arg(name: str) -> date | None:
    """A YYYY-MM-DD query argument within FIRST_DATE..LAST_DATE, else None (filter ignored)."""
    try:
        day = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    return day if FIRST_DATE <= day <= LAST_DATE else None


def load_or_404(model: type, object_id: int) -> Any:
    """The object, or 404 before any permission is considered."""
    obj = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if obj is None:
        abort(404)
    return obj


def authorize(allowed: bool) -> None:
    """403 unless the permission check passed."""
    if not allowed:
        abort(403)


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """Only same-site relative paths are followed after a form (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and "\\" not in target:
            return target
    return fallback or url_for("main.index")
