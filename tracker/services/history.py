"""An item's history: its own audit events and those of its evidence, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, ChecklistItem, Evidence, User


def item_events_condition(item: ChecklistItem) -> Any:
    """Audit events about the item, or about one of its evidence (recorded on the evidence)."""
    return or_(
        and_(AuditEvent.object_type == "checklist_item", AuditEvent.object_id == str(item.id)),
        and_(
            AuditEvent.object_type == "evidence",
            AuditEvent.object_id.in_(
                select(cast(Evidence.id, String)).where(Evidence.item_id == item.id)
            ),
        ),
    )


def item_history(
    session: Session, item: ChecklistItem, *, limit: int
) -> list[tuple[AuditEvent, str | None]]:
    """(event, actor's current name) pairs, newest first, in one query."""
    return [
        (event, name)
        for event, name in session.execute(
            select(AuditEvent, User.name)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .where(item_events_condition(item))
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    ]
