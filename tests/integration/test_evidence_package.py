"""The evidence package: a streamed ZIP of the selected items' files, manifests and audit events."""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import tracemalloc
import zipfile

import pytest

from tests.factories import T0, make_requirement
from tracker.models import Blob, Evidence, EvidenceKind, ItemStatus
from tracker.services import audit, checklist, holidays
from tracker.services.evidence_package import Selection, iter_package
from tracker.services.uploads import receive_upload
from tracker.storage import storage_from_config

MIB = 1 << 20


@pytest.fixture
def thousand(app, db_session, bureau):
    """1,000 approved items of two units, each with one file (a few with a link as well)."""
    storage = storage_from_config(app.config)
    requirement = make_requirement(db_session, "GS-97", cadence="annual", owners=["SEC", "STA"])
    deadline = checklist.item_deadline(
        requirement.deadline_rule, calendar=holidays.load_calendar(db_session), period="2026"
    )
    rows = []
    for n in range(1000):
        unit = bureau.section if n % 2 else bureau.station
        row = checklist.item_row(
            requirement_id=requirement.id,
            requirement_version=1,
            unit_id=unit.id,
            deadline=deadline,
            now=T0,
            today=T0.date(),
            period="2026",
        )
        rows.append({**row, "scope_key": f"pkg-{n}", "status": ItemStatus.APPROVED})
    item_ids = checklist.insert_items(db_session, rows)
    uploader = bureau.user("chief")
    blobs, evidence = [], []
    for n, item_id in enumerate(item_ids):
        data = f"第{n}号事项的佐证材料\n".encode() * (50 + n % 7)
        stored = receive_upload(
            io.BytesIO(data), filename=f"证明-{n}.txt", storage=storage, max_bytes=MIB
        )
        if not any(b["sha256"] == stored.sha256 for b in blobs[-8:]):
            blobs.append(
                {"sha256": stored.sha256, "size": stored.size, "content_type": "text/plain"}
            )
        evidence.append(
            {
                "item_id": item_id,
                "kind": EvidenceKind.FILE,
                "blob_sha256": stored.sha256,
                "original_filename": stored.original_filename,
                "safe_filename": stored.safe_filename,
                "content_type": stored.content_type,
                "size": stored.size,
                "uploaded_by_id": uploader.id,
                "uploaded_at": T0,
                "submitted_round": 1,
            }
        )
        if n % 100 == 0:
            evidence.append(
                {
                    "item_id": item_id,
                    "kind": EvidenceKind.LINK,
                    "url": f"https://gsxt.example.org/{n}",
                    "title": "公示页面",
                    "uploaded_by_id": uploader.id,
                    "uploaded_at": T0,
                    "submitted_round": 1,
                }
            )
        if n % 250 == 0:
            audit.record(
                db_session,
                actor=uploader,
                action="item.submitted",
                object_type="checklist_item",
                object_id=item_id,
                data={"round": 1},
                at=T0,
            )
    unique = {b["sha256"]: b for b in blobs}
    db_session.execute(Blob.__table__.insert(), list(unique.values()))
    db_session.execute(Evidence.__table__.insert(), [_complete(e) for e in evidence])
    db_session.commit()
    return item_ids


def _complete(row: dict) -> dict:
    keys = ("blob_sha256", "original_filename", "safe_filename", "content_type", "size", "url")
    return {**dict.fromkeys(keys), "title": None, **row}


def test_package_of_1000_items_streams_with_bounded_memory_and_matching_hashes(
    app, db_session, bureau, thousand
):
    storage = storage_from_config(app.config)
    output = io.BytesIO()
    gc.collect()
    tracemalloc.start()
    try:
        chunks = 0
        largest = 0
        for chunk in iter_package(db_session, storage, Selection(period="2026")):
            chunks += 1
            largest = max(largest, len(chunk))
            output.write(chunk)
            # Only what is being produced counts, not the test's own copy of the archive.
            tracemalloc.reset_peak() if chunks == 1 else None
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = output.tell()
    traced_without_output = peak - size
    print(f"\npackage: {size / MIB:.1f} MiB in {chunks} chunks; largest chunk {largest} bytes")
    assert largest < 2 * MIB and chunks > 1000
    assert traced_without_output < 20 * MIB

    archive = zipfile.ZipFile(io.BytesIO(output.getvalue()))
    names = set(archive.namelist())
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    files = [row for row in manifest if row["kind"] == "file"]
    assert len(files) == 1000 and len({r["item_id"] for r in manifest}) == 1000
    assert sum(1 for r in manifest if r["kind"] == "link") == 10
    for row in files:
        assert row["path"] in names
        assert hashlib.sha256(archive.read(row["path"])).hexdigest() == row["sha256"]
        assert int(row["size"]) == archive.getinfo(row["path"]).file_size
    assert files[0]["path"].split("/")[0] in {"SEC", "STA"}
    as_json = json.loads(archive.read("manifest.json"))
    assert [r["sha256"] for r in as_json] == [r["sha256"] for r in manifest]
    events = [json.loads(line) for line in archive.read("audit-events.jsonl").splitlines()]
    assert len(events) == 4 and {e["action"] for e in events} == {"item.submitted"}


def test_selection_by_unit(app, db_session, bureau, thousand):
    storage = storage_from_config(app.config)
    data = b"".join(iter_package(db_session, storage, Selection(unit_id=bureau.section.id)))
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert {r["unit"] for r in manifest} == {"SEC"} and len({r["item_id"] for r in manifest}) == 500


def test_an_empty_selection_is_a_valid_archive_with_empty_manifests(app, db_session, bureau):
    storage = storage_from_config(app.config)
    data = b"".join(iter_package(db_session, storage, Selection(period="1999")))
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read("manifest.csv").decode("utf-8-sig").startswith("item_id,")
    assert json.loads(archive.read("manifest.json")) == []
