"""An item's history: its own audit events and those of its evidence, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, select, union_all
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, ChecklistItem, Evidence, User


def item_event_ids(item: ChecklistItem) -> Any:
    """Subquery of the ids of the audit events about the item or one of its evidence.

    Two lookups on the (object_type, object_id) index joined by UNION ALL: written as one OR
    under ORDER BY seq DESC LIMIT, PostgreSQL walked the whole chain backwards from its end
    looking for an old item's events (seconds at a million items; bench/README.md).
    """
    own = select(AuditEvent.id).where(
        AuditEvent.object_type == "checklist_item", AuditEvent.object_id == str(item.id)
    )
    of_evidence = select(AuditEvent.id).where(
        AuditEvent.object_type == "evidence",
        AuditEvent.object_id.in_(
            select(cast(Evidence.id, String)).where(Evidence.item_id == item.id)
        ),
    )
    return union_all(own, of_evidence).subquery()


def item_history(
    session: Session, item: ChecklistItem, *, limit: int
) -> list[tuple[AuditEvent, str | None]]:
    """(event, actor's current name) pairs, newest first, in one query."""
    ids = item_event_ids(item)
    return [
        (event, name)
        for event, name in session.execute(
            select(AuditEvent, User.name)
            .join(ids, ids.c.id == AuditEvent.id)
            .outerjoin(User, User.id == AuditEvent.actor_id)
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
    ]
