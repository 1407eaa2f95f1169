"""The evidence service: files stored once, recorded all or nothing; links, withdrawal, counts."""

from __future__ import annotations

import gc
import hashlib
import io
import time
import tracemalloc
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.factories import T0, make_item, make_requirement
from tests.unit.test_filetypes import pdf_bytes, png_bytes
from tests.unit.test_uploads import GeneratedStream, expected_sha256
from tracker.models import AuditEvent, Blob, Evidence, EvidenceKind, ItemStatus, Role
from tracker.services import evidence as service
from tracker.services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from tracker.services.uploads import EmptyFile, FileRefused, FileTooLarge
from tracker.storage import LocalBlobStorage

MIB = 1 << 20
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"PE\x00\x00" + b"\x00" * 4000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def storage(tmp_path: Path) -> LocalBlobStorage:
    return LocalBlobStorage(tmp_path / "blobs")


@pytest.fixture
def item(db_session, bureau):
    return make_item(db_session, unit=bureau.section)


@pytest.fixture
def chief(bureau):
    return bureau.user(Role.CHIEF)


def add(session, storage, actor, item, *files: tuple[bytes, str], **kwargs):
    return service.add_files(
        session,
        actor=actor,
        item=item,
        files=[(io.BytesIO(data), name) for data, name in files],
        storage=storage,
        max_bytes=kwargs.pop("max_bytes", 10 * MIB),
        now=kwargs.pop("now", T0),
        **kwargs,
    )


def evidence_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Evidence))


def assert_storage_empty(storage: LocalBlobStorage) -> None:
    assert list(storage.iter_hashes()) == []
    assert storage.temp_files() == []


# ---------------------------------------------------------------- files


def test_files_are_stored_under_their_sha256_and_recorded(db_session, storage, chief, item):
    data = pdf_bytes()
    (evidence,) = add(db_session, storage, chief, item, (data, "整改报告.pdf"), note=" 见第3页 ")
    assert evidence.kind == EvidenceKind.FILE
    assert evidence.blob_sha256 == sha(data) == storage.hash_of(sha(data))
    assert evidence.size == len(data) and evidence.content_type == "application/pdf"
    assert evidence.original_filename == evidence.safe_filename == "整改报告.pdf"
    assert evidence.note == "见第3页" and evidence.uploaded_by_id == chief.id
    assert evidence.uploaded_at == T0 and evidence.occurred_on is None
    blob = db_session.get(Blob, sha(data))
    assert blob is not None and blob.size == len(data)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert event.object_id == str(evidence.id) and event.actor_id == chief.id
    assert event.data["sha256"] == sha(data) and event.data["size"] == len(data)
    assert event.data["filename"] == "整改报告.pdf" and event.data["item_id"] == item.id


def test_the_same_bytes_are_stored_once(db_session, storage, chief, item):
    data = png_bytes()
    first = add(db_session, storage, chief, item, (data, "a.png"), (data, "b.png"))
    second = add(db_session, storage, chief, item, (data, "c.png"))
    assert len({e.id for e in first + second}) == 3
    assert list(storage.iter_hashes()) == [sha(data)]
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 1
    assert evidence_count(db_session) == 3
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert [e.data["deduplicated"] for e in events] == [False, True, True]


@pytest.mark.parametrize(
    ("data", "name", "error"),
    [
        (EXE, "报告.pdf", FileRefused),
        (b"", "empty.pdf", EmptyFile),
        (b"x" * (MIB + 1), "big.txt", FileTooLarge),
        (b"<html><script>alert(1)</script></html>", "page.txt", FileRefused),
    ],
    ids=["exe-renamed-pdf", "empty", "too-large", "html-as-text"],
)
def test_a_refused_file_refuses_the_whole_request_and_leaves_nothing(
    db_session, storage, chief, item, data, name, error
):
    with pytest.raises(error) as raised:
        # A good file first: its new blob must be removed with the refusal.
        add(db_session, storage, chief, item, (pdf_bytes(), "ok.pdf"), (data, name), max_bytes=MIB)
    assert raised.value.field == "file" and str(raised.value.message)
    assert evidence_count(db_session) == 0
    assert db_session.scalar(select(func.count()).select_from(Blob)) == 0
    assert_storage_empty(storage)


def test_a_refusal_keeps_blobs_that_other_evidence_uses(db_session, storage, chief, item):
    add(db_session, storage, chief, item, (pdf_bytes(), "kept.pdf"))
    with pytest.raises(EmptyFile):
        add(db_session, storage, chief, item, (pdf_bytes(), "again.pdf"), (b"", "empty.txt"))
    assert list(storage.iter_hashes()) == [sha(pdf_bytes())]
    assert evidence_count(db_session) == 1


def test_a_path_in_the_name_is_dropped(db_session, storage, chief, item):
    (evidence,) = add(db_session, storage, chief, item, (b"root:x:0:0\n", "../../etc/passwd.txt"))
    for name in (evidence.original_filename, evidence.safe_filename):
        assert "/" not in name and "\\" not in name and ".." not in name
    assert evidence.safe_filename == "passwd.txt"
    (windows,) = add(db_session, storage, chief, item, (b"a\n", "C:\\Users\\张三\\记录.txt"))
    assert windows.original_filename == windows.safe_filename == "记录.txt"


def test_a_crash_in_the_middle_of_an_upload_leaves_nothing(db_session, storage, chief, item):
    total = 8 * MIB
    files = [
        (io.BytesIO(pdf_bytes()), "first.pdf"),
        (GeneratedStream(total, fail_at=total // 2), "记录.mp4"),
    ]
    with pytest.raises(ConnectionResetError):
        service.add_files(
            db_session,
            actor=chief,
            item=item,
            files=files,
            storage=storage,
            max_bytes=total,
            now=T0,
        )
    assert evidence_count(db_session) == 0
    assert_storage_empty(storage)


def test_a_300_mb_upload_streams_with_bounded_memory(db_session, storage, chief, item):
    total = 300 * MIB
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        (evidence,) = service.add_files(
            db_session,
            actor=chief,
            item=item,
            files=[(GeneratedStream(total), "执法记录仪.mp4")],
            storage=storage,
            max_bytes=400 * MIB,
            now=T0,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    print(
        f"\n300 MB upload through the evidence service: peak {peak / MIB:.1f} MiB, {elapsed:.1f} s"
    )
    assert peak < 50 * MIB
    assert evidence.size == total and evidence.content_type == "video/mp4"
    assert evidence.blob_sha256 == expected_sha256(total)


def test_too_many_files_and_no_file_are_refused(db_session, storage, chief, item):
    with pytest.raises(ValidationFailed) as raised:
        add(db_session, storage, chief, item)
    assert raised.value.field == "files"
    with pytest.raises(ValidationFailed):
        three = [(b"%d\n" % n, f"{n}.txt") for n in range(3)]
        add(db_session, storage, chief, item, *three, max_files=2)
    assert_storage_empty(storage)


# ---------------------------------------------------------------- who and when


def test_who_may_add_evidence(db_session, storage, bureau, item):
    staff = bureau.user(Role.STAFF)
    for actor in (
        staff,  # not assigned to the item
        bureau.user(Role.LEADER),
        bureau.user(Role.INSPECTOR),
        bureau.users["other_chief"],
    ):
        with pytest.raises(PermissionDenied):
            add(db_session, storage, actor, item, (pdf_bytes(), "a.pdf"))
        with pytest.raises(PermissionDenied):
            service.add_link(
                db_session, actor=actor, item=item, url="https://a.cn", title="", now=T0
            )
    assert_storage_empty(storage)
    item.assignee_id = staff.id
    db_session.flush()
    assert add(db_session, storage, staff, item, (pdf_bytes(), "a.pdf"))
    assert add(db_session, storage, bureau.user(Role.ADMIN), item, (png_bytes(), "b.png"))


@pytest.mark.parametrize("status", [ItemStatus.SUBMITTED, ItemStatus.APPROVED])
def test_evidence_is_frozen_after_submission(db_session, storage, chief, item, status):
    item.status = status
    db_session.flush()
    with pytest.raises(InvalidTransition):
        add(db_session, storage, chief, item, (pdf_bytes(), "a.pdf"))
    with pytest.raises(InvalidTransition):
        service.add_link(db_session, actor=chief, item=item, url="https://a.cn", title="", now=T0)
    assert_storage_empty(storage)
    assert evidence_count(db_session) == 0


def test_a_returned_item_takes_evidence_again(db_session, storage, chief, item):
    item.status = ItemStatus.RETURNED
    db_session.flush()
    assert add(db_session, storage, chief, item, (pdf_bytes(), "a.pdf"))


# ---------------------------------------------------------------- links


def test_links(db_session, chief, item):
    link = service.add_link(
        db_session,
        actor=chief,
        item=item,
        url=" https://www.gsxt.gov.cn/公示?id=1 ",
        title="公示页面",
        note="网站公示",
        now=T0,
    )
    assert link.kind == EvidenceKind.LINK and link.url == "https://www.gsxt.gov.cn/公示?id=1"
    assert link.display_name == "公示页面" and link.blob_sha256 is None
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.added"))
    assert event.object_id == str(link.id)
    assert event.action == "evidence.added" and event.data["url"] == link.url


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("", ""),
        ("javascript:alert(1)", ""),
        ("ftp://files.example.org/a.pdf", ""),
        ("https://", ""),
        ("www.example.org", ""),
        ("https://exa mple.org", ""),
        ("https://example.org:99999/", ""),
        ("https://example.org/" + "a" * 2000, ""),
        ("https://example.org/", "标" * 256),
    ],
)
def test_bad_links_are_refused(db_session, chief, item, url, title):
    with pytest.raises(ValidationFailed) as raised:
        service.add_link(db_session, actor=chief, item=item, url=url, title=title, now=T0)
    assert raised.value.field in {"url", "title"}
    assert evidence_count(db_session) == 0


# ---------------------------------------------------------------- withdrawal


def test_withdrawal_before_submission_keeps_the_row(db_session, storage, chief, item):
    (evidence,) = add(db_session, storage, chief, item, (pdf_bytes(), "a.pdf"))
    later = T0 + timedelta(hours=1)
    service.withdraw(db_session, actor=chief, evidence=evidence, now=later)
    assert evidence.withdrawn_at == later and evidence.withdrawn_by_id == chief.id
    assert evidence_count(db_session) == 1 and storage.exists(evidence.blob_sha256)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "evidence.withdrawn"))
    assert event.object_id == str(evidence.id) and event.data["sha256"] == evidence.blob_sha256
    with pytest.raises(InvalidTransition):
        service.withdraw(db_session, actor=chief, evidence=evidence, now=later)


def test_withdrawal_is_refused_after_submission(db_session, storage, chief, item):
    (evidence,) = add(db_session, storage, chief, item, (pdf_bytes(), "a.pdf"))
    evidence.submitted_round = 1
    item.status = ItemStatus.SUBMITTED
    db_session.flush()
    with pytest.raises(InvalidTransition) as raised:
        service.withdraw(db_session, actor=chief, evidence=evidence, now=T0)
    assert str(raised.value.message)
    # Returned after review: evidence of the earlier round stays frozen, new evidence does not.
    item.status = ItemStatus.RETURNED
    db_session.flush()
    with pytest.raises(InvalidTransition):
        service.withdraw(db_session, actor=chief, evidence=evidence, now=T0)
    (fresh,) = add(db_session, storage, chief, item, (png_bytes(), "b.png"))
    service.withdraw(db_session, actor=chief, evidence=fresh, now=T0)
    assert evidence.withdrawn_at is None and fresh.withdrawn_at is not None


def test_withdrawal_needs_the_right_to_work_the_item(db_session, storage, bureau, chief, item):
    (evidence,) = add(db_session, storage, chief, item, (pdf_bytes(), "a.pdf"))
    for actor in (
        bureau.user(Role.STAFF),
        bureau.user(Role.INSPECTOR),
        bureau.users["other_chief"],
    ):
        with pytest.raises(PermissionDenied):
            service.withdraw(db_session, actor=actor, evidence=evidence, now=T0)
    assert evidence.withdrawn_at is None


# ---------------------------------------------------------------- counts and indicators


@pytest.fixture
def count_item(db_session, bureau):
    requirement = make_requirement(
        db_session, cadence="annual", kind="count", target_count=2, owners=["SEC"]
    )
    return make_item(db_session, unit=bureau.section, requirement=requirement)


def test_count_items_need_a_date_within_the_period(db_session, storage, chief, count_item):
    for occurred_on in (None, date(2025, 12, 31), date(2026, 11, 3)):  # today is 2 Nov 2026
        with pytest.raises(ValidationFailed) as raised:
            file = (pdf_bytes(), "a.pdf")
            add(db_session, storage, chief, count_item, file, occurred_on=occurred_on)
        assert raised.value.field == "occurred_on"
    with pytest.raises(ValidationFailed):
        service.add_link(
            db_session, actor=chief, item=count_item, url="https://a.cn", title="", now=T0
        )
    assert_storage_empty(storage)


def test_count_progress_counts_distinct_dates_of_kept_evidence(
    db_session, storage, chief, count_item
):
    assert service.count_progress(db_session, count_item) == (0, 2)
    march, june = date(2026, 3, 10), date(2026, 6, 5)
    files = [(pdf_bytes(), "会议纪要.pdf"), (png_bytes(), "照片.png")]
    add(db_session, storage, chief, count_item, *files, occurred_on=march)
    assert service.count_progress(db_session, count_item) == (1, 2)
    link = service.add_link(
        db_session,
        actor=chief,
        item=count_item,
        url="https://a.cn/2",
        title="",
        occurred_on=june,
        now=T0,
    )
    assert service.count_progress(db_session, count_item) == (2, 2)
    service.withdraw(db_session, actor=chief, evidence=link, now=T0)
    assert service.count_progress(db_session, count_item) == (1, 2)


def test_the_date_is_kept_only_for_count_items(db_session, storage, chief, item):
    file = (pdf_bytes(), "a.pdf")
    (evidence,) = add(db_session, storage, chief, item, file, occurred_on=date(2026, 3, 1))
    assert evidence.occurred_on is None


@pytest.fixture
def indicator_item(db_session, bureau):
    requirement = make_requirement(
        db_session,
        cadence="annual",
        kind="indicator",
        target_value=90,
        target_op=">=",
        target_unit="%",
        owners=["SEC"],
    )
    return make_item(db_session, unit=bureau.section, requirement=requirement)


def test_indicator_value(db_session, chief, bureau, indicator_item, item):
    service.set_indicator_value(db_session, actor=chief, item=indicator_item, value="92.5", now=T0)
    assert indicator_item.value == Decimal("92.5")
    assert service.indicator_met(indicator_item) is True
    service.set_indicator_value(db_session, actor=chief, item=indicator_item, value="80", now=T0)
    assert service.indicator_met(indicator_item) is False
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "item.value_set").order_by(AuditEvent.seq)
    ).all()[-1]
    assert event.data == {"old": "92.5", "new": "80"}
    for bad in ("", "abc", "NaN", "1e12", "1.23456"):
        with pytest.raises(ValidationFailed):
            service.set_indicator_value(
                db_session, actor=chief, item=indicator_item, value=bad, now=T0
            )
    with pytest.raises(ValidationFailed):  # not an indicator
        service.set_indicator_value(db_session, actor=chief, item=item, value="1", now=T0)
    with pytest.raises(PermissionDenied):
        service.set_indicator_value(
            db_session, actor=bureau.user(Role.LEADER), item=indicator_item, value="1", now=T0
        )
    indicator_item.status = ItemStatus.SUBMITTED
    with pytest.raises(InvalidTransition):
        service.set_indicator_value(
            db_session, actor=chief, item=indicator_item, value="95", now=T0
        )
