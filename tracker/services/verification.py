"""`tracker verify`: re-hash every stored blob against its record, walk the audit chain and
recount the item tally.

Read-only. Both walks stream (blobs in id batches, the chain with yield_per), so a bureau's
whole history is checked with bounded memory. Every problem names the blob or audit row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, Blob
from tracker.services import audit, tally
from tracker.storage.base import BlobNotFound, BlobStorage


@dataclass(frozen=True)
class BlobProblem:
    kind: str  # altered | missing | size
    sha256: str
    expected: str
    found: str

    def describe(self) -> str:
        return f"blob {self.kind}: {self.sha256}: expected {self.expected}, found {self.found}"


@dataclass
class VerificationReport:
    blobs_checked: int = 0
    events_checked: int = 0
    blob_problems: list[BlobProblem] = field(default_factory=list)
    chain_problems: list[audit.ChainProblem] = field(default_factory=list)
    tally_problems: list[tally.TallyProblem | tally.UnitFamilyTallyProblem] = field(
        default_factory=list
    )

    @property
    def ok(self) -> bool:
        return not self.blob_problems and not self.chain_problems and not self.tally_problems

    def lines(self) -> list[str]:
        problems = [*self.blob_problems, *self.chain_problems, *self.tally_problems]
        return [p.describe() for p in problems]


def iter_blob_problems(
    session: Session, storage: BlobStorage, *, batch_size: int = 500
) -> Iterator[BlobProblem | int]:
    """Yields each problem, and the running count of blobs checked after each batch."""
    checked = 0
    last = ""
    while True:
        batch = session.execute(
            select(Blob.sha256, Blob.size)
            .where(Blob.sha256 > last)
            .order_by(Blob.sha256)
            .limit(batch_size)
        ).all()
        if not batch:
            return
        for sha256, size in batch:
            try:
                stored_size = storage.size(sha256)
                found = storage.hash_of(sha256)
            except BlobNotFound:
                yield BlobProblem("missing", sha256, "stored bytes", "nothing")
                continue
            if found != sha256:
                yield BlobProblem("altered", sha256, sha256, found)
            elif stored_size != size:
                yield BlobProblem("size", sha256, f"{size} bytes", f"{stored_size} bytes")
        checked += len(batch)
        last = batch[-1][0]
        yield checked


def verify(session: Session, storage: BlobStorage) -> VerificationReport:
    report = VerificationReport()
    for outcome in iter_blob_problems(session, storage):
        if isinstance(outcome, int):
            report.blobs_checked = outcome
        else:
            report.blob_problems.append(outcome)
    report.events_checked = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    report.chain_problems = list(audit.iter_chain_problems(session))
    report.tally_problems = list(tally.iter_problems(session))
    return report
