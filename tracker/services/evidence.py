"""Evidence on checklist items: files, links, withdrawal, indicator values and count progress.

Files are streamed to blob storage by `receive_upload` first, then recorded: a request either
records every file or none, and a refused request leaves no blob it created behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.models import (
    Blob,
    ChecklistItem,
    Evidence,
    EvidenceKind,
    ItemStatus,
    RequirementKind,
    User,
)
from tracker.models.checklist import OWED_STATUSES
from tracker.permissions import can_work_item
from tracker.services import audit
from tracker.services.checklist import local_today
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.services.periods import Period
from tracker.services.uploads import StoredUpload, receive_upload
from tracker.storage.base import BlobStorage

__all__ = [
    "NOTE_MAX",
    "TITLE_MAX",
    "URL_MAX",
    "add_files",
    "add_link",
    "count_progress",
    "set_indicator_value",
    "withdraw",
]

NOTE_MAX = 1000
TITLE_MAX = 255
URL_MAX = 2000
# Numeric(14, 4): ten digits before the decimal point.
VALUE_LIMIT = Decimal(10) ** 10
_VALUE_QUANTUM = Decimal("0.0001")
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")

FileInput = tuple[BinaryIO, str]


# ---------------------------------------------------------------- shared checks


def _require_work(actor: User, item: ChecklistItem) -> None:
    if not can_work_item(actor, item):
        raise PermissionDenied(_l("You may not add or withdraw evidence on this item."))


def _require_owed(item: ChecklistItem) -> None:
    """Evidence changes only while the unit still owes the work; after submission it is frozen."""
    if item.status not in OWED_STATUSES:
        raise InvalidTransition(
            _l(
                "The item has been submitted or approved: its evidence is frozen. "
                "It can change again only if the item is returned."
            )
        )


def _clean_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise ValidationFailed(
            _l("The note may be at most %(limit)d characters.", limit=NOTE_MAX), field="note"
        )
    return text or None


def _check_occurred_on(item: ChecklistItem, occurred_on: date | None, now: datetime) -> None:
    """Count items need the date each occurrence took place, inside the item's period."""
    if item.requirement.kind != RequirementKind.COUNT:
        return
    if occurred_on is None:
        raise ValidationFailed(
            _l("Enter the date of the occurrence this evidence proves."), field="occurred_on"
        )
    if occurred_on > local_today(now):
        raise ValidationFailed(
            _l("The date of the occurrence cannot be in the future."), field="occurred_on"
        )
    if item.period:
        period = Period.parse(item.period)
        if not period.start <= occurred_on <= period.end:
            raise ValidationFailed(
                _l(
                    "The date of the occurrence must fall within the period %(period)s.",
                    period=item.period,
                ),
                field="occurred_on",
            )


def _kept_occurred_on(item: ChecklistItem, occurred_on: date | None) -> date | None:
    # Only count items use the date: elsewhere it would suggest a meaning it does not have.
    return occurred_on if item.requirement.kind == RequirementKind.COUNT else None


# ---------------------------------------------------------------- files


def _discard_created(session: Session, storage: BlobStorage, created: list[str]) -> None:
    """Delete the blobs this request wrote, unless some evidence (another request) uses them."""
    for sha256 in created:
        used = session.scalar(select(exists().where(Evidence.blob_sha256 == sha256)))
        if not used:
            storage.delete(sha256)


def _ensure_blob(session: Session, stored: StoredUpload, now: datetime) -> None:
    """One Blob row per hash; a concurrent request inserting the same hash is not an error."""
    if session.get(Blob, stored.sha256) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                Blob(
                    sha256=stored.sha256,
                    size=stored.size,
                    content_type=stored.content_type,
                    created_at=now,
                )
            )
    except IntegrityError:
        pass  # the same bytes were recorded meanwhile: the row is theirs and ours


def _display_basename(name: str) -> str:
    """The display name without any folder part a browser or a crafted request sent."""
    return re.split(r"[\\/]", name)[-1].strip()


def add_files(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    files: Sequence[FileInput],
    storage: BlobStorage,
    max_bytes: int,
    max_files: int | None = None,
    note: str | None = None,
    occurred_on: date | None = None,
    now: datetime,
) -> list[Evidence]:
    """Store and record uploaded files on an item: all of them, or none if any is refused."""
    _require_work(actor, item)
    _require_owed(item)
    if not files:
        raise ValidationFailed(_l("Choose at least one file to upload."), field="files")
    if max_files is not None and len(files) > max_files:
        raise ValidationFailed(
            _l("At most %(limit)d files can be uploaded at once.", limit=max_files),
            field="files",
        )
    note = _clean_note(note)
    _check_occurred_on(item, occurred_on, now)

    # Streamed to storage first: the database sees the request only once every file passed.
    stored: list[StoredUpload] = []
    created: list[str] = []
    try:
        for stream, filename in files:
            upload = receive_upload(stream, filename=filename, storage=storage, max_bytes=max_bytes)
            stored.append(upload)
            if not upload.deduplicated:
                created.append(upload.sha256)
    except BaseException:
        _discard_created(session, storage, created)
        raise

    added: list[Evidence] = []
    for upload in stored:
        _ensure_blob(session, upload, now)
        evidence = _record(
            session,
            actor=actor,
            item=item,
            now=now,
            occurred_on=occurred_on,
            fields={
                "kind": EvidenceKind.FILE,
                "blob_sha256": upload.sha256,
                "original_filename": _display_basename(upload.original_filename)
                or upload.safe_filename,
                "safe_filename": upload.safe_filename,
                "content_type": upload.content_type,
                "size": upload.size,
                "note": note,
            },
            audit_data={
                "sha256": upload.sha256,
                "size": upload.size,
                "content_type": upload.content_type,
                "deduplicated": upload.deduplicated,
            },
        )
        added.append(evidence)
    return added


def _record(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    now: datetime,
    occurred_on: date | None,
    fields: dict[str, object],
    audit_data: dict[str, object],
) -> Evidence:
    """One Evidence row and its "evidence.added" event (files and links alike)."""
    evidence = Evidence(
        item_id=item.id,
        occurred_on=_kept_occurred_on(item, occurred_on),
        uploaded_by_id=actor.id,
        uploaded_by=actor,
        uploaded_at=now,
        **fields,
    )
    session.add(evidence)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.added",
        object_type="evidence",
        object_id=evidence.id,
        data={
            "item_id": item.id,
            "kind": str(evidence.kind),
            "filename": evidence.original_filename,
            **audit_data,
            "occurred_on": evidence.occurred_on.isoformat() if evidence.occurred_on else None,
        },
        at=now,
    )
    return evidence


# ---------------------------------------------------------------- links


def _clean_url(url: str) -> str:
    text = (url or "").strip()
    if not text:
        raise ValidationFailed(_l("Enter the address of the link."), field="url")
    if len(text) > URL_MAX:
        raise ValidationFailed(
            _l("The address may be at most %(limit)d characters.", limit=URL_MAX), field="url"
        )
    if _URL_FORBIDDEN.search(text):
        raise ValidationFailed(_l("The address may not contain spaces."), field="url")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValidationFailed(
            _l("Only web addresses starting with http:// or https:// are accepted."), field="url"
        )
    return text


def add_link(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    url: str,
    title: str | None,
    note: str | None = None,
    occurred_on: date | None = None,
    now: datetime,
) -> Evidence:
    """Record a link (a published page, an entry in another system) as evidence on an item."""
    _require_work(actor, item)
    _require_owed(item)
    url = _clean_url(url)
    title = (title or "").strip() or None
    if title is not None and len(title) > TITLE_MAX:
        raise ValidationFailed(
            _l("The title may be at most %(limit)d characters.", limit=TITLE_MAX), field="title"
        )
    note = _clean_note(note)
    _check_occurred_on(item, occurred_on, now)
    evidence = _record(
        session,
        actor=actor,
        item=item,
        now=now,
        occurred_on=occurred_on,
        fields={"kind": EvidenceKind.LINK, "url": url, "title": title, "note": note},
        audit_data={"url": url, "title": title},
    )
    return evidence


# ---------------------------------------------------------------- withdrawal


def withdraw(session: Session, *, actor: User, evidence: Evidence, now: datetime) -> Evidence:
    """Withdraw evidence before submission; it is kept (history), only marked withdrawn."""
    item = session.get(ChecklistItem, evidence.item_id)
    assert item is not None  # a foreign key
    _require_work(actor, item)
    if evidence.withdrawn_at is not None:
        raise InvalidTransition(_l("This evidence has already been withdrawn."))
    if evidence.submitted_round is not None:
        raise InvalidTransition(
            _l(
                "This evidence was sent for review in round %(round)d: it is frozen "
                "and cannot be withdrawn.",
                round=evidence.submitted_round,
            )
        )
    _require_owed(item)
    evidence.withdrawn_at = now
    evidence.withdrawn_by_id = actor.id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.withdrawn",
        object_type="evidence",
        object_id=evidence.id,
        data={
            "item_id": item.id,
            "kind": str(evidence.kind),
            "sha256": evidence.blob_sha256,
            "filename": evidence.original_filename,
            "url": evidence.url,
        },
        at=now,
    )
    return evidence


# ---------------------------------------------------------------- indicators and counts


def _clean_value(value: Decimal | str | int | float | None) -> Decimal:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(_l("Enter a value."), field="value")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_l("Enter a number."), field="value") from None
    if not number.is_finite() or abs(number) >= VALUE_LIMIT:
        raise ValidationFailed(_l("Enter a number."), field="value")
    if number != number.quantize(_VALUE_QUANTUM):
        raise ValidationFailed(_l("Enter at most four decimal places."), field="value")
    return number.quantize(_VALUE_QUANTUM)


def set_indicator_value(
    session: Session,
    *,
    actor: User,
    item: ChecklistItem,
    value: Decimal | str | int | float | None,
    now: datetime,
) -> ChecklistItem:
    """Record the measured value of an `indicator` item (compared with the requirement's target)."""
    _require_work(actor, item)
    if item.requirement.kind != RequirementKind.INDICATOR:
        raise ValidationFailed(_l("Only indicator items have a value."), field="value")
    _require_owed(item)
    number = _clean_value(value)
    previous = item.value
    item.value = number
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="item.value_set",
        object_type="checklist_item",
        object_id=item.id,
        data={
            "old": None if previous is None else f"{Decimal(previous).normalize():f}",
            "new": f"{number.normalize():f}",
        },
        at=now,
    )
    return item


def count_progress(session: Session, item: ChecklistItem) -> tuple[int, int]:
    """(occurrences proven, occurrences required): distinct dates of non-withdrawn evidence."""
    done = session.scalar(
        select(func.count(func.distinct(Evidence.occurred_on))).where(
            Evidence.item_id == item.id,
            Evidence.withdrawn_at.is_(None),
            Evidence.occurred_on.is_not(None),
        )
    )
    return int(done or 0), int(item.requirement.target_count or 0)


def indicator_met(item: ChecklistItem) -> bool | None:
    """Whether the item's value meets its target (None when either is missing)."""
    requirement = item.requirement
    if item.value is None or requirement.target_value is None or not requirement.target_op:
        return None
    value, target = Decimal(item.value), Decimal(requirement.target_value)
    return value >= target if requirement.target_op == ">=" else value <= target


def is_owed(item: ChecklistItem) -> bool:
    """Whether evidence on the item may still change."""
    return ItemStatus(item.status) in OWED_STATUSES
