"""Units and users: creation, edits and deactivation (nothing is ever hard-deleted)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.models import Role, Unit, UnitKind, User
from tracker.models.user import new_session_token
from tracker.services import audit
from tracker.services.auth import check_new_password, normalise_email
from tracker.services.errors import DuplicateValue, ValidationFailed
from tracker.services.passwords import hash_password


def _changes(obj: object, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply values to obj and return {field: [old, new]} for those that changed."""
    changed: dict[str, list[Any]] = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            changed[field] = [_plain(old), _plain(new)]
            setattr(obj, field, new)
    return changed


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, bool, float)) else str(value)


# ---------------------------------------------------------------- units


class Keep(Enum):
    """Leave a field as it is (the form sent nothing for it), as opposed to None: clear it."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def _webhook_for_audit(url: str | None) -> str | None:
    """The webhook without its query: the access token is a credential, not an audit fact."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def _dingtalk_changes(
    unit: Unit, webhook: str | Keep | None, secret: str | Keep | None
) -> dict[str, list[Any]]:
    """Apply the robot settings; the audit sees a masked webhook and only whether the secret
    changed ("***"), never its value."""
    changed: dict[str, list[Any]] = {}
    if webhook is not KEEP:
        webhook = _clean(webhook)
        if webhook != unit.dingtalk_webhook:
            changed["dingtalk_webhook"] = [
                _webhook_for_audit(unit.dingtalk_webhook),
                _webhook_for_audit(webhook),
            ]
            unit.dingtalk_webhook = webhook
    if secret is not KEEP:
        secret = _clean(secret)
        if secret != unit.dingtalk_secret:
            changed["dingtalk_secret"] = [
                "***" if unit.dingtalk_secret else None,
                "***" if secret else None,
            ]
            unit.dingtalk_secret = secret
    return changed


def unit_by_code(session: Session, code: str) -> Unit | None:
    return session.execute(select(Unit).where(Unit.code == code.strip())).scalar_one_or_none()


def _check_unit_code_free(session: Session, code: str, *, except_id: int | None = None) -> None:
    existing = unit_by_code(session, code)
    if existing is not None and existing.id != except_id:
        raise DuplicateValue(_l("Unit code %(code)s is already used.", code=code), field="code")


def _unit_path(parent: Unit | None, unit_id: int) -> str:
    return f"{parent.path if parent else '/'}{unit_id}/"


def create_unit(
    session: Session,
    *,
    actor: User | None,
    code: str,
    name: str,
    kind: UnitKind,
    parent: Unit | None = None,
    name_en: str | None = None,
    dingtalk_webhook: str | None = None,
    dingtalk_secret: str | None = None,
    now: datetime,
) -> Unit:
    """Create a unit under an optional parent (optionally with its DingTalk group robot)."""
    code = code.strip().upper()
    _check_unit_code_free(session, code)
    unit = Unit(
        code=code,
        name=name.strip(),
        name_en=(name_en or "").strip() or None,
        kind=UnitKind(kind),
        parent=parent,
        path="/",
    )
    robot = _dingtalk_changes(unit, dingtalk_webhook, dingtalk_secret)
    session.add(unit)
    session.flush()
    unit.path = _unit_path(parent, unit.id)
    audit.record(
        session,
        actor=actor,
        action="unit.created",
        object_type="unit",
        object_id=unit.id,
        data={
            "code": code,
            "name": unit.name,
            "kind": str(unit.kind),
            "parent": parent.code if parent else None,
            **{field: new for field, (_old, new) in robot.items()},
        },
        at=now,
    )
    session.flush()
    return unit


def update_unit(
    session: Session,
    *,
    actor: User,
    unit: Unit,
    code: str,
    name: str,
    kind: UnitKind,
    parent: Unit | None,
    name_en: str | None,
    dingtalk_webhook: str | Keep | None = KEEP,
    dingtalk_secret: str | Keep | None = KEEP,
    now: datetime,
) -> Unit:
    """Edit a unit; moving it under a new parent moves its whole subtree.

    The DingTalk settings are left alone unless given (KEEP); None clears them.
    """
    code = code.strip().upper()
    _check_unit_code_free(session, code, except_id=unit.id)
    if parent is not None and (parent.id == unit.id or parent.path.startswith(unit.path)):
        raise ValidationFailed(
            _l("A unit cannot be placed under itself or its sub-units."), field="parent"
        )
    old_path = unit.path
    changed = _changes(
        unit,
        {
            "code": code,
            "name": name.strip(),
            "name_en": (name_en or "").strip() or None,
            "kind": UnitKind(kind),
            "parent_id": parent.id if parent else None,
        },
    )
    changed.update(_dingtalk_changes(unit, dingtalk_webhook, dingtalk_secret))
    new_path = _unit_path(parent, unit.id)
    if new_path != old_path:
        # One UPDATE rewrites the prefix of every descendant's path.
        session.execute(
            update(Unit)
            .where(Unit.path.startswith(old_path))
            .values(path=func.replace(Unit.path, old_path, new_path))
            .execution_options(synchronize_session="fetch")
        )
    if changed:
        audit.record(
            session,
            actor=actor,
            action="unit.updated",
            object_type="unit",
            object_id=unit.id,
            data={"changes": changed},
            at=now,
        )
    session.flush()
    return unit


def set_unit_active(
    session: Session, *, actor: User, unit: Unit, active: bool, now: datetime
) -> None:
    """Deactivate or reactivate a unit; a unit with active users cannot be deactivated."""
    if unit.active == active:
        return
    if not active:
        users = session.scalar(
            select(func.count()).select_from(User).where(User.unit_id == unit.id, User.active)
        )
        if users:
            raise ValidationFailed(
                _l("Move or deactivate the %(n)d active users of this unit first.", n=users)
            )
    unit.active = active
    audit.record(
        session,
        actor=actor,
        action="unit.activated" if active else "unit.deactivated",
        object_type="unit",
        object_id=unit.id,
        data={"code": unit.code},
        at=now,
    )
    session.flush()


def subtree_ids(session: Session, unit: Unit) -> list[int]:
    """Ids of the unit and all its sub-units (one indexed query)."""
    return list(session.scalars(select(Unit.id).where(Unit.path.startswith(unit.path))))


# ---------------------------------------------------------------- users


def _check_email_free(session: Session, email: str, *, except_id: int | None = None) -> None:
    existing = session.execute(select(User.id).where(User.email == email)).scalar_one_or_none()
    if existing is not None and existing != except_id:
        raise DuplicateValue(_l("The email %(email)s is already used.", email=email), field="email")


def create_user(
    session: Session,
    *,
    actor: User | None,
    email: str,
    name: str,
    role: Role,
    unit: Unit,
    password: str,
    locale: str | None = None,
    now: datetime,
) -> User:
    """Create a user; the email is unique regardless of case."""
    email = normalise_email(email)
    _check_email_free(session, email)
    check_new_password(password, email=email)
    if not unit.active:
        raise ValidationFailed(_l("The unit is deactivated."), field="unit")
    user = User(
        email=email,
        name=name.strip(),
        role=Role(role),
        unit=unit,
        locale=locale or None,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        data={"email": email, "name": user.name, "role": str(user.role), "unit": unit.code},
        at=now,
    )
    return user


def update_user(
    session: Session,
    *,
    actor: User,
    user: User,
    email: str,
    name: str,
    role: Role,
    unit: Unit,
    locale: str | None,
    new_password: str | None = None,
    now: datetime,
) -> User:
    """Edit a user; a password set by an admin signs the user out everywhere."""
    email = normalise_email(email)
    _check_email_free(session, email, except_id=user.id)
    changed = _changes(
        user,
        {
            "email": email,
            "name": name.strip(),
            "role": Role(role),
            "unit_id": unit.id,
            "locale": locale or None,
        },
    )
    if new_password:
        check_new_password(new_password, email=email)
        user.password_hash = hash_password(new_password)
        user.session_token = new_session_token()
        changed["password"] = ["***", "***"]
    if changed:
        audit.record(
            session,
            actor=actor,
            action="user.updated",
            object_type="user",
            object_id=user.id,
            data={"changes": changed},
            at=now,
        )
    session.flush()
    return user


def set_user_active(
    session: Session, *, actor: User, user: User, active: bool, now: datetime
) -> None:
    """Deactivate (signing the user out everywhere) or reactivate a user."""
    if user.active == active:
        return
    if not active and actor.id == user.id:
        raise ValidationFailed(_l("You cannot deactivate your own account."))
    user.active = active
    if not active:
        user.session_token = new_session_token()
    audit.record(
        session,
        actor=actor,
        action="user.activated" if active else "user.deactivated",
        object_type="user",
        object_id=user.id,
        data={"email": user.email},
        at=now,
    )
    session.flush()


def set_user_locale(session: Session, *, user: User, locale: str, now: datetime) -> None:
    """Remember the user's interface language."""
    if user.locale != locale:
        audit.record(
            session,
            actor=user,
            action="user.locale_changed",
            object_type="user",
            object_id=user.id,
            data={"locale": locale},
            at=now,
        )
        user.locale = locale
        session.flush()
