"""Discussion on an item between the unit and the inspectors."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tracker.models import ChecklistItem, Comment, User
from tracker.permissions import can_see_unit
from tracker.services import audit
from tracker.services.errors import PermissionDenied, ValidationFailed

__all__ = ["BODY_MAX", "add_comment"]

BODY_MAX = 2000


def add_comment(
    session: Session, *, actor: User, item: ChecklistItem, body: str, now: datetime
) -> Comment:
    """Post a comment on an item; anyone who sees the item's unit may take part."""
    if not actor.active or not can_see_unit(actor, item.unit):
        raise PermissionDenied(_l("You may not comment on this item."))
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(_l("Write a comment first."), field="body")
    if len(body) > BODY_MAX:
        raise ValidationFailed(
            _l("A comment may be at most %(limit)d characters.", limit=BODY_MAX), field="body"
        )
    comment = Comment(item_id=item.id, author_id=actor.id, author=actor, body=body, created_at=now)
    session.add(comment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="item.commented",
        object_type="checklist_item",
        object_id=item.id,
        # The text itself goes into the chain: a comment edited later would be detected.
        data={"comment_id": comment.id, "body": body},
        at=now,
    )
    return comment
