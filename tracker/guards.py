"""View guards: sign-in and permission checks, with 404 before 403 for objects."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, url_for
from flask_login import current_user

from tracker.extensions import db, login_manager
from tracker.permissions import Permission, has_permission

F = TypeVar("F", bound=Callable[..., Any])

# The declaration recorded on each view: "signed_in" or a Permission (read by tests that walk the
# URL map, so that a route without a declaration is caught).
ACCESS_ATTRIBUTE = "tracker_access"


def signed_in(view: F) -> F:
    """Any active signed-in user; anonymous visitors go to the sign-in page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    setattr(wrapper, ACCESS_ATTRIBUTE, "signed_in")
    return wrapper  # type: ignore[return-value]


def requires(permission: Permission, **loaders: type) -> Callable[[F], F]:
    """A signed-in user whose role grants the permission; others get 403.

    `loaders` map URL arguments to models (``user_id=User``): each object is loaded first and
    passed to the view without the ``_id`` suffix, so a missing object is 404 before any 403.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            for arg, model in loaders.items():
                kwargs[arg.removesuffix("_id")] = load_or_404(model, kwargs.pop(arg))
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapper, ACCESS_ATTRIBUTE, permission)
        return wrapper  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Declared open to anonymous visitors (sign-in page, health check)."""
    setattr(view, ACCESS_ATTRIBUTE, "public")
    return view


def load_or_404(model: type, object_id: int) -> Any:
    """The object, or 404 before any permission is considered."""
    obj = db.session.get(model, object_id)
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
