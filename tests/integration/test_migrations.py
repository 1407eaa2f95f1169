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
