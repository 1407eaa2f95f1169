"""The item's year on the item, and item counts kept per year, unit, requirement and status.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 12:00:00

The checklist, the API list and the dashboard counted every item of the viewer's scope on each
request (200,000 for a city's year): their cost grew with the database. Now

- `checklist_item.year` holds the year an item belongs to (its period's year, or its case's
  decision year; the services keep it), so "items of 2026" is an indexed equality, not an OR of
  a period range and a subquery of cases;
- `checklist_item.last_submitted_on` is the bureau-local date of `last_submitted_at` (the model
  keeps it), so "approved on time" is a comparison of two columns of the row;
- `item_tally` holds, per (year, unit, requirement, status), how many items there are and how
  many of them were approved on time, with the requirement's family (the dashboard groups by
  it without joining the catalogue). Database triggers keep it on every insert, delete and
  change of those columns, whoever writes the row (services, bulk inserts, the bench
  generator's COPY, a hand-written UPDATE), and follow a requirement moved to another family,
  so it cannot drift from the items. `tracker verify` recounts it.

Existing rows are filled here: years from periods and cases, local dates with the configured
timezone, the tally by one GROUP BY.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OLD_SCOPE_INDEX = "ix_checklist_item_unit_scope"
OLD_SCOPE_COLUMNS = ["unit_id", "period", "case_id", "status", "due_date", "requirement_id"]
INDEXES = {
    # A year's page in due order (the list pages, whoever the viewer).
    "ix_checklist_item_year_due": ["year", "due_date"],
    # A unit subtree's items of a year by status and due date (scoped lists and counts).
    "ix_checklist_item_unit_year": ["unit_id", "year", "status", "due_date"],
    # Owed or late items of a year (overdue counts, the dashboard's late figures).
    "ix_checklist_item_status_year": ["status", "year", "due_date", "unit_id", "requirement_id"],
    # Every year's items in due order (the API's list without a year).
    "ix_checklist_item_due_date": ["due_date"],
}
# A unit subtree's tally rows (the primary key leads with the year), covering the sums.
TALLY_INDEXES = {
    "ix_item_tally_unit": ["unit_id", "year", "status", "requirement_id", "items", "on_time"],
    # A year's rows per unit and family, covering the sums (the dashboard).
    "ix_item_tally_year_family": ["year", "unit_id", "family", "status", "items", "on_time"],
}

# 1 when the row is an item approved on time: its approved round was sent by the end of the
# due date, in the bureau's local time (last_submitted_on is that local date).
ON_TIME = (
    "CASE WHEN {row}.status = 'approved' AND {row}.last_submitted_on <= {row}.due_date "
    "THEN 1 ELSE 0 END"
)
TALLY_KEY = "year, unit_id, requirement_id, status"
TRACKED_COLUMNS = ("year", "unit_id", "requirement_id", "status", "due_date", "last_submitted_on")


def _timezone() -> str:
    try:
        return current_app.config.get("TRACKER_TIMEZONE", "Asia/Shanghai")
    except RuntimeError:  # alembic run outside the app
        return "Asia/Shanghai"


def _add_columns() -> None:
    with op.batch_alter_table("checklist_item") as batch:
        # NOT NULL (every item has a period or a decided case: the tally misses none). Added
        # with a default because SQLite adds a NOT NULL column only so (making it NOT NULL
        # afterwards would rebuild the table, which its foreign keys refuse); the rows are
        # filled below, PostgreSQL then drops the default, and the services always set it.
        batch.add_column(sa.Column("year", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_submitted_on", sa.Date(), nullable=True))
    op.execute(
        "UPDATE checklist_item SET year = CAST(substr(period, 1, 4) AS INTEGER) "
        "WHERE period IS NOT NULL"
    )
    op.execute(
        "UPDATE checklist_item SET year = (SELECT CAST(substr(CAST(c.decided_on AS VARCHAR(10)), "
        "1, 4) AS INTEGER) FROM enforcement_case c WHERE c.id = checklist_item.case_id) "
        "WHERE case_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE checklist_item ALTER COLUMN year DROP DEFAULT")
    zone = _timezone()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.text(
                "UPDATE checklist_item SET last_submitted_on = "
                "CAST(last_submitted_at AT TIME ZONE :zone AS DATE) "
                "WHERE last_submitted_at IS NOT NULL"
            ).bindparams(zone=zone)
        )
    else:
        # SQLite knows no zones: the zone's fixed offset (Asia/Shanghai has had no DST since 1991).
        offset = ZoneInfo(zone).utcoffset(datetime(2000, 7, 1)) or timedelta(0)
        op.execute(
            sa.text(
                "UPDATE checklist_item SET last_submitted_on = "
                "date(last_submitted_at, :offset) WHERE last_submitted_at IS NOT NULL"
            ).bindparams(offset=f"{int(offset.total_seconds() // 60):+d} minutes")
        )


def _create_tally() -> None:
    op.create_table(
        "item_tally",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("requirement_id", sa.Integer(), sa.ForeignKey("requirement.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "unit_id", "requirement_id", "status"),
    )
    for name, columns in TALLY_INDEXES.items():
        op.create_index(name, "item_tally", columns)
    key = ", ".join(f"i.{c.strip()}" for c in TALLY_KEY.split(","))
    op.execute(
        f"INSERT INTO item_tally ({TALLY_KEY}, family, items, on_time) "
        f"SELECT {key}, r.family, count(*), sum({ON_TIME.format(row='i')}) "
        f"FROM checklist_item i JOIN requirement r ON r.id = i.requirement_id "
        f"GROUP BY {key}, r.family"
    )


def _add_statement(row: str) -> str:
    return (
        f"INSERT INTO item_tally ({TALLY_KEY}, family, items, on_time) "
        f"SELECT {row}.year, {row}.unit_id, {row}.requirement_id, {row}.status, "
        f"(SELECT family FROM requirement WHERE id = {row}.requirement_id), 1, "
        f"{ON_TIME.format(row=row)} "
        f"WHERE true ON CONFLICT ({TALLY_KEY}) DO UPDATE SET items = item_tally.items + 1, "
        "on_time = item_tally.on_time + excluded.on_time"
    )


def _remove_statement(row: str) -> str:
    return (
        f"UPDATE item_tally SET items = items - 1, on_time = on_time - {ON_TIME.format(row=row)} "
        f"WHERE year = {row}.year AND unit_id = {row}.unit_id "
        f"AND requirement_id = {row}.requirement_id AND status = {row}.status"
    )


def _changed() -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TRACKED_COLUMNS)


# A requirement moved to another family takes its tally rows along.
FAMILY_MOVED = "UPDATE item_tally SET family = NEW.family WHERE requirement_id = NEW.id"


def _create_triggers_postgresql() -> None:
    op.execute(
        f"""
        CREATE FUNCTION item_tally_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN {_remove_statement("OLD")}; END IF;
            IF TG_OP <> 'DELETE' THEN {_add_statement("NEW")}; END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER item_tally_insert AFTER INSERT ON checklist_item "
        "FOR EACH ROW EXECUTE FUNCTION item_tally_keep()"
    )
    op.execute(
        "CREATE TRIGGER item_tally_delete AFTER DELETE ON checklist_item "
        "FOR EACH ROW EXECUTE FUNCTION item_tally_keep()"
    )
    op.execute(
        f"CREATE TRIGGER item_tally_update AFTER UPDATE OF {', '.join(TRACKED_COLUMNS)} "
        f"ON checklist_item FOR EACH ROW WHEN ({_changed()}) "
        "EXECUTE FUNCTION item_tally_keep()"
    )
    op.execute(
        f"""
        CREATE FUNCTION item_tally_family() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {FAMILY_MOVED}; RETURN NULL; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER item_tally_family AFTER UPDATE OF family ON requirement "
        "FOR EACH ROW WHEN (OLD.family IS DISTINCT FROM NEW.family) "
        "EXECUTE FUNCTION item_tally_family()"
    )


def _create_triggers_sqlite() -> None:
    changed = _changed().replace("IS DISTINCT FROM", "IS NOT")
    op.execute(
        "CREATE TRIGGER item_tally_insert AFTER INSERT ON checklist_item "
        f"BEGIN {_add_statement('NEW')}; END"
    )
    op.execute(
        "CREATE TRIGGER item_tally_delete AFTER DELETE ON checklist_item "
        f"BEGIN {_remove_statement('OLD')}; END"
    )
    op.execute(
        f"CREATE TRIGGER item_tally_update AFTER UPDATE OF {', '.join(TRACKED_COLUMNS)} "
        f"ON checklist_item WHEN {changed} "
        f"BEGIN {_remove_statement('OLD')}; {_add_statement('NEW')}; END"
    )
    op.execute(
        "CREATE TRIGGER item_tally_family AFTER UPDATE OF family ON requirement "
        f"WHEN OLD.family IS NOT NEW.family BEGIN {FAMILY_MOVED}; END"
    )


def upgrade():
    _add_columns()
    op.drop_index(OLD_SCOPE_INDEX, table_name="checklist_item")
    for name, columns in INDEXES.items():
        op.create_index(name, "checklist_item", columns)
    _create_tally()
    if op.get_bind().dialect.name == "postgresql":
        _create_triggers_postgresql()
    else:
        _create_triggers_sqlite()


def downgrade():
    triggers = {
        "item_tally_insert": "checklist_item",
        "item_tally_delete": "checklist_item",
        "item_tally_update": "checklist_item",
        "item_tally_family": "requirement",
    }
    for trigger, table in triggers.items():
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        else:
            op.execute(f"DROP TRIGGER {trigger}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION item_tally_keep()")
        op.execute("DROP FUNCTION item_tally_family()")
    op.drop_table("item_tally")
    for name in INDEXES:
        op.drop_index(name, table_name="checklist_item")
    op.create_index(OLD_SCOPE_INDEX, "checklist_item", OLD_SCOPE_COLUMNS)
    with op.batch_alter_table("checklist_item") as batch:
        batch.drop_column("last_submitted_on")
        batch.drop_column("year")
