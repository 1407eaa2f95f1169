"""`flask --app wsgi tracker ...` commands; each calls services and commits once."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, inspect, select

from tracker.clock import get_clock, now
from tracker.extensions import db
from tracker.models import Case, Requirement, Role, UnitKind
from tracker.permissions import ROLE_LABELS
from tracker.services import (
    cases,
    catalogue,
    checklist,
    demo,
    directory,
    holidays,
    verification,
)
from tracker.services.catalogue import CatalogueInvalid
from tracker.services.errors import DomainError
from tracker.services.holidays import CsvInvalid
from tracker.storage import storage_from_config

tracker_cli = AppGroup("tracker", help="合规台账 administration commands.")


def _fail(message: str) -> None:
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _require_schema() -> None:
    tables = inspect(db.engine)
    if not tables.has_table("unit") or not tables.has_table("checklist_item"):
        _fail("the database schema is missing or old: run `flask --app wsgi db upgrade` first.")


def _fail_with_lines(title: str, lines: list[str]) -> None:
    """Report every error of an import, one per line, and exit non-zero with nothing saved."""
    db.session.rollback()
    click.echo(f"Error: {title}", err=True)
    for line in lines:
        click.echo(f"  {line}", err=True)
    sys.exit(1)


def _seed_holidays() -> None:
    result = holidays.seed_official(db.session, now=now())
    if result.years:
        first, last = min(result.years), max(result.years)
        click.echo(
            f"Holiday calendar: loaded {len(result.years)} official years ({first}-{last}), "
            f"{result.days} special days."
        )
    else:
        click.echo("Holiday calendar: official years already present.")
    if result.recompute.moved:
        click.echo(f"Recomputed {result.recompute.moved} provisional deadlines.")


def _load_default_catalogue() -> None:
    # Only on first start: a re-run (every `make run`) must not undo an admin's edits.
    present = db.session.scalar(select(func.count()).select_from(Requirement))
    if present:
        click.echo(
            f"Catalogue: {present} requirements already present "
            "(use `tracker import-catalog` to update)."
        )
        return
    try:
        result = catalogue.import_catalogue_file(
            db.session, actor=None, path=catalogue.DEFAULT_CATALOGUE, now=now()
        )
    except CatalogueInvalid as error:
        _fail_with_lines(str(error.message), error.lines())
    click.echo(f"Catalogue: {result.summary()} ({catalogue.DEFAULT_CATALOGUE.name}).")


def _echo_generation(result: checklist.GenerationResult, *, verbose: bool) -> None:
    if verbose:
        for code, (created, existing) in result.per_requirement.items():
            click.echo(f"  {code:<6} created {created:>4}, already present {existing:>4}")
    for code, owner, reason in result.skipped:
        click.echo(f"  {code}: skipped owner {owner}: {reason}")
    click.echo(
        f"Year {result.year}: created {result.created} items, {result.existing} already present."
    )


@tracker_cli.command("bootstrap")
@click.option("--demo", "with_demo", is_flag=True, help="Also create the demo bureau.")
def bootstrap(with_demo: bool) -> None:
    """Prepare a migrated database (idempotent): holidays, catalogue; --demo adds a demo bureau."""
    _require_schema()
    _seed_holidays()
    _load_default_catalogue()
    db.session.commit()
    if with_demo:
        created = not demo.demo_present(db.session)
        password = current_app.config["DEMO_PASSWORD"]
        people = demo.create_demo_bureau(db.session, password=password, now=now())
        db.session.commit()
        click.echo("Demo bureau created." if created else "Demo bureau already present.")
        _load_demo_work()
        click.echo(f"Demo sign-ins (password for all: {password}):")
        for person in people:
            click.echo(
                f"  {person.email:<36} {person.role.value:<10} {person.unit_code:<7} "
                f"{person.name} ({ROLE_LABELS[person.role]})"
            )
    db.session.commit()
    click.echo("Bootstrap complete.")


@tracker_cli.command("create-unit")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--name-en", default=None)
@click.option("--parent", "parent_code", default=None, help="Code of the parent unit.")
@click.option("--kind", type=click.Choice([k.value for k in UnitKind]), default="section")
def create_unit(
    code: str, name: str, name_en: str | None, parent_code: str | None, kind: str
) -> None:
    """Create a unit."""
    _require_schema()
    parent = None
    if parent_code:
        parent = directory.unit_by_code(db.session, parent_code)
        if parent is None:
            _fail(f"no unit with code {parent_code}.")
    try:
        unit = directory.create_unit(
            db.session,
            actor=None,
            code=code,
            name=name,
            name_en=name_en,
            kind=UnitKind(kind),
            parent=parent,
            now=now(),
        )
    except DomainError as error:
        _fail(str(error.message))
    db.session.commit()
    click.echo(f"Created unit {unit.code} ({unit.name}).")


@tracker_cli.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--unit", "unit_code", required=True, help="Code of the user's unit.")
@click.option("--locale", type=click.Choice(["zh_CN", "en"]), default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(
    email: str, name: str, role: str, unit_code: str, locale: str | None, password_stdin: bool
) -> None:
    """Create a user (the password is prompted for, or read from stdin)."""
    _require_schema()
    unit = directory.unit_by_code(db.session, unit_code)
    if unit is None:
        _fail(f"no unit with code {unit_code}.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = directory.create_user(
            db.session,
            actor=None,
            email=email,
            name=name,
            role=Role(role),
            unit=unit,
            password=password,
            locale=locale,
            now=now(),
        )
    except DomainError as error:
        _fail(str(error.message))
    db.session.commit()
    click.echo(f"Created user {user.email} ({user.role.value}, {unit.code}).")


@tracker_cli.command("create-token")
@click.option("--email", required=True, help="The user the token acts for.")
@click.option("--name", default="command line", show_default=True, help="What uses the token.")
def create_token(email: str, name: str) -> None:
    """Create a personal API token for a user and print it (the only time it is shown)."""
    from tracker.models import User
    from tracker.services import api_tokens

    _require_schema()
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        _fail(f"no user with email {email}.")
    try:
        token, secret = api_tokens.create(db.session, actor=None, user=user, name=name, now=now())
    except DomainError as error:
        _fail(str(error.message))
    db.session.commit()
    click.echo(f"Created API token {token.name!r} ({token.prefix}…) for {user.email}.", err=True)
    click.echo("Copy it now: it is stored hashed and will not be shown again.", err=True)
    click.echo(secret)


@tracker_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Development server in one process (no reloader, so background jobs run exactly once)."""
    from werkzeug.serving import run_simple

    from tracker.jobs import start_scheduler

    app = current_app._get_current_object()
    scheduler = None
    if app.config["TRACKER_SCHEDULER"]:
        scheduler = start_scheduler(app)
        click.echo("Scheduler started in this process (TRACKER_SCHEDULER=on).")
    click.echo(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def _parse_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--now {value!r} is not an ISO-8601 date-time (e.g. 2026-12-01T09:00).")
    if instant.tzinfo is None:  # a bare local time means the bureau's time zone
        instant = instant.replace(tzinfo=get_clock().tz)
    return instant


@tracker_cli.command("tick")
@click.option(
    "--now",
    "at",
    default=None,
    help="Run as of this instant (ISO-8601; local time "
    "in the bureau's time zone unless an offset is given).",
)
def tick(at: str | None) -> None:
    """One pass of every scheduled job as of an instant; prints what each did."""
    from tracker.jobs import run_due_jobs

    _require_schema()
    instant = _parse_instant(at) or now()
    outcomes = run_due_jobs(instant)
    click.echo(f"Tick at {get_clock().local(instant).isoformat(timespec='minutes')}:")
    if not outcomes:
        click.echo("  nothing due")
    for outcome in outcomes:
        details = ", ".join(f"{k}={v}" for k, v in outcome.summary.items())
        click.echo(
            f"  {outcome.job} [{outcome.slot}]: {outcome.status}"
            + (f" ({details})" if details else "")
        )
    if any(outcome.status == "failed" for outcome in outcomes):
        sys.exit(1)


@tracker_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler in the foreground (production: exactly one such process)."""
    from tracker.jobs import start_scheduler

    _require_schema()
    click.echo("Scheduler running; Ctrl+C to stop.")
    start_scheduler(current_app._get_current_object(), blocking=True)


def _load_demo_work() -> None:
    """This year's items, demo cases and a year's work while the bureau has none (idempotent)."""
    instant = now()
    year = get_clock().local(instant).year
    # As if the checklist had been generated on New Year's Day, as a real bureau's would be:
    # otherwise every item already due would be flagged as created overdue.
    new_year = datetime(year, 1, 1, 9, tzinfo=get_clock().tz)
    result = checklist.generate_year(
        db.session,
        year=year,
        now=min(new_year, instant),
        calendar=holidays.load_calendar(db.session),
    )
    _echo_generation(result, verbose=False)
    if not db.session.scalar(select(func.count()).select_from(Case)):
        registered = cases.register_demo_cases(db.session, now=instant)
        if registered:
            items = sum(len(r.items) for r in registered)
            click.echo(f"Demo cases: registered {len(registered)} with {items} items.")
    from tracker.items.files import blob_storage, max_upload_bytes
    from tracker.services.demo_progress import record_demo_progress

    worked = record_demo_progress(
        db.session, storage=blob_storage(), max_bytes=max_upload_bytes(), now=instant
    )
    if worked:
        click.echo(f"Demo work: {worked} past-due items submitted, most of them reviewed.")


@tracker_cli.command("import-catalog")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def import_catalog(path: Path) -> None:
    """Validate a requirement catalogue (YAML) and upsert it by code; nothing on any error."""
    _require_schema()
    try:
        result = catalogue.import_catalogue_file(db.session, actor=None, path=path, now=now())
    except CatalogueInvalid as error:
        _fail_with_lines(str(error.message), error.lines())
    db.session.commit()
    click.echo(f"Catalogue {path}: {result.summary()}.")
    for label, codes in (("created", result.created), ("updated", result.updated)):
        if codes:
            click.echo(f"  {label}: {', '.join(codes)}")


@tracker_cli.command("generate")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@click.option("--verbose", "-v", is_flag=True, help="Counts for every requirement.")
def generate(year: int, verbose: bool) -> None:
    """Create the year's periodic checklist items (idempotent)."""
    _require_schema()
    result = checklist.generate_year(
        db.session, year=year, now=now(), calendar=holidays.load_calendar(db.session)
    )
    db.session.commit()
    _echo_generation(result, verbose=verbose)


@tracker_cli.group("holidays")
def holidays_cli() -> None:
    """The statutory holiday calendar."""


@holidays_cli.command("status")
def holidays_status() -> None:
    """List the years with an official arrangement, and the provisional open items."""
    _require_schema()
    status = holidays.calendar_status(db.session, today=get_clock().today())
    if not status.years:
        click.echo("No year has an official holiday arrangement: run `tracker bootstrap`.")
    for year in status.years:
        click.echo(
            f"{year.year}  {year.special_days:>3} special days "
            f"({year.rest_days} rest, {year.workdays} make-up)  {year.version}  "
            f"loaded {get_clock().local(year.loaded_at):%Y-%m-%d %H:%M}"
        )
    for year in status.missing:
        click.echo(
            f"{year}  not covered: deadlines reaching into it are provisional "
            f"(load it with `tracker holidays import FILE.csv`)"
        )
    click.echo(f"Open items with a provisional deadline: {status.provisional_open}")


@holidays_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def holidays_import(path: Path) -> None:
    """Replace one year's arrangement from CSV (date,kind,name) and recompute deadlines."""
    _require_schema()
    try:
        result = holidays.import_holiday_file(db.session, path=path, actor=None, now=now())
    except CsvInvalid as error:
        _fail_with_lines(str(error.message), error.lines())
    db.session.commit()
    replaced = f", replacing {result.replaced}" if result.was_covered else ""
    click.echo(f"Imported {result.year}: {result.days} special days{replaced} ({result.version}).")
    click.echo(
        f"Recomputed deadlines: {result.recompute.moved} changed "
        f"of {result.recompute.checked} open items checked."
    )


@tracker_cli.command("import-cases")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def import_cases(path: Path) -> None:
    """Register the enforcement cases of a CSV file and their items; nothing on any error."""
    _require_schema()
    try:
        result = cases.import_cases_file(db.session, path=path, actor=None, now=now())
    except CsvInvalid as error:
        _fail_with_lines(str(error.message), error.lines())
    db.session.commit()
    for code, owner, reason in result.skipped:
        click.echo(f"  {code}: skipped owner {owner}: {reason}")
    click.echo(
        f"Imported {result.cases} cases from {path}: created {result.items} items "
        f"({result.created_overdue} already overdue)."
    )


@tracker_cli.command("verify")
def verify_command() -> None:
    """Re-hash every stored evidence file, walk the audit chain and recount the item tally;
    exit 1 on any mismatch."""
    _require_schema()
    storage = storage_from_config(current_app.config)
    report = verification.verify(db.session, storage)
    db.session.rollback()  # read-only
    click.echo(
        f"Blobs: {report.blobs_checked} checked, {len(report.blob_problems)} problems "
        f"({storage!r})."
    )
    click.echo(
        f"Audit chain: {report.events_checked} events checked, "
        f"{len(report.chain_problems)} problems."
    )
    click.echo(f"Item tally: {len(report.tally_problems)} problems.")
    for line in report.lines():
        click.echo(f"  {line}", err=True)
    if not report.ok:
        click.echo("Verification FAILED.", err=True)
        sys.exit(1)
    click.echo("Verification passed.")


@tracker_cli.command("backup")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A new (or empty) folder for the backup.",
)
def backup_command(out: Path) -> None:
    """Back up the database (consistent copy), every evidence blob and a manifest of hashes."""
    from tracker import backup

    _require_schema()
    storage = storage_from_config(current_app.config)
    db.session.rollback()  # the copy must not wait on, or include, a transaction of ours
    try:
        result = backup.create_backup(db.engine, storage, out, now=now())
    except backup.BackupError as error:
        _fail(str(error))
    backup.record_event(
        db.session,
        action="backup.created",
        path=out.resolve(),
        counts=result.counts,
        now=now(),
        files=result.files,
        bytes=result.bytes,
    )
    db.session.commit()
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    click.echo(
        f"Backup written to {out}: {result.dialect} database and {result.files - 1} blobs, "
        f"{result.bytes} bytes ({counts})."
    )


@tracker_cli.command("restore")
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A folder written by `tracker backup`.",
)
@click.option("--force", is_flag=True, help="Replace a target that already holds data.")
def restore_command(source: Path, force: bool) -> None:
    """Verify a backup's hashes, then restore its database and blobs into this instance."""
    from tracker import backup

    storage = storage_from_config(current_app.config)
    db.session.remove()
    try:
        result = backup.restore_backup(db.engine, storage, source, force=force)
    except backup.BackupError as error:
        _fail(str(error))
    if result.problems:
        _fail_with_lines("the restored database does not match the manifest:", result.problems)
    backup.record_event(
        db.session,
        action="backup.restored",
        path=source.resolve(),
        counts=result.counts,
        now=now(),
        forced=force,
    )
    db.session.commit()
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    click.echo(
        f"Restored {source} ({result.dialect}): {result.blobs_stored} blobs stored, "
        f"{result.blobs_present} already present ({counts})."
    )
    click.echo("Run `flask --app wsgi db upgrade` if the backup predates the code, then `verify`.")


@tracker_cli.command("export-ledger")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["xlsx", "csv"]),
    default=None,
    help="Default: from the file name (.csv), else xlsx.",
)
def export_ledger(year: int, out: Path, fmt: str | None) -> None:
    """Write the year's whole ledger (台账), every unit, as XLSX or CSV (Chinese headers)."""
    from tracker.services import ledger

    _require_schema()
    fmt = fmt or ("csv" if out.suffix.lower() == ".csv" else "xlsx")
    today = get_clock().today()
    rows = ledger.export_rows(
        db.session,
        ledger.LedgerFilters(year=year),
        user=None,
        today=today,
        timezone=current_app.config["TRACKER_TIMEZONE"],
    )
    if fmt == "csv":
        with out.open("wb") as handle:
            count = ledger.write_csv(rows, handle)
    else:
        count = ledger.write_xlsx(rows, str(out), today=today).total.total
    db.session.rollback()  # read-only
    click.echo(f"Ledger {year}: {count} items written to {out} ({fmt}).")


@tracker_cli.command("report")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def report_command(year: int, out: Path) -> None:
    """Write the draft annual rule-of-law report (DOCX) for the year from the ledger."""
    from tracker.services import annual_report

    _require_schema()
    result = annual_report.build_docx(
        db.session,
        year,
        str(out),
        today=get_clock().today(),
        timezone=current_app.config["TRACKER_TIMEZONE"],
    )
    db.session.rollback()  # read-only
    placeholders = sum(
        1 for s in result.sections for p in s.parts for f in p.figures if f.placeholder
    )
    empty = [s.title for s in result.sections if not s.has_data]
    click.echo(
        f"Annual report {year} written to {out}: {len(result.sections)} sections, "
        f"{placeholders} figures left for the author"
        + (f", no ledger data in: {'; '.join(empty)}" if empty else "")
        + "."
    )
