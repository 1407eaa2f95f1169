"""Run inside a tracker instance (`python -m tests.ops.appdata seed|snapshot`, env as the app's).

`seed` adds real work to a demo bureau through the services: evidence files on several items
(one file uploaded twice, so a blob is shared), submissions, an approval, a return and comments.
`snapshot` prints, as JSON, what a backup must keep: row counts, every evidence row with the
sha256 of the bytes read back from storage, and the audit chain's sequence numbers and hashes.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys

from sqlalchemy import func, select

from tracker import create_app
from tracker.clock import now
from tracker.extensions import db
from tracker.models import (
    AuditEvent,
    Blob,
    Case,
    ChecklistItem,
    Comment,
    Evidence,
    Notification,
    Requirement,
    Unit,
    User,
)
from tracker.models.catalogue import RequirementKind
from tracker.models.checklist import ItemStatus
from tracker.services import comments, evidence, reviews, submissions
from tracker.storage import storage_from_config

TABLES = {
    "units": Unit,
    "users": User,
    "items": ChecklistItem,
    "cases": Case,
    "evidence": Evidence,
    "blobs": Blob,
    "comments": Comment,
    "audit_events": AuditEvent,
    "notifications": Notification,
}


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def seed(items: int) -> dict:
    app = create_app()
    with app.app_context():
        storage = storage_from_config(app.config)
        chief = _user("chief.fgk@demo.example.org")
        inspector = _user("inspector1@demo.example.org")
        candidates = db.session.scalars(
            select(ChecklistItem)
            .join(ChecklistItem.requirement)
            .where(
                ChecklistItem.unit_id == chief.unit_id,
                ChecklistItem.status == ItemStatus.OPEN,
                Requirement.kind == RequirementKind.TASK,
            )
            .order_by(ChecklistItem.id)
            .limit(items)
        ).all()
        assert len(candidates) == items, f"only {len(candidates)} open task items for FGK"
        shared = "共用的证明材料 shared bytes\n".encode() * 50
        for n, item in enumerate(candidates):
            files = [
                (io.BytesIO(f"会议纪要 {item.id} 第{n}份\n".encode() * (20 + n)), f"纪要{n}.txt"),
                (io.BytesIO(shared), "共用.txt"),
            ]
            evidence.add_files(
                db.session,
                actor=chief,
                item=item,
                files=files,
                storage=storage,
                max_bytes=1 << 20,
                note=f"第{n}项",
                now=now(),
            )
            comments.add_comment(db.session, actor=chief, item=item, body=f"已上传 {n}", now=now())
            if n % 3 != 2:
                submissions.submit(db.session, actor=chief, item=item, now=now())
            if n % 3 == 0:
                reviews.decide(
                    db.session, actor=inspector, item=item, decision="approve", now=now()
                )
            elif n % 3 == 1:
                reviews.decide(
                    db.session,
                    actor=inspector,
                    item=item,
                    decision="return",
                    comment="请补充签字页",
                    now=now(),
                )
            db.session.commit()
        return {"seeded": [item.id for item in candidates]}


def snapshot() -> dict:
    app = create_app()
    with app.app_context():
        storage = storage_from_config(app.config)
        counts = {
            name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in TABLES.items()
        }
        rows = []
        for row in db.session.scalars(select(Evidence).order_by(Evidence.id)):
            read_back = None
            if row.blob_sha256:
                digest = hashlib.sha256()
                with storage.open(row.blob_sha256) as reader:
                    while chunk := reader.read(1 << 16):
                        digest.update(chunk)
                read_back = digest.hexdigest()
            rows.append([row.id, row.item_id, row.blob_sha256, read_back, row.original_filename])
        chain = [
            [seq, hash_, action]
            for seq, hash_, action in db.session.execute(
                select(AuditEvent.seq, AuditEvent.hash, AuditEvent.action).order_by(AuditEvent.seq)
            )
        ]
        statuses = dict(
            db.session.execute(
                select(ChecklistItem.status, func.count()).group_by(ChecklistItem.status)
            ).all()
        )
        return {
            "counts": counts,
            "evidence": rows,
            "audit": chain,
            "statuses": {str(k): v for k, v in statuses.items()},
            "roles": sorted(str(u.role) for u in db.session.scalars(select(User))),
        }


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "seed":
        result = seed(int(sys.argv[2]) if len(sys.argv) > 2 else 6)
    elif command == "snapshot":
        result = snapshot()
    else:
        raise SystemExit(f"unknown command {command}")
    json.dump(result, sys.stdout, ensure_ascii=False)
