"""Assigning checklist items to the person in charge of them (one item or many at once)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, Role, User
from tracker.permissions import can_assign_item
from tracker.services import audit
from tracker.services.errors import PermissionDenied, ValidationFailed

ASSIGNABLE_ROLES = (Role.STAFF, Role.CHIEF)
ACTION = "item.assigned"


def check_assignee(item: ChecklistItem, assignee: User | None) -> None:
    """Refuse an assignee who cannot do the item's work (None, unassigning, is always fine)."""
    if assignee is None:
        return
    if not assignee.active:
        raise ValidationFailed(
            _l("%(name)s is deactivated and cannot be assigned items.", name=assignee.name),
            field="assignee_id",
        )
    if Role(assignee.role) not in ASSIGNABLE_ROLES:
        raise ValidationFailed(
            _l(
                "%(name)s cannot be assigned items: only officers in charge and unit chiefs can.",
                name=assignee.name,
            ),
            field="assignee_id",
        )
    if assignee.unit_id != item.unit_id:
        # Work stays inside the owning unit: its chief answers for it.
        raise ValidationFailed(
            _l(
                "%(name)s is not a member of the unit that owns the item %(code)s.",
                name=assignee.name,
                code=item.requirement.code,
            ),
            field="assignee_id",
        )


def _check_actor(actor: User, item: ChecklistItem) -> None:
    if not can_assign_item(actor, item):
        raise PermissionDenied(_l("You cannot assign this item."))


def _apply(
    session: Session, *, actor: User, item: ChecklistItem, assignee: User | None, now: datetime
) -> bool:
    """Set the assignee and audit the change; False when it was already so."""
    old_id = item.assignee_id
    new_id = assignee.id if assignee is not None else None
    if old_id == new_id:
        return False
    item.assignee = assignee
    item.assignee_id = new_id
    audit.record(
        session,
        actor=actor,
        action=ACTION,
        object_type="checklist_item",
        object_id=item.id,
        data={"from": old_id, "to": new_id},
        at=now,
    )
    return True


def assign(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    assignee: User | None,
    now: datetime,
) -> bool:
    """Assign the item (None unassigns); True when something changed. Flushes, never commits."""
    _check_actor(actor, item)
    check_assignee(item, assignee)
    changed = _apply(session, actor=actor, item=item, assignee=assignee, now=now)
    session.flush()
    return changed


def bulk_assign(
    session: Session,
    *,
    actor: User,
    items: Sequence[ChecklistItem],
    assignee: User | None,
    now: datetime,
) -> int:
    """Assign every item or none: all are checked before any changes. Returns how many changed.

    The caller loads the items with their unit and requirement, so the checks issue no query.
    """
    for item in items:
        _check_actor(actor, item)
        check_assignee(item, assignee)
    changed = sum(
        _apply(session, actor=actor, item=item, assignee=assignee, now=now) for item in items
    )
    session.flush()
    return changed
