"""Evidence on an item: upload files, add links, record a value, withdraw, download and preview."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import aliased
from werkzeug.exceptions import RequestEntityTooLarge

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import authorize, requires
from tracker.items import bp
from tracker.items.evidence_forms import (
    EvidenceLinkForm,
    EvidenceUploadForm,
    IndicatorValueForm,
    streams_files_to_storage,
)
from tracker.items.files import blob_storage, max_upload_bytes, send_evidence_file
from tracker.items.page import item_panel, render_item_page
from tracker.models import ChecklistItem, Evidence, EvidenceKind, RequirementKind, User
from tracker.permissions import Permission, can_see_unit, can_work_item, sees_all_units
from tracker.services import evidence as evidence_service
from tracker.services.errors import DomainError, InvalidTransition, PermissionDenied
from tracker.services.filetypes import extension_of, human_size
from tracker.services.uploads import FileTooLarge

log = logging.getLogger(__name__)

# Served inline by the preview: types a browser renders itself without running anything.
PREVIEW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
PREVIEW_TYPES = PREVIEW_IMAGE_TYPES | {"application/pdf"}
# g attribute carrying a refused form and its message back into the re-rendered item page.
_REFUSAL = "evidence_refusal"


# ---------------------------------------------------------------- helpers


def _visible_item_or_404(item: ChecklistItem) -> ChecklistItem:
    """Another unit's item is as absent as a missing one, whatever the id."""
    if not can_see_unit(current_user, item.unit):
        abort(404)
    return item


def _item_of(evidence: Evidence) -> ChecklistItem:
    item = db.session.get(ChecklistItem, evidence.item_id)
    assert item is not None  # a foreign key
    return _visible_item_or_404(item)


def _may_read_withdrawn(user: User, evidence: Evidence) -> bool:
    """Withdrawn evidence is history: the uploader's unit and bureau-wide roles still read it."""
    return sees_all_units(user) or can_see_unit(user, evidence.uploaded_by.unit)


def _size_label(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return _("%(count)d bytes", count=size)
    return human_size(size)


def _number(value: object) -> str | None:
    """A stored Numeric(14, 4) without its trailing zeros: 85.5000 -> 85.5."""
    return None if value is None else f"{Decimal(str(value)).normalize():f}"


def _refused(item: ChecklistItem, message: object, status: int, **forms: FlaskForm) -> Any:
    """The item page again, with the refusal shown in the evidence panel and the forms as sent."""
    db.session.rollback()
    setattr(g, _REFUSAL, {"message": str(message), "forms": forms})
    return render_item_page(item), status


def _field_error(form: FlaskForm, error: DomainError) -> None:
    field = getattr(form, error.field or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, str(error.message)]


def _form_errors(form: FlaskForm) -> str:
    return " ".join(str(e) for field in form for e in field.errors) or _(
        "The form could not be read. Please try again."
    )


def _status_of(error: DomainError) -> int:
    if isinstance(error, FileTooLarge):
        return 413
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, InvalidTransition):
        return 409
    return 400


def _back(item: ChecklistItem) -> Response:
    return redirect(url_for("items.detail", item_id=item.id, _anchor="evidence"), 303)


# ---------------------------------------------------------------- the panel


@dataclass(frozen=True)
class EvidenceRow:
    """One piece of evidence as the panel shows it, with what the viewer may do with it."""

    evidence: Evidence
    withdrawn_by_name: str | None
    size_label: str
    type_label: str
    can_download: bool
    can_preview: bool
    can_withdraw: bool


def _rows(item: ChecklistItem, *, can_change: bool) -> list[EvidenceRow]:
    withdrawn_by = aliased(User)
    # One query: the uploader and the uploader's unit come joined (lazy="joined" on both).
    result = db.session.execute(
        select(Evidence, withdrawn_by.name)
        .outerjoin(withdrawn_by, withdrawn_by.id == Evidence.withdrawn_by_id)
        .where(Evidence.item_id == item.id)
        .order_by(Evidence.uploaded_at, Evidence.id)
    )
    rows = []
    for evidence, withdrawn_name in result:
        is_file = evidence.kind == EvidenceKind.FILE
        readable = is_file and (
            evidence.withdrawn_at is None or _may_read_withdrawn(current_user, evidence)
        )
        base_type = (evidence.content_type or "").split(";")[0].strip()
        rows.append(
            EvidenceRow(
                evidence=evidence,
                withdrawn_by_name=withdrawn_name,
                size_label=_size_label(evidence.size),
                type_label=(extension_of(evidence.safe_filename or "") or base_type).upper()
                if is_file
                else _("Link"),
                can_download=readable,
                can_preview=readable and base_type in PREVIEW_TYPES,
                can_withdraw=can_change
                and evidence.withdrawn_at is None
                and evidence.submitted_round is None,
            )
        )
    return rows


@item_panel
def evidence_panel(item: ChecklistItem) -> dict[str, Any]:
    """Context for templates/items/_evidence_panel.html on the item page."""
    requirement = item.requirement
    can_work = can_work_item(current_user, item)
    can_change = can_work and evidence_service.is_owed(item)
    rows = _rows(item, can_change=can_change)
    refusal = g.get(_REFUSAL) or {"message": None, "forms": {}}
    forms = refusal["forms"]
    is_count = requirement.kind == RequirementKind.COUNT
    is_indicator = requirement.kind == RequirementKind.INDICATOR
    context: dict[str, Any] = {
        "evidence_rows": [r for r in rows if r.evidence.withdrawn_at is None],
        "withdrawn_rows": [r for r in rows if r.evidence.withdrawn_at is not None],
        "evidence_is_count": is_count,
        "evidence_is_indicator": is_indicator,
        "evidence_count_progress": (
            evidence_service.count_progress(db.session, item) if is_count else None
        ),
        "evidence_indicator": {
            "value": _number(item.value),
            "target_op": requirement.target_op,
            "target_value": _number(requirement.target_value),
            "target_unit": requirement.target_unit,
            "met": evidence_service.indicator_met(item),
        }
        if is_indicator
        else None,
        "evidence_can_work": can_work,
        "evidence_can_change": can_change,
        "evidence_error": refusal["message"],
        "evidence_max_upload": human_size(max_upload_bytes()),
        "evidence_max_files": current_app.config["TRACKER_MAX_FILES_PER_UPLOAD"],
        # Keys are prefixed: the item page merges the contexts of three panels.
        "evidence_upload_form": None,
        "evidence_link_form": None,
        "evidence_value_form": None,
    }
    if can_change:
        context["evidence_upload_form"] = forms.get("upload_form") or EvidenceUploadForm(
            formdata=None
        )
        context["evidence_link_form"] = forms.get("link_form") or EvidenceLinkForm(formdata=None)
        if is_indicator:
            value_form = forms.get("value_form") or IndicatorValueForm(formdata=None)
            if value_form.value.data is None and item.value is not None:
                value_form.value.data = _number(item.value)
            context["evidence_value_form"] = value_form
    return context


# ---------------------------------------------------------------- adding evidence


def _workable_item(item: ChecklistItem) -> ChecklistItem:
    _visible_item_or_404(item)
    authorize(can_work_item(current_user, item))
    return item


@bp.post("/<int:item_id>/evidence")
@streams_files_to_storage
@requires(Permission.WORK_ITEMS, item_id=ChecklistItem, rule=can_work_item)
def upload_evidence(item: ChecklistItem):
    _workable_item(item)
    form = EvidenceUploadForm()
    if not form.validate_on_submit():
        return _refused(item, _form_errors(form), 400, upload_form=form)
    # Each file's stream is handed over as is: a large request's files were streamed into blob
    # storage while parsed (EvidenceRequest), a small one's are read in chunks from memory.
    files = [(f.stream, f.filename or "") for f in form.files.data or [] if f and f.filename]
    try:
        added = evidence_service.add_files(
            db.session,
            actor=current_user,
            item=item,
            files=files,
            storage=blob_storage(),
            max_bytes=max_upload_bytes(),
            max_files=current_app.config["TRACKER_MAX_FILES_PER_UPLOAD"],
            note=form.note.data,
            occurred_on=form.occurred_on.data,
            now=now(),
        )
    except DomainError as error:
        _field_error(form, error)
        return _refused(item, error.message, _status_of(error), upload_form=form)
    db.session.commit()
    flash(_("Files added: %(count)d.", count=len(added)), "success")
    return _back(item)


@bp.post("/<int:item_id>/links")
@requires(Permission.WORK_ITEMS, item_id=ChecklistItem, rule=can_work_item)
def add_link(item: ChecklistItem):
    _workable_item(item)
    form = EvidenceLinkForm()
    if not form.validate_on_submit():
        return _refused(item, _form_errors(form), 400, link_form=form)
    try:
        evidence_service.add_link(
            db.session,
            actor=current_user,
            item=item,
            url=form.url.data or "",
            title=form.title.data,
            note=form.note.data,
            occurred_on=form.occurred_on.data,
            now=now(),
        )
    except DomainError as error:
        _field_error(form, error)
        return _refused(item, error.message, _status_of(error), link_form=form)
    db.session.commit()
    flash(_("Link added."), "success")
    return _back(item)


@bp.post("/<int:item_id>/value")
@requires(Permission.WORK_ITEMS, item_id=ChecklistItem, rule=can_work_item)
def set_value(item: ChecklistItem):
    _workable_item(item)
    form = IndicatorValueForm()
    if not form.validate_on_submit():
        return _refused(item, _form_errors(form), 400, value_form=form)
    try:
        evidence_service.set_indicator_value(
            db.session, actor=current_user, item=item, value=form.value.data, now=now()
        )
    except DomainError as error:
        _field_error(form, error)
        return _refused(item, error.message, _status_of(error), value_form=form)
    db.session.commit()
    flash(_("Value saved."), "success")
    return _back(item)


def can_work_evidence(user: User, evidence: Evidence) -> bool:
    """Withdraw evidence: whoever may work its item."""
    item = db.session.get(ChecklistItem, evidence.item_id)
    return item is not None and can_work_item(user, item)


@bp.post("/evidence/<int:evidence_id>/withdraw")
@requires(Permission.WORK_ITEMS, rule=can_work_evidence, evidence_id=Evidence)
def withdraw_evidence(evidence: Evidence):
    item = _item_of(evidence)
    authorize(can_work_item(current_user, item))
    try:
        evidence_service.withdraw(db.session, actor=current_user, evidence=evidence, now=now())
    except DomainError as error:
        return _refused(item, error.message, _status_of(error))
    db.session.commit()
    flash(_("Evidence withdrawn: %(name)s.", name=evidence.display_name), "success")
    return _back(item)


@bp.errorhandler(RequestEntityTooLarge)
def request_too_large(_error: RequestEntityTooLarge):
    """A request over MAX_CONTENT_LENGTH is cut off before any form is read: explain the limit."""
    config = current_app.config
    message = _(
        "The upload is larger than the %(limit)s allowed in one request (at most %(files)d files "
        "of up to %(size)s each). Please send fewer or smaller files.",
        limit=human_size(int(config.get("MAX_CONTENT_LENGTH") or 0)),
        files=int(config["TRACKER_MAX_FILES_PER_UPLOAD"]),
        size=human_size(max_upload_bytes()),
    )
    return render_template(
        "errors/error.html", code=413, title=_("Too large"), message=message
    ), 413


# ---------------------------------------------------------------- reading evidence


def _readable_file(evidence: Evidence) -> Evidence:
    """A stored file the user may read, else 404 (links, other units, others' withdrawn files)."""
    _item_of(evidence)
    if evidence.kind != EvidenceKind.FILE or not evidence.blob_sha256:
        abort(404)
    if evidence.withdrawn_at is not None and not _may_read_withdrawn(current_user, evidence):
        abort(404)
    return evidence


@bp.get("/evidence/<int:evidence_id>/download")
@requires(Permission.VIEW_ITEMS, evidence_id=Evidence)
def download_evidence(evidence: Evidence):
    return send_evidence_file(_readable_file(evidence), disposition="attachment")


@bp.get("/evidence/<int:evidence_id>/preview")
@requires(Permission.VIEW_ITEMS, evidence_id=Evidence)
def preview_evidence(evidence: Evidence):
    _readable_file(evidence)
    base_type = (evidence.content_type or "").split(";")[0].strip()
    if base_type not in PREVIEW_TYPES:
        abort(404)
    response = send_evidence_file(evidence, disposition="inline")
    policy = "sandbox; default-src 'none'"
    if base_type in PREVIEW_IMAGE_TYPES:
        # The browser's own image viewer shows the image and styles it inline; no script runs.
        policy += "; img-src 'self'; style-src 'unsafe-inline'"
    response.headers["Content-Security-Policy"] = policy
    return response
