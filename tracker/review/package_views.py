"""Evidence packages for external audits: choose the items, download one streamed ZIP."""

from __future__ import annotations

import re

from flask import Response, render_template, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import MAX_ID, requires
from tracker.items.files import blob_storage
from tracker.models import AuditSample, Unit
from tracker.models.catalogue import FAMILY_LABELS
from tracker.permissions import Permission
from tracker.review import bp
from tracker.review.forms import PackageForm
from tracker.scoping import scoped_units, unit_choices
from tracker.services import audit
from tracker.services.evidence_package import Selection, iter_package

SAMPLES_OFFERED = 100  # the latest samples offered in the form; older ones by ?sample=ID
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def _package_form() -> tuple[PackageForm, dict[int, Unit]]:
    """The form bound to the query string, with its choices."""
    form = PackageForm(formdata=request.args)
    units = scoped_units(current_user)
    form.unit.choices = [(0, _("All units")), *unit_choices(units)]
    form.family.choices = [("", _("All families"))] + [
        (family.value, str(label)) for family, label in FAMILY_LABELS.items()
    ]
    samples = list(
        db.session.scalars(
            select(AuditSample)
            .order_by(AuditSample.drawn_at.desc(), AuditSample.id.desc())
            .limit(SAMPLES_OFFERED)
        )
    )
    wanted = request.args.get("sample", 0, type=int)
    if 0 < wanted <= MAX_ID and wanted not in {s.id for s in samples}:
        older = db.session.get(AuditSample, wanted)
        if older is not None:
            samples.append(older)
    form.sample.choices = [(0, _("No sample: all matching items"))] + [
        (s.id, _("No. %(id)d · seed %(seed)s", id=s.id, seed=s.seed)) for s in samples
    ]
    return form, {unit.id: unit for unit in units}


def _filename(selection: Selection, units: dict[int, Unit]) -> str:
    """evidence-package-2026-SEC.zip: what was chosen, in ASCII for every browser."""
    parts = [
        selection.period or "",
        units[selection.unit_id].code if selection.unit_id else "",
        selection.family or "",
        f"sample-{selection.sample_id}" if selection.sample_id else "",
    ]
    name = "-".join(_UNSAFE_NAME.sub("_", p) for p in parts if p) or today().isoformat()
    return f"evidence-package-{name}.zip"


@bp.get("/package")
@requires(Permission.REVIEW_ITEMS)
def package_form():
    form, _units = _package_form()
    return render_template("review/package.html", form=form)


@bp.get("/package.zip")
@requires(Permission.REVIEW_ITEMS)
def package():
    form, units = _package_form()
    if not form.validate():
        return render_template("review/package.html", form=form), 400
    selection = Selection(
        unit_id=form.unit.data or None,
        period=(form.period.data or "").strip() or None,
        family=form.family.data or None,
        sample_id=form.sample.data or None,
    )
    # Recorded and committed before the first byte: a download cut short is still on record.
    audit.record(
        db.session,
        actor=current_user._get_current_object(),
        action="package.exported",
        object_type="evidence_package",
        data={
            "unit_id": selection.unit_id,
            "period": selection.period,
            "family": selection.family,
            "sample_id": selection.sample_id,
        },
        at=now(),
    )
    db.session.commit()
    # The generator reads the database while the response streams: it keeps the request context.
    response = Response(
        stream_with_context(iter_package(db.session, blob_storage(), selection)),
        mimetype="application/zip",
    )
    response.headers.set("Content-Disposition", "attachment", filename=_filename(selection, units))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
