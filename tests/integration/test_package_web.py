"""The evidence package through the web: the form, the streamed ZIP, the audit event, roles."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import pytest
from sqlalchemy import select

from tests.conftest import signed_in_client
from tests.factories import T0, make_item, make_requirement
from tests.helpers import page
from tests.integration.test_samples_web import get_streamed
from tracker.models import AuditEvent, Blob, Evidence, EvidenceKind, ItemStatus
from tracker.review import package_views
from tracker.services import sampling
from tracker.services.evidence_package import iter_package
from tracker.services.uploads import receive_upload
from tracker.storage import storage_from_config

PACKAGE = "/review/package.zip"


@pytest.fixture
def filed(app, db_session, bureau):
    """Three approved items with a stored file each (two of the section, one of the station)."""
    storage = storage_from_config(app.config)
    requirement = make_requirement(db_session, "GS-96", cadence="annual", owners=["SEC", "STA"])
    items = []
    for n, unit in enumerate([bureau.section, bureau.section, bureau.station]):
        item = make_item(
            db_session,
            unit=unit,
            requirement=requirement,
            status=ItemStatus.APPROVED,
            scope_key=f"web-{n}",
        )
        stored = receive_upload(
            io.BytesIO(f"第{n}号佐证\n".encode() * 40),
            filename=f"证明-{n}.txt",
            storage=storage,
            max_bytes=1 << 20,
        )
        if db_session.get(Blob, stored.sha256) is None:
            db_session.add(Blob(sha256=stored.sha256, size=stored.size, content_type="text/plain"))
        db_session.add(
            Evidence(
                item_id=item.id,
                kind=EvidenceKind.FILE,
                blob_sha256=stored.sha256,
                original_filename=stored.original_filename,
                safe_filename=stored.safe_filename,
                content_type=stored.content_type,
                size=stored.size,
                uploaded_by_id=bureau.user("chief").id,
                uploaded_at=T0,
                submitted_round=1,
            )
        )
        items.append(item)
    db_session.commit()
    return items


def manifest(archive: zipfile.ZipFile) -> list[dict]:
    return list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))


def test_the_form_offers_units_families_and_samples(inspector_client, db_session, bureau, filed):
    sample = sampling.draw_sample(
        db_session, actor=bureau.user("inspector"), now=T0, size=1, seed="form"
    )
    db_session.commit()
    response = inspector_client.get("/review/package")
    assert response.status_code == 200
    soup = page(response)
    form = soup.select_one("#package-form")
    assert form["method"] == "get" and form["action"] == PACKAGE
    assert str(bureau.section.id) in [o["value"] for o in soup.select("#unit option")]
    assert "recording" in [o["value"] for o in soup.select("#family option")]
    assert str(sample.id) in [o["value"] for o in soup.select("#sample option")]


def test_package_zip_streams_a_valid_archive_and_is_audited(
    inspector_client, db_session, bureau, clock, filed
):
    response, streamed, body = get_streamed(
        inspector_client, f"{PACKAGE}?unit={bureau.section.id}&period=2026&family=&sample="
    )
    assert response.status_code == 200 and streamed
    assert response.mimetype == "application/zip"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "evidence-package-2026-SEC.zip" in disposition
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    rows = manifest(archive)
    assert {int(r["item_id"]) for r in rows} == {filed[0].id, filed[1].id}
    for row in rows:
        assert hashlib.sha256(archive.read(row["path"])).hexdigest() == row["sha256"]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "package.exported"))
    assert event.actor_id == bureau.user("inspector").id
    assert event.data == {
        "unit_id": bureau.section.id,
        "period": "2026",
        "family": None,
        "sample_id": None,
    }


def test_the_audit_event_is_committed_before_the_first_byte(
    inspector_client, db_session, bureau, filed, monkeypatch
):
    seen: dict = {}

    def spying_package(session, storage, selection):
        # Runs when the first chunk is asked for: the view must have committed by then.
        seen["in_transaction"] = session().in_transaction()
        seen["event"] = session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "package.exported")
        )
        yield from iter_package(session, storage, selection)

    monkeypatch.setattr(package_views, "iter_package", spying_package)
    response, _streamed, body = get_streamed(inspector_client, PACKAGE)
    assert response.status_code == 200 and zipfile.is_zipfile(io.BytesIO(body))
    assert seen["in_transaction"] is False and seen["event"] is not None


def test_package_of_a_sample(inspector_client, db_session, bureau, filed):
    sample = sampling.draw_sample(
        db_session, actor=bureau.user("inspector"), now=T0, size=1, seed="pkg"
    )
    db_session.commit()
    response, _streamed, body = get_streamed(inspector_client, f"{PACKAGE}?sample={sample.id}")
    assert response.status_code == 200
    assert f"sample-{sample.id}" in response.headers["Content-Disposition"]
    chosen = sampling.redraw(db_session, sample)[0]
    assert {int(r["item_id"]) for r in manifest(zipfile.ZipFile(io.BytesIO(body)))} == set(chosen)


@pytest.mark.parametrize(
    "query", ["family=nonsense", "unit=999999", "sample=999999", "unit=abc", "period=123456789"]
)
def test_invalid_choices_re_render_the_form_with_400(inspector_client, db_session, filed, query):
    response = inspector_client.get(f"{PACKAGE}?{query}")
    assert response.status_code == 400
    assert page(response).select(".is-invalid")
    assert (
        db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "package.exported"))
        is None
    )


@pytest.mark.parametrize("role", ["chief", "staff", "leader"])
def test_only_reviewers_download_packages(app, db_session, bureau, filed, role):
    client = signed_in_client(app, bureau.user(role))
    assert client.get("/review/package").status_code == 403
    assert client.get(PACKAGE).status_code == 403
    assert (
        db_session.scalar(select(AuditEvent.id).where(AuditEvent.action == "package.exported"))
        is None
    )


def test_admin_downloads_packages(admin_client, filed):
    response, streamed, body = get_streamed(admin_client, PACKAGE)
    assert response.status_code == 200 and streamed
    assert len({r["item_id"] for r in manifest(zipfile.ZipFile(io.BytesIO(body)))}) == 3
