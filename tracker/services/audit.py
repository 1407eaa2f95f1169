"""The audit trail: append events to the hash chain and verify the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, AuditHead, User

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def canonical_bytes(
    *,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str | None,
    data: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """The exact bytes that are hashed for one event (stable across databases)."""
    payload = {
        "seq": seq,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(event: AuditEvent) -> str:
    """Recompute the hash of a stored event from its content."""
    return hashlib.sha256(
        canonical_bytes(
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            data=event.data or {},
            prev_hash=event.prev_hash,
        )
    ).hexdigest()


def _lock_head(session: Session) -> AuditHead:
    # FOR UPDATE serialises appenders on PostgreSQL; SQLite serialises writers by itself.
    head = session.execute(
        select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
    ).scalar_one_or_none()
    if head is None:  # the migration creates it; this covers a hand-emptied table
        head = AuditHead(id=HEAD_ID, last_seq=0, last_hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object = None,
    data: dict[str, Any] | None = None,
    at: datetime,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event to the chain (flushes; the caller commits with its change)."""
    head = _lock_head(session)
    occurred_at = at.astimezone(UTC)
    event = AuditEvent(
        seq=head.last_seq + 1,
        occurred_at=occurred_at,
        actor_id=actor.id if actor is not None else None,
        actor_label=actor_label or (actor.email if actor is not None else "system"),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        data=data or {},
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(event)
    session.add(event)
    head.last_seq = event.seq
    head.last_hash = event.hash
    session.flush()
    return event


@dataclass(frozen=True)
class ChainProblem:
    """One break in the audit chain, named precisely enough to find the row."""

    kind: str  # altered | missing | broken_link | head_mismatch
    seq: int | None
    event_id: int | None
    expected: str
    found: str

    def describe(self) -> str:
        where = f"audit event seq={self.seq} id={self.event_id}"
        return f"{self.kind}: {where}: expected {self.expected}, found {self.found}"


def iter_chain_problems(session: Session, batch_size: int = 1000) -> Iterator[ChainProblem]:
    """Walk the chain in order with bounded memory and yield every break found."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last_seq = 0
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=batch_size)
    ).scalars()
    for event in rows:
        recomputed = event_hash(event)
        if event.seq != expected_seq:
            yield ChainProblem(
                "missing",
                event.seq,
                event.id,
                f"seq {expected_seq}",
                f"seq {event.seq} (rows {expected_seq}..{event.seq - 1} gone)",
            )
        elif event.prev_hash != expected_prev:
            yield ChainProblem("broken_link", event.seq, event.id, expected_prev, event.prev_hash)
        if recomputed != event.hash:
            yield ChainProblem("altered", event.seq, event.id, recomputed, event.hash)
        # Continue from what the row claims, so one edit is reported once, not for every later row.
        expected_prev = event.hash
        expected_seq = event.seq + 1
        last_seq = event.seq
    head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_seq != last_seq or head.last_hash != expected_prev):
        yield ChainProblem(
            "head_mismatch",
            head.last_seq,
            None,
            f"seq {head.last_seq} hash {head.last_hash}",
            f"seq {last_seq} hash {expected_prev}",
        )


def verify_chain(session: Session) -> list[ChainProblem]:
    """Every break in the audit chain (empty when intact)."""
    return list(iter_chain_problems(session))
