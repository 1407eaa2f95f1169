"""Evidence through the API: multipart upload (the web upload's streaming and checks) and
download (streamed from blob storage)."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request, url_for
from flask_babel import lazy_gettext as _l

from tracker.api import bp
from tracker.api.auth import api_user
from tracker.api.common import (
    FieldErrors,
    clean_text,
    evidence_json,
    item_json,
    parse_date,
)
from tracker.api.errors import ApiError
from tracker.api.items import _may_read_withdrawn
from tracker.api.openapi import operation
from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.items.evidence_forms import streams_files_to_storage
from tracker.items.files import blob_storage, max_upload_bytes, send_evidence_file
from tracker.models import ChecklistItem, Evidence, EvidenceKind
from tracker.permissions import Permission, can_work_item
from tracker.services import evidence as evidence_service


@bp.post("/items/<int:item_id>/evidence")
@streams_files_to_storage
@operation(
    summary="Upload evidence files to an item",
    tag="evidence",
    description=(
        "multipart/form-data: one or more `file` parts, optional `note` and `occurred_on` "
        "(YYYY-MM-DD, required for count requirements). Files are streamed to storage while "
        "hashed and checked; either all of them are recorded or none. 413 for a file over the "
        "size limit, 415 for a refused type (decided from the content, not the name)."
    ),
    request_body={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "note": {"type": "string", "maxLength": 1000},
                        "occurred_on": {"type": "string", "format": "date"},
                    },
                    "required": ["file"],
                }
            }
        },
    },
    responses={
        201: {
            "description": "recorded",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EvidenceAdded"}}
            },
        }
    },
    errors=(400, 403, 404, 409, 413, 415, 422),
)
@requires(
    Permission.WORK_ITEMS,
    rule=can_work_item,
    rule_message=_l("You may not add or withdraw evidence on this item."),
    item_id=ChecklistItem,
)
def upload_evidence(item: ChecklistItem) -> tuple[Response, int]:
    user = api_user()
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", _l("Send the files as multipart/form-data."))
    errors = FieldErrors()
    occurred_on = parse_date(request.form.get("occurred_on"), "occurred_on", errors)
    note = clean_text(request.form.get("note"), "note", errors)
    errors.raise_if_any()
    # Each part's stream goes to the service as it is: a large request's parts were streamed into
    # blob storage while parsed (EvidenceRequest), a small one's are read in chunks from memory.
    files = [(f.stream, f.filename or "") for f in request.files.getlist("file") if f]
    added = evidence_service.add_files(
        db.session,
        actor=user,
        item=item,
        files=files,
        storage=blob_storage(),
        max_bytes=max_upload_bytes(),
        max_files=current_app.config["TRACKER_MAX_FILES_PER_UPLOAD"],
        note=note,
        occurred_on=occurred_on,
        now=now(),
    )
    db.session.commit()
    body = {
        "evidence": [
            evidence_json(e, download=url_for("api.download_evidence", evidence_id=e.id))
            for e in added
        ],
        "item": item_json(item, today=today()),
    }
    return jsonify(body), 201


@bp.get("/evidence/<int:evidence_id>/download")
@operation(
    summary="Download an evidence file",
    tag="evidence",
    description=(
        "The stored bytes, streamed, with the recorded content type; the `ETag` is the sha256. "
        "404 for links, for other units' evidence and for others' withdrawn files."
    ),
    responses={
        200: {
            "description": "the file",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {"ETag": {"schema": {"type": "string"}}},
        }
    },
    errors=(403, 404),
)
@requires(Permission.VIEW_ITEMS, evidence_id=Evidence)
def download_evidence(evidence: Evidence) -> Response:
    user = api_user()
    if evidence.kind != EvidenceKind.FILE or not evidence.blob_sha256:
        raise ApiError(404, "not_found", _l("This evidence is a link: it has no file."))
    if evidence.withdrawn_at is not None and not _may_read_withdrawn(user, evidence):
        raise ApiError(404)
    # The web download's streaming response: 64 KiB chunks, nosniff, RFC 5987 file name.
    return send_evidence_file(evidence, disposition="attachment")
