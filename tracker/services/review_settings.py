"""What admins set up for inspectors: return-reason templates and exclusions from units.

Templates are never deleted, only deactivated: reviews keep the text they were given, and an
admin can bring a template back. Exclusions are plain facts about the present, so removing one
deletes the row (the audit trail keeps who added and removed it, and when).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import InspectorExclusion, ReturnReasonTemplate, Role, Unit, User
from tracker.services import audit
from tracker.services.errors import ValidationFailed

__all__ = [
    "EXCLUDABLE_ROLES",
    "TEMPLATE_TEXT_MAX",
    "add_exclusion",
    "create_template",
    "remove_exclusion",
    "reorder_templates",
    "set_template_active",
    "update_template",
]

TEMPLATE_TEXT_MAX = 500  # ReturnReasonTemplate.text_zh / text_en are String(500)
# Who can be excluded: the roles that review items.
EXCLUDABLE_ROLES = frozenset({Role.INSPECTOR, Role.ADMIN})


# ---------------------------------------------------------------- return-reason templates


def _texts(text_zh: str, text_en: str) -> tuple[str, str]:
    """Both languages are required: the reason is shown in the reviewer's language."""
    cleaned = []
    for value, field in ((text_zh, "text_zh"), (text_en, "text_en")):
        text = (value or "").strip()
        if not text:
            raise ValidationFailed(_l("Write the reason in both languages."), field=field)
        if len(text) > TEMPLATE_TEXT_MAX:
            raise ValidationFailed(
                _l("At most %(max)d characters.", max=TEMPLATE_TEXT_MAX), field=field
            )
        cleaned.append(text)
    return cleaned[0], cleaned[1]


def _template_data(template: ReturnReasonTemplate) -> dict[str, object]:
    return {
        "text_zh": template.text_zh,
        "text_en": template.text_en,
        "position": template.position,
        "active": template.active,
    }


def create_template(
    session: Session,
    *,
    actor: User,
    text_zh: str,
    text_en: str,
    position: int | None = None,
    now: datetime,
) -> ReturnReasonTemplate:
    """Add a template; without a position it goes to the end of the list."""
    text_zh, text_en = _texts(text_zh, text_en)
    if position is None:
        position = (session.scalar(select(func.max(ReturnReasonTemplate.position))) or 0) + 1
    template = ReturnReasonTemplate(
        text_zh=text_zh, text_en=text_en, position=position, active=True, created_at=now
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reason_template.created",
        object_type="reason_template",
        object_id=template.id,
        data=_template_data(template),
        at=now,
    )
    return template


def update_template(
    session: Session,
    *,
    actor: User,
    template: ReturnReasonTemplate,
    text_zh: str,
    text_en: str,
    position: int | None = None,
    now: datetime,
) -> bool:
    """Change a template's texts (and position); False, and no audit event, when nothing changed.

    Past reviews keep their own copy of the text, so an edit never rewrites history.
    """
    text_zh, text_en = _texts(text_zh, text_en)
    new = {"text_zh": text_zh, "text_en": text_en}
    if position is not None:
        new["position"] = position
    changed = {
        field: [getattr(template, field), value]
        for field, value in new.items()
        if getattr(template, field) != value
    }
    if not changed:
        return False
    for field, (_old, value) in changed.items():
        setattr(template, field, value)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reason_template.updated",
        object_type="reason_template",
        object_id=template.id,
        data={"changed": changed},
        at=now,
    )
    return True


def set_template_active(
    session: Session, *, actor: User, template: ReturnReasonTemplate, active: bool, now: datetime
) -> bool:
    """Offer a template in review forms again, or stop offering it; False when already so."""
    if template.active == active:
        return False
    template.active = active
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="reason_template.activated" if active else "reason_template.deactivated",
        object_type="reason_template",
        object_id=template.id,
        data={"text_zh": template.text_zh},
        at=now,
    )
    return True


def reorder_templates(
    session: Session, *, actor: User, order: Sequence[int], now: datetime
) -> list[ReturnReasonTemplate]:
    """Number the templates 1..n in the given order of ids (which must name every template)."""
    templates = {t.id: t for t in session.scalars(select(ReturnReasonTemplate))}
    ids = list(order)
    if len(set(ids)) != len(ids) or set(ids) != set(templates):
        raise ValidationFailed(_l("The new order must list every template once."), field="order")
    moved = False
    for position, template_id in enumerate(ids, start=1):
        if templates[template_id].position != position:
            templates[template_id].position = position
            moved = True
    if moved:
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="reason_template.reordered",
            object_type="reason_template",
            object_id=None,
            data={"order": ids},
            at=now,
        )
    return [templates[i] for i in ids]


# ---------------------------------------------------------------- exclusions


def add_exclusion(
    session: Session, *, actor: User, inspector_id: int, unit_id: int, now: datetime
) -> InspectorExclusion:
    """Keep an inspector (or admin) from reviewing one unit's items."""
    inspector = session.get(User, inspector_id)
    if inspector is None or not inspector.active or Role(inspector.role) not in EXCLUDABLE_ROLES:
        raise ValidationFailed(
            _l("Choose an active inspector or administrator."), field="inspector_id"
        )
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise ValidationFailed(_l("Choose a unit."), field="unit_id")
    duplicate = session.scalar(
        select(InspectorExclusion.id).where(
            InspectorExclusion.inspector_id == inspector.id,
            InspectorExclusion.unit_id == unit.id,
        )
    )
    if duplicate is not None:
        raise ValidationFailed(
            _l("This inspector is already excluded from this unit."), field="unit_id"
        )
    exclusion = InspectorExclusion(
        inspector_id=inspector.id, unit_id=unit.id, created_by_id=actor.id, created_at=now
    )
    session.add(exclusion)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="exclusion.added",
        object_type="inspector_exclusion",
        object_id=exclusion.id,
        data={
            "inspector_id": inspector.id,
            "inspector": inspector.email,
            "unit_id": unit.id,
            "unit": unit.code,
        },
        at=now,
    )
    return exclusion


def remove_exclusion(
    session: Session, *, actor: User, exclusion: InspectorExclusion, now: datetime
) -> None:
    """Let the inspector review the unit's items again."""
    inspector = session.get(User, exclusion.inspector_id)
    data = {
        "inspector_id": exclusion.inspector_id,
        "inspector": inspector.email if inspector is not None else None,
        "unit_id": exclusion.unit_id,
        "unit": exclusion.unit.code,
    }
    exclusion_id = exclusion.id
    session.delete(exclusion)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="exclusion.removed",
        object_type="inspector_exclusion",
        object_id=exclusion_id,
        data=data,
        at=now,
    )
