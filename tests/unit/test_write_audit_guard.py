"""The suite's write guard (tests/write_audit_guard.py) catches what it is there to catch."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from tests.write_audit_guard import WriteAuditGuard


@pytest.fixture
def guarded(tmp_path) -> Iterator[tuple[WriteAuditGuard, sa.Engine, Flask]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'guard.sqlite3'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT)")
        connection.exec_driver_sql("CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq INT)")
        connection.exec_driver_sql("INSERT INTO audit_head VALUES (1, 0)")
    guard = WriteAuditGuard()
    guard.install(engine)
    yield guard, engine, Flask(__name__)
    guard.uninstall(engine)
    engine.dispose()


def write(engine, *, audited: bool, commit: bool = True) -> None:
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO note (text) VALUES ('x')"))
        if audited:
            session.execute(sa.text("UPDATE audit_head SET seq = seq + 1"))
        if commit:
            session.commit()
        else:
            session.rollback()


def test_a_request_committing_a_write_without_an_audit_event_is_reported(guarded):
    guard, engine, app = guarded
    with app.test_request_context("/notes", method="POST"):
        write(engine, audited=False)
    assert guard.take() == ["POST /notes committed ['note'] without an audit event"]
    assert guard.take() == []


def test_audited_rolled_back_and_out_of_request_writes_pass(guarded):
    guard, engine, app = guarded
    with app.test_request_context("/notes", method="POST"):
        write(engine, audited=True)
        write(engine, audited=False, commit=False)
    write(engine, audited=False)  # a command or a factory, outside any request
    assert guard.take() == []


def test_a_command_committing_a_write_without_an_audit_event_is_reported(guarded):
    guard, engine, app = guarded
    with app.app_context(), click.Context(click.Command("fix"), info_name="fix"):
        write(engine, audited=False)
        write(engine, audited=True)
    assert guard.take() == ["command fix committed ['note'] without an audit event"]
