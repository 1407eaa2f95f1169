"""Which units a user's lists cover, as SQL, and those units as form choices.

The SQL twin of `permissions.can_see_unit`: bureau-wide roles see every unit, a chief his unit's
subtree, staff their own unit. Lists filter with it; object pages check `can_see_unit`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from wtforms import SelectChoice

from tracker.extensions import db
from tracker.i18n import current_locale
from tracker.models import Role, Unit, User
from tracker.permissions import sees_all_units


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
