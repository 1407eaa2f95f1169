"""Who may do what: the one place for role rules, used by view decorators and templates.

Pure functions of the user (and the object when there is one); no database access here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l

from tracker.models import Role, User


class Permission(StrEnum):
    MANAGE_UNITS = "manage_units"
    MANAGE_USERS = "manage_users"
    VIEW_AUDIT_LOG = "view_audit_log"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.LEADER: frozenset(),
    Role.INSPECTOR: frozenset({Permission.VIEW_AUDIT_LOG}),
    Role.CHIEF: frozenset(),
    Role.STAFF: frozenset(),
}

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.LEADER: _l("Bureau leader"),
    Role.INSPECTOR: _l("Inspector"),
    Role.CHIEF: _l("Unit chief"),
    Role.STAFF: _l("Officer in charge"),
}


def has_permission(user: User | None, permission: Permission) -> bool:
    """True when an active, signed-in user's role grants the permission."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    return permission in ROLE_PERMISSIONS.get(Role(user.role), frozenset())


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: object  # a lazy translated string
    permission: Permission | None  # None: every signed-in user


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("main.index", _l("Home"), None),
    NavEntry("admin.units", _l("Units"), Permission.MANAGE_UNITS),
    NavEntry("admin.users", _l("Users"), Permission.MANAGE_USERS),
)


def navigation_for(user: User | None) -> list[NavEntry]:
    """The navigation entries the user may see, in display order."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return [e for e in NAVIGATION if e.permission is None or has_permission(user, e.permission)]
