"""Evidence package for an external audit: a ZIP streamed straight to the client.

Layout: `UNIT/REQUIREMENT-SCOPE/ID-NAME` for every file of the selected items, then
`manifest.csv`, `manifest.json` (one row per evidence, and per item without any) and
`audit-events.jsonl` (the items' audit events). Nothing is held whole in memory: items are read in
batches, files are copied in chunks, and the manifests are spooled to temporary files (on disk
once they grow) until their turn comes in the archive.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from tracker.models import (
    AuditEvent,
    AuditSampleItem,
    ChecklistItem,
    Evidence,
    EvidenceKind,
    Requirement,
    Review,
    ReviewDecision,
    Submission,
    User,
)
from tracker.services.ledger import safe_text
from tracker.storage.base import BlobStorage

BATCH = 200
COPY_CHUNK = 1 << 20
SPOOL_IN_MEMORY = 1 << 20  # manifests larger than this go to a temporary file
MANIFEST_COLUMNS = (
    "item_id",
    "requirement",
    "title",
    "unit",
    "scope",
    "status",
    "due_date",
    "submitted_at",
    "reviewer",
    "reviewed_at",
    "evidence_id",
    "kind",
    "path",
    "original_filename",
    "url",
    "size",
    "sha256",
    "uploaded_at",
    "uploaded_by",
    "withdrawn",
)
_UNSAFE_PATH = re.compile(r"[\\/:*?\"<>|\x00-\x1f]+")


@dataclass(frozen=True)
class Selection:
    """Which items go into the package (all filters optional, combined with AND)."""

    unit_id: int | None = None
    period: str | None = None
    family: str | None = None
    sample_id: int | None = None

    def statement(self) -> Select[tuple[int]]:
        stmt = select(ChecklistItem.id)
        if self.unit_id:
            stmt = stmt.where(ChecklistItem.unit_id == self.unit_id)
        if self.period:
            stmt = stmt.where(ChecklistItem.period.startswith(self.period, autoescape=True))
        if self.family:
            stmt = stmt.join(ChecklistItem.requirement).where(Requirement.family == self.family)
        if self.sample_id:
            stmt = stmt.where(
                ChecklistItem.id.in_(
                    select(AuditSampleItem.item_id).where(
                        AuditSampleItem.sample_id == self.sample_id
                    )
                )
            )
        return stmt.order_by(ChecklistItem.id)


def _path_part(text: str) -> str:
    return _UNSAFE_PATH.sub("_", text).strip(" .") or "_"


class _Sink(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out as they come (zipfile streams)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _latest_reviews(session: Session, item_ids: Sequence[int]) -> dict[int, tuple[str, Any]]:
    """(reviewer name, decided_at) of each item's latest approval."""
    rows = session.execute(
        select(Review.item_id, User.name, Review.decided_at)
        .join(User, User.id == Review.reviewer_id)
        .where(Review.item_id.in_(item_ids), Review.decision == ReviewDecision.APPROVE)
        .order_by(Review.item_id, Review.decided_at)
    )
    return {item_id: (name, decided_at) for item_id, name, decided_at in rows}


def _last_submissions(session: Session, item_ids: Sequence[int]) -> dict[int, Any]:
    return dict(
        session.execute(
            select(Submission.item_id, func.max(Submission.submitted_at))
            .where(Submission.item_id.in_(item_ids))
            .group_by(Submission.item_id)
        ).all()
    )


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def iter_package(session: Session, storage: BlobStorage, selection: Selection) -> Iterator[bytes]:
    """The ZIP, chunk by chunk; read the session only while iterating."""
    sink = _Sink()
    with _spool() as manifest_csv, _spool() as manifest_json, _spool() as events:
        writer = csv.DictWriter(manifest_csv, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        manifest_json.write("[")
        first_row = True
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            ids = list(session.scalars(selection.statement()))
            for start in range(0, len(ids), BATCH):
                batch = ids[start : start + BATCH]
                for row, evidence in _batch_rows(session, batch):
                    if evidence is not None and evidence.kind == EvidenceKind.FILE:
                        with (
                            zf.open(row["path"], "w", force_zip64=True) as target,
                            storage.open(evidence.blob_sha256) as source,
                        ):
                            while chunk := source.read(COPY_CHUNK):
                                target.write(chunk)
                                yield sink.take()
                    # Typed text (titles, names, file names) never runs as a formula in the
                    # CSV; the JSON manifest keeps it exactly as recorded.
                    writer.writerow(
                        {k: safe_text(v) if isinstance(v, str) else v for k, v in row.items()}
                    )
                    manifest_json.write(("" if first_row else ",") + "\n")
                    manifest_json.write(json.dumps(row, ensure_ascii=False))
                    first_row = False
                for event in session.scalars(
                    select(AuditEvent)
                    .where(
                        AuditEvent.object_type == "checklist_item",
                        AuditEvent.object_id.in_([str(i) for i in batch]),
                    )
                    .order_by(AuditEvent.seq)
                ):
                    events.write(json.dumps(_event_record(event), ensure_ascii=False) + "\n")
                yield sink.take()
            manifest_json.write("\n]\n")
            for name, spool in (
                ("manifest.csv", manifest_csv),
                ("manifest.json", manifest_json),
                ("audit-events.jsonl", events),
            ):
                _copy_text(zf, name, spool)
                yield sink.take()
        yield sink.take()


def _spool() -> IO[str]:
    return tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY, mode="w+", encoding="utf-8")


def _copy_text(zf: zipfile.ZipFile, name: str, spool: IO[str]) -> None:
    spool.seek(0)
    with zf.open(name, "w", force_zip64=True) as target:
        if name == "manifest.csv":
            target.write("\ufeff".encode())  # Excel opens UTF-8 CSV correctly with a BOM
        while text := spool.read(COPY_CHUNK):
            target.write(text.encode("utf-8"))


def _event_record(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": _iso(event.occurred_at),
        "actor": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def _batch_rows(
    session: Session, item_ids: Sequence[int]
) -> Iterator[tuple[dict[str, Any], Evidence | None]]:
    """Manifest rows of a batch of items (four queries per batch)."""
    items = session.scalars(
        select(ChecklistItem)
        .options(
            joinedload(ChecklistItem.requirement),
            joinedload(ChecklistItem.unit),
            joinedload(ChecklistItem.case),
        )
        .where(ChecklistItem.id.in_(item_ids))
        .order_by(ChecklistItem.id)
    ).all()
    evidence_of: dict[int, list[Evidence]] = {}
    for evidence in session.scalars(
        select(Evidence).where(Evidence.item_id.in_(item_ids)).order_by(Evidence.id)
    ):
        evidence_of.setdefault(evidence.item_id, []).append(evidence)
    reviews = _latest_reviews(session, item_ids)
    submitted = _last_submissions(session, item_ids)
    for item in items:
        reviewer, reviewed_at = reviews.get(item.id, ("", None))
        folder = (
            f"{_path_part(item.unit.code)}/"
            f"{_path_part(item.requirement.code)}-{_path_part(item.scope_label)}"
        )
        base = {
            "item_id": item.id,
            "requirement": item.requirement.code,
            "title": item.requirement.title_zh,
            "unit": item.unit.code,
            "scope": item.scope_label,
            "status": str(item.status),
            "due_date": _iso(item.due_date),
            "submitted_at": _iso(submitted.get(item.id)),
            "reviewer": reviewer,
            "reviewed_at": _iso(reviewed_at),
        }
        evidences = evidence_of.get(item.id, [])
        if not evidences:
            yield {**base, **dict.fromkeys(MANIFEST_COLUMNS[10:], "")}, None
        for evidence in evidences:
            is_file = evidence.kind == EvidenceKind.FILE
            yield (
                {
                    **base,
                    "evidence_id": evidence.id,
                    "kind": str(evidence.kind),
                    "path": (
                        f"{folder}/{evidence.id}-{_path_part(evidence.safe_filename or 'file')}"
                        if is_file
                        else ""
                    ),
                    "original_filename": evidence.original_filename or "",
                    "url": evidence.url or "",
                    "size": evidence.size if is_file else "",
                    "sha256": evidence.blob_sha256 or "",
                    "uploaded_at": _iso(evidence.uploaded_at),
                    "uploaded_by": evidence.uploaded_by.name,
                    "withdrawn": "yes" if evidence.withdrawn_at else "",
                },
                evidence,
            )
