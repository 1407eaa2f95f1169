"""The reports page, the ledger downloads, the draft annual report and its narrative editor."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from tracker.clock import now, today
from tracker.extensions import db
from tracker.guards import requires
from tracker.i18n import current_locale
from tracker.models import ReportNarrative
from tracker.models.catalogue import FAMILY_LABELS, Family
from tracker.models.checklist import STATUS_LABELS
from tracker.permissions import Permission, has_permission
from tracker.reports import bp
from tracker.reports.forms import NarrativeForm
from tracker.scoping import scoped_units, unit_choices
from tracker.services import annual_report, audit, ledger
from tracker.services.errors import ValidationFailed
from tracker.services.holidays import load_calendar
from tracker.services.item_filters import OVERDUE

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIN_YEAR, MAX_YEAR = 2000, 2100

SECTION_LABELS = {
    annual_report.OVERVIEW: _l("Overview"),
    "law_study": _l("Study of the law"),
    "leader_duties": _l("The principal leader's duties"),
    "normative_docs": _l("Normative documents"),
    "enforcement": _l("The three enforcement systems"),
    "assessment": _l("Supervision and assessment"),
}


def _year() -> int:
    """The year in the query string, or this year."""
    year = request.args.get("year", 0, type=int)
    return year if MIN_YEAR <= year <= MAX_YEAR else today().year


def _timezone() -> str:
    return current_app.config["TRACKER_TIMEZONE"]


# ---------------------------------------------------------------- the page


@bp.get("/")
@requires(Permission.VIEW_REPORTS)
def index():
    year = _year()
    this_year = today().year
    units = scoped_units(current_user)  # one query
    sections_written: set[str] = set()
    if has_permission(current_user, Permission.EDIT_REPORT_NARRATIVE):
        sections_written = {
            key
            for key, text in db.session.execute(
                select(ReportNarrative.section, ReportNarrative.text).where(
                    ReportNarrative.year == year
                )
            )
            if text.strip()
        }
    return render_template(
        "reports/index.html",
        year=year,
        years=list(range(this_year + 1, this_year - 5, -1)),
        units=unit_choices(units),
        families=[(f.value, label) for f, label in FAMILY_LABELS.items()],
        statuses=[
            *((s.value, label) for s, label in STATUS_LABELS.items()),
            (OVERDUE, _l("Overdue")),
        ],
        section_labels=SECTION_LABELS,
        sections_written=sections_written,
    )


# ---------------------------------------------------------------- the ledger


def _ledger_rows(filters: ledger.LedgerFilters):
    calendar = load_calendar(db.session) if filters.due_within is not None else None
    return ledger.export_rows(
        db.session,
        filters,
        user=current_user,
        today=today(),
        timezone=_timezone(),
        calendar=calendar,
    )


def _record_export(filters: ledger.LedgerFilters, fmt: str) -> None:
    """Audited and committed before the first byte, as the evidence package is."""
    audit.record(
        db.session,
        actor=current_user._get_current_object(),
        action="ledger.exported",
        object_type="ledger",
        data={"format": fmt, "filters": filters.query_args()},
        at=now(),
    )
    db.session.commit()


def _download_name(filters: ledger.LedgerFilters, extension: str) -> str:
    stem = "合规台账" if not current_locale().startswith("en") else "ledger"
    if filters.year:
        stem += f"-{filters.year}"
    if filters.period:
        stem += f"-{filters.period}"
    return f"{stem}-{today().isoformat()}.{extension}"


@bp.get("/ledger.xlsx")
@requires(Permission.VIEW_REPORTS)
def ledger_xlsx():
    filters = ledger.LedgerFilters.from_args(request.args)
    families = [Family(filters.family)] if filters.family else None
    _record_export(filters, "xlsx")
    # The write-only workbook goes to a temporary file (a zip needs its end to be written last),
    # which is then sent in chunks: memory stays bounded by the batch, not the row count.
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _chunks once sent)
    try:
        ledger.write_xlsx(
            _ledger_rows(filters),
            spool,
            today=today(),
            locale=current_locale(),
            families=families,
        )
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    response = Response(_chunks(spool), mimetype=XLSX_TYPE)
    response.headers["Content-Length"] = str(size)
    _attachment(response, _download_name(filters, "xlsx"), "ledger.xlsx")
    return response


def _chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The file in chunks, closed at the end (or when the client goes away)."""
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()


def _attachment(response: Response, name: str, ascii_name: str) -> None:
    response.headers["Content-Disposition"] = (
        f"attachment; filename={ascii_name}; filename*=UTF-8''{quote(name)}"
    )
    response.headers["Cache-Control"] = "no-store"


@bp.get("/ledger.csv")
@requires(Permission.VIEW_REPORTS)
def ledger_csv():
    filters = ledger.LedgerFilters.from_args(request.args)
    _record_export(filters, "csv")
    rows = _ledger_rows(filters)
    body = ledger.iter_csv(rows, locale=current_locale())
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    _attachment(response, _download_name(filters, "csv"), "ledger.csv")
    return response


# ---------------------------------------------------------------- the annual report


@bp.get("/annual-report.docx")
@requires(Permission.VIEW_ANNUAL_REPORT)
def annual_report_docx():
    year = _year()
    buffer = io.BytesIO()
    annual_report.build_docx(db.session, year, buffer, today=today(), timezone=_timezone())
    buffer.seek(0)
    return send_file(
        buffer,
        mimetype=DOCX_TYPE,
        as_attachment=True,
        download_name=f"{year}年法治政府建设年度报告（草稿）.docx",
        max_age=0,
    )


@bp.route("/narrative", methods=["GET", "POST"])
@requires(Permission.EDIT_REPORT_NARRATIVE)
def narrative():
    year = _year()
    form = NarrativeForm()
    if request.method == "GET":
        stored = annual_report.load_narratives(db.session, year=year)
        for key in annual_report.SECTION_KEYS:
            getattr(form, key).data = stored.get(key, "")
    if form.validate_on_submit():
        texts = {key: getattr(form, key).data or "" for key in annual_report.SECTION_KEYS}
        try:
            changed = annual_report.save_narratives(
                db.session, actor=current_user, year=year, texts=texts, now=now()
            )
        except ValidationFailed as error:
            db.session.rollback()
            flash(str(error.message), "danger")
        else:
            db.session.commit()
            if changed:
                flash(
                    _("Report text saved: %(count)d sections changed.", count=len(changed)),
                    "success",
                )
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("reports.narrative", year=year))
    sections = [
        (
            key,
            SECTION_LABELS[key],
            annual_report.SECTION_TITLES[key],
            getattr(form, key),
        )
        for key in annual_report.SECTION_KEYS
    ]
    return render_template("reports/narrative.html", form=form, year=year, sections=sections)
