"""`flask --app wsgi tracker ...` commands; each calls services and commits once."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import inspect

from tracker.clock import now
from tracker.extensions import db
from tracker.models import Role, UnitKind
from tracker.permissions import ROLE_LABELS
from tracker.services import demo, directory
from tracker.services.errors import DomainError

tracker_cli = AppGroup("tracker", help="合规台账 administration commands.")


def _fail(message: str) -> None:
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _require_schema() -> None:
    if not inspect(db.engine).has_table("unit"):
        _fail("the database has no schema yet: run `flask --app wsgi db upgrade` first.")


@tracker_cli.command("bootstrap")
@click.option("--demo", "with_demo", is_flag=True, help="Also create the demo bureau.")
def bootstrap(with_demo: bool) -> None:
    """Prepare a migrated database (idempotent); --demo adds a demo bureau and prints sign-ins."""
    _require_schema()
    if with_demo:
        created = not demo.demo_present(db.session)
        password = current_app.config["DEMO_PASSWORD"]
        people = demo.create_demo_bureau(db.session, password=password, now=now())
        db.session.commit()
        click.echo("Demo bureau created." if created else "Demo bureau already present.")
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


@tracker_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Development server in one process (no reloader, so background jobs run exactly once)."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    click.echo(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False)
