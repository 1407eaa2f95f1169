"""A year of plausible work in the demo bureau, so that a newcomer's pages show real figures.

Most items due before today were done: a staff member uploaded a PDF a few days before the
deadline, the chief submitted it and an inspector approved it two days later. One in ten was
returned with a reason, one in ten waits for review and one in ten was never done (overdue).
Everything goes through the real services, so the audit chain and every figure stay consistent.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from tracker.clock import get_clock
from tracker.models import (
    ChecklistItem,
    ItemStatus,
    Requirement,
    RequirementKind,
    Role,
    Submission,
    User,
)
from tracker.services import assignment, evidence, reviews, submissions
from tracker.storage.base import BlobStorage

RETURN_REASON = "佐证材料缺少审核签字页，请补充后重新提交。"
SUBMIT_NOTE = "已按要求完成，佐证材料见附件。"


def demo_pdf(title: str) -> bytes:
    """A one-page PDF naming the work it stands for (ASCII only: the core fonts have no CJK)."""
    stream = f"BT /F1 14 Tf 40 120 Td (Demo evidence: {title}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _people(session: Session) -> tuple[dict[tuple[int, Role], User], list[User]]:
    """The first chief and staff member of each unit, and the inspectors."""
    by_unit: dict[tuple[int, Role], User] = {}
    inspectors: list[User] = []
    for user in session.scalars(select(User).where(User.active).order_by(User.id)):
        if user.role == Role.INSPECTOR:
            inspectors.append(user)
        else:
            by_unit.setdefault((user.unit_id, Role(user.role)), user)
    return by_unit, inspectors


def _due_tasks(session: Session, today: date) -> Iterable[ChecklistItem]:
    """Open plain-evidence items whose deadline has passed, earliest first."""
    return session.scalars(
        select(ChecklistItem)
        .join(Requirement, Requirement.id == ChecklistItem.requirement_id)
        .where(
            Requirement.kind == RequirementKind.TASK,
            ChecklistItem.status == ItemStatus.OPEN,
            ChecklistItem.due_date < today,
        )
        .order_by(ChecklistItem.due_date, ChecklistItem.id)
    ).all()


def record_demo_progress(
    session: Session, *, storage: BlobStorage, max_bytes: int, now: datetime
) -> int:
    """Work the demo bureau's past-due items once (never when any submission exists).

    Returns how many items were worked on. Flushes, never commits.
    """
    if session.scalar(select(exists().where(Submission.id.is_not(None)))):
        return 0
    clock = get_clock()
    today = clock.local(now).date()
    by_unit, inspectors = _people(session)
    worked = 0
    for n, item in enumerate(_due_tasks(session, today)):
        outcome = n % 10
        staff = by_unit.get((item.unit_id, Role.STAFF))
        chief = by_unit.get((item.unit_id, Role.CHIEF))
        if outcome == 9 or staff is None or chief is None or not inspectors:
            continue  # left undone: it shows as overdue
        # Done a few days before the deadline (later ones a little late), in office hours.
        worked_on = item.due_date - timedelta(days=(n * 3) % 7 - 1)
        at = datetime.combine(worked_on, time(10, n % 50), tzinfo=clock.tz)
        at = min(at, now - timedelta(days=3))
        assignment.assign(session, actor=chief, item=item, assignee=staff, now=at)
        title = f"{item.requirement.code} {item.scope_label}"
        evidence.add_files(
            session,
            actor=staff,
            item=item,
            files=[(io.BytesIO(demo_pdf(title)), f"{item.requirement.code}-佐证材料.pdf")],
            storage=storage,
            max_bytes=max_bytes,
            now=at,
        )
        submissions.submit(session, actor=chief, item=item, note=SUBMIT_NOTE, now=at)
        worked += 1
        if outcome == 8:
            continue  # waits in the review queue
        reviewer = next(
            (i for i in inspectors if not reviews.duty_conflict(session, actor=i, item=item)),
            None,
        )
        if reviewer is None:
            continue
        decision = "return" if outcome == 7 else "approve"
        reviews.decide(
            session,
            actor=reviewer,
            item=item,
            decision=decision,
            comment=RETURN_REASON if decision == "return" else None,
            now=at + timedelta(days=2),
        )
    session.flush()
    return worked
