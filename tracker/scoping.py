"""Which units a user's lists cover, as SQL, and those units as form choices; which single
objects a user may see at all.

The SQL twin of `permissions.can_see_unit`: bureau-wide roles see every unit, a chief his unit's
subtree, staff their own unit. Lists filter with it; object pages check `may_see` (the guards
call it for every object loaded from the URL, so another unit's object is 404 before any 403).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from wtforms import SelectChoice

from tracker.extensions import db
from tracker.i18n import current_locale
from tracker.models import (
    ApiToken,
    CalendarFeed,
    Case,
    ChecklistItem,
    Comment,
    Evidence,
    Role,
    Unit,
    User,
)
from tracker.permissions import can_see_unit, sees_all_units


def unit_scope(user: User) -> Any:
    """SQL condition on Unit for the units whose cases and items the user sees (None: all)."""
    if sees_all_units(user):
        return None
    if Role(user.role) == Role.CHIEF:
        return Unit.path.startswith(user.unit.path, autoescape=True)
    return Unit.id == user.unit_id


def scoped_units(user: User, *, active_only: bool = False) -> list[Unit]:
    stmt = select(Unit).order_by(Unit.path)
    condition = unit_scope(user)
    if condition is not None:
        stmt = stmt.where(condition)
    if active_only:
        stmt = stmt.where(Unit.active)
    return list(db.session.scalars(stmt))


def unit_choices(units: list[Unit]) -> list[SelectChoice]:
    """Units indented by depth, in the UI language, with their codes."""
    locale = current_locale()
    return [
        SelectChoice(
            u.id, "\u3000" * (u.path.count("/") - 2) + f"{u.display_name(locale)} ({u.code})"
        )
        for u in units
    ]


def owning_unit(obj: object) -> Unit | None:
    """The unit whose scope governs who may see the object (None: not a unit-scoped object)."""
    if isinstance(obj, (ChecklistItem, Case)):
        return obj.unit
    if isinstance(obj, (Evidence, Comment)):
        item = db.session.get(ChecklistItem, obj.item_id)
        return None if item is None else item.unit
    return None


def may_see(user: User, obj: object) -> bool:
    """Whether the object exists for the user: unit-scoped objects within his units, personal
    objects (API tokens, calendar feeds) his own; bureau-level objects (units, users, catalogue,
    settings, outbox messages) are left to the permission that guards their pages."""
    if isinstance(obj, (ApiToken, CalendarFeed)):
        return obj.user_id == user.id
    if isinstance(obj, (ChecklistItem, Case, Evidence, Comment)):
        unit = owning_unit(obj)
        return unit is not None and can_see_unit(user, unit)
    return True
