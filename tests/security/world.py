"""One of every object a route can name, for the own-unit and another-unit cases.

Chiefs and officers of SEC may see SEC's items, evidence and cases (the "own" objects) and not
STA's (the "other" ones); bureau-wide roles see both. Each signed-in user has an API token; the
"other" token belongs to STA's chief, so it is someone else's for every role.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import signed_in_client
from tests.factories import T0, Bureau, make_case, make_item, make_requirement
from tests.helpers import page
from tracker.items.files import blob_storage
from tracker.models import (
    ApiToken,
    AuditEvent,
    AuditSample,
    AuditSampleItem,
    Case,
    ChecklistItem,
    Evidence,
    Holiday,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    Role,
    User,
)
from tracker.reports.feed import create_feed
from tracker.services import api_tokens, review_settings
from tracker.services import evidence as evidence_service
from tracker.services.calendar import DayKind

ROLES = ("anonymous", "admin", "leader", "inspector", "chief", "staff")
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
HOLIDAY = date(2026, 12, 31)


@dataclass
class World:
    bureau: Bureau
    items: dict[str, ChecklistItem]
    evidence: dict[str, Evidence]
    cases: dict[str, Case]
    tokens: dict[str, tuple[ApiToken, str]]  # role or "other" -> (token, secret)
    requirement_id: int
    template_id: int
    exclusion_id: int
    notification_id: int
    sample_id: int
    entry_id: int
    feed_token: str
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)

    def user(self, role: str) -> User | None:
        return None if role == "anonymous" else self.bureau.user(role)

    def client(self, app: Flask, role: str) -> FlaskClient:
        """One client per role, signed in (or not), with the CSRF token of its session."""
        if role not in self.clients:
            user = self.user(role)
            client = app.test_client() if user is None else signed_in_client(app, user)
            url = "/login" if user is None else "/account/tokens"
            token = page(client.get(url)).find("input", {"name": "csrf_token"})
            assert token is not None, url
            self.clients[role] = client
            self.csrf[role] = token["value"]
        return self.clients[role]


def audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def add_pdf(session: Session, item: ChecklistItem, actor: User, name: str = "证据.pdf"):
    (added,) = evidence_service.add_files(
        session,
        actor=actor,
        item=item,
        files=[(io.BytesIO(PDF), name)],
        storage=blob_storage(),
        max_bytes=10 * 1024 * 1024,
        now=T0,
    )
    return added


def build_world(session: Session, bureau: Bureau) -> World:
    chief, staff = bureau.user(Role.CHIEF), bureau.user(Role.STAFF)
    other_chief = bureau.users["other_chief"]
    inspector = bureau.user(Role.INSPECTOR)
    requirement = make_requirement(
        session, cadence="annual", owners=[bureau.section.code, bureau.station.code]
    )
    items = {
        "own": make_item(session, unit=bureau.section, requirement=requirement),
        "other": make_item(session, unit=bureau.station, requirement=requirement),
    }
    items["own"].assignee_id = staff.id  # so the officer may work it
    session.flush()
    evidence = {
        "own": add_pdf(session, items["own"], chief),
        "other": add_pdf(session, items["other"], other_chief),
    }
    cases = {
        "own": make_case(session, unit=bureau.section, decided_on=date(2026, 10, 9)).case,
        "other": make_case(session, unit=bureau.station, decided_on=date(2026, 10, 9)).case,
    }
    tokens = {
        str(role): api_tokens.create(
            session, actor=None, user=bureau.user(role), name="matrix", now=T0
        )
        for role in Role
    }
    tokens["other"] = api_tokens.create(
        session, actor=None, user=other_chief, name="someone else's", now=T0
    )
    template = review_settings.create_template(
        session, actor=bureau.user(Role.ADMIN), text_zh="缺少日期", text_en="No date", now=T0
    )
    exclusion = review_settings.add_exclusion(
        session,
        actor=bureau.user(Role.ADMIN),
        inspector_id=inspector.id,
        unit_id=bureau.legal.id,  # his own section: the matrix's items are elsewhere
        now=T0,
    )
    notification = Notification(
        channel=NotificationChannel.EMAIL,
        kind=NotificationKind.DIGEST,
        status=NotificationStatus.FAILED,
        recipient_key=f"matrix:{chief.id}",
        recipient_id=chief.id,
        address=chief.email,
        digest_date=date(2026, 11, 2),
        locale="zh_CN",
        subject="提醒",
        body_text="- 事项",
        body_html="<p>事项</p>",
        item_ids=[items["own"].id],
        next_attempt_at=T0,
        created_at=T0,
    )
    session.add(notification)
    sample = AuditSample(
        seed="matrix",
        request={"size": 1, "percent": None, "period": None, "family": None, "unit_id": None},
        population=1,
        population_hash="0" * 64,
        drawn_by_id=inspector.id,
        drawn_at=T0,
    )
    session.add(sample)
    session.flush()
    entry = AuditSampleItem(sample_id=sample.id, item_id=items["other"].id, position=1)
    session.add(entry)
    session.add(Holiday(day=HOLIDAY, kind=DayKind.REST, name="测试", source="matrix"))
    feed_token = create_feed(session, actor=chief, now=T0)
    session.flush()
    session.commit()
    return World(
        bureau=bureau,
        items=items,
        evidence=evidence,
        cases=cases,
        tokens=tokens,
        requirement_id=requirement.id,
        template_id=template.id,
        exclusion_id=exclusion.id,
        notification_id=notification.id,
        sample_id=sample.id,
        entry_id=entry.id,
        feed_token=feed_token,
    )
