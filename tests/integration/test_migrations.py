"""Migrations build the schema from nothing, tear it down, build it again, and match the models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tracker import create_app
from tracker.config import TestConfig
from tracker.extensions import db


@pytest.fixture
def scratch_database_url(tmp_path) -> Iterator[str]:
    """An empty database of the suite's kind, dropped afterwards."""
    url = os.environ.get("TRACKER_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"tracker_migrations_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(scratch_database_url, tmp_path):
    app = create_app(
        TestConfig(instance_path=tmp_path / "instance", database_url=scratch_database_url)
    )
    with app.app_context():
        upgrade()
        first = _tables(db.engine)
        assert {"unit", "user_account", "audit_event", "audit_head"} <= first
        downgrade(revision="base")
        assert _tables(db.engine) == set()
        upgrade()
        assert _tables(db.engine) == first

        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], "models and migrations differ: write a migration"
        db.engine.dispose()


def _insert(conn, table: sa.Table, **values) -> int:
    """A row with the given values and a plain value for every other required column."""
    plain = {
        sa.Integer: 1,
        sa.String: "x",
        sa.Text: "x",
        sa.Boolean: False,
        sa.Date: sa.func.current_date(),
        sa.DateTime: sa.func.current_timestamp(),
        sa.Numeric: 0,
        sa.JSON: {},
    }
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        kind = next((k for k in plain if isinstance(column.type, k)), sa.String)
        row[column.name] = plain[kind]
    return conn.execute(table.insert().values(row)).inserted_primary_key[0]


def test_0011_fills_the_latest_submission_time(scratch_database_url, tmp_path):
    app = create_app(
        TestConfig(instance_path=tmp_path / "instance", database_url=scratch_database_url)
    )
    with app.app_context():
        upgrade(revision="0010")
        tables = sa.MetaData()
        tables.reflect(db.engine)
        early = sa.text("'2026-03-01 02:00:00'")
        late = sa.text("'2026-03-05 02:00:00'")
        with db.engine.begin() as conn:
            unit = _insert(conn, tables.tables["unit"], code="U", path="/1/")
            user = _insert(conn, tables.tables["user_account"], unit_id=unit, email="a@b.example")
            requirement = _insert(conn, tables.tables["requirement"], code="R-1")
            _insert(
                conn, tables.tables["requirement_version"], requirement_id=requirement, version=1
            )
            items = {}
            for status in ("approved", "returned", "open"):
                items[status] = _insert(
                    conn,
                    tables.tables["checklist_item"],
                    requirement_id=requirement,
                    unit_id=unit,
                    status=status,
                    scope_key=status,
                )
                rounds = () if status == "open" else (early, late)
                for number, at in enumerate(rounds, start=1):
                    _insert(
                        conn,
                        tables.tables["submission"],
                        item_id=items[status],
                        round=number,
                        submitted_by_id=user,
                        submitted_at=at,
                    )
        upgrade(revision="0011")
        with db.engine.connect() as conn:
            filled = dict(
                conn.execute(
                    sa.text("SELECT status, last_submitted_at IS NOT NULL FROM checklist_item")
                ).all()
            )
            latest = conn.execute(
                sa.text(
                    "SELECT c.last_submitted_at = max(s.submitted_at)"
                    " FROM checklist_item c"
                    " JOIN submission s ON s.item_id = c.id"
                    " GROUP BY c.id, c.last_submitted_at"
                )
            ).scalars()
            latest = list(latest)
        assert filled == {"approved": True, "returned": True, "open": False}
        assert latest and all(same in (True, 1) for same in latest)
        db.engine.dispose()


def test_0012_fills_years_local_dates_and_the_tally(scratch_database_url, tmp_path):
    app = create_app(
        TestConfig(instance_path=tmp_path / "instance", database_url=scratch_database_url)
    )
    with app.app_context():
        upgrade(revision="0011")
        tables = sa.MetaData()
        tables.reflect(db.engine)
        item = tables.tables["checklist_item"]
        with db.engine.begin() as conn:
            unit = _insert(conn, tables.tables["unit"], code="U", path="/1/")
            requirement = _insert(conn, tables.tables["requirement"], code="R-1")
            _insert(
                conn, tables.tables["requirement_version"], requirement_id=requirement, version=1
            )
            case = _insert(
                conn,
                tables.tables["enforcement_case"],
                unit_id=unit,
                case_no="C-1",
                decided_on=sa.text("'2024-06-01'"),
            )
            common = {"requirement_id": requirement, "unit_id": unit, "status": "approved"}
            # Due 1 March; sent at 23:00 Beijing time that day (on time), then at 01:00 the
            # next morning (late), both as UTC instants.
            on_time = _insert(
                conn,
                item,
                **common,
                period="2026-Q1",
                scope_key="a",
                due_date=sa.text("'2026-03-01'"),
                last_submitted_at=sa.text("'2026-03-01 15:00:00'"),
            )
            late = _insert(
                conn,
                item,
                **common,
                period="2026-03",
                scope_key="b",
                due_date=sa.text("'2026-03-01'"),
                last_submitted_at=sa.text("'2026-03-01 17:00:00'"),
            )
            of_case = _insert(
                conn,
                item,
                requirement_id=requirement,
                unit_id=unit,
                status="open",
                case_id=case,
                scope_key="case:1",
                due_date=sa.text("'2024-06-20'"),
            )
            # Rows referring to the items: the migration must not rebuild the item table,
            # which SQLite's foreign keys refuse once such rows exist.
            user = _insert(conn, tables.tables["user_account"], unit_id=unit, email="a@b.example")
            _insert(
                conn,
                tables.tables["evidence"],
                item_id=of_case,
                uploaded_by_id=user,
                kind="link",
                url="https://example.org/",
            )
        upgrade()
        with db.engine.connect() as conn:
            rows = {
                r.id: (r.year, str(r.last_submitted_on) if r.last_submitted_on else None)
                for r in conn.execute(
                    sa.text("SELECT id, year, last_submitted_on FROM checklist_item")
                )
            }
            tally = sorted(
                tuple(r)
                for r in conn.execute(
                    sa.text("SELECT year, status, items, on_time FROM item_tally WHERE items > 0")
                )
            )
        assert rows == {
            on_time: (2026, "2026-03-01"),
            late: (2026, "2026-03-02"),
            of_case: (2024, None),
        }
        assert tally == [(2024, "open", 1, 0), (2026, "approved", 2, 1)]
        db.engine.dispose()
