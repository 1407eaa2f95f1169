"""The item tally summed per (year, unit, family, status), for the dashboard.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 17:00:00

The dashboard draws families and units, never requirements, yet read the item tally, whose
rows are per requirement: a city's year has ~27,000 of them, summed on every request for the
family totals (3 ms on either database) and, 25 units at a time, for the unit rows.
`unit_family_tally` keeps the same counts per (year, unit, family, status), ~6,000 rows a
year. Database triggers on item_tally keep it, so it follows whatever moves the item tally
(the triggers on checklist_item, a requirement moved to another family, a hand-written
UPDATE); `tracker verify` recounts it. Rows fall to zero rather than disappear, like the item
tally's. It is filled here from the item tally and analysed (see 0013).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "unit_family_tally"
KEY = ("year", "unit_id", "family", "status")
INDEX = "ix_unit_family_tally_family"
# Not covering the counts, so that updates of the counts stay on their page (HOT): see the model.
INDEX_COLUMNS = ["year", "family", "status"]
KEY_LIST = ", ".join(KEY)


def _same_key(old: str, new: str) -> str:
    return " AND ".join(f"{old}.{c} = {new}.{c}" for c in KEY)


def _add(row: str) -> str:
    return (
        f"INSERT INTO {TABLE} ({KEY_LIST}, items, on_time) "
        f"VALUES ({', '.join(f'{row}.{c}' for c in KEY)}, {row}.items, {row}.on_time) "
        f"ON CONFLICT ({KEY_LIST}) DO UPDATE SET items = {TABLE}.items + excluded.items, "
        f"on_time = {TABLE}.on_time + excluded.on_time"
    )


def _remove(row: str) -> str:
    return (
        f"UPDATE {TABLE} SET items = items - {row}.items, on_time = on_time - {row}.on_time "
        f"WHERE {' AND '.join(f'{c} = {row}.{c}' for c in KEY)}"
    )


# The usual change: an item tally row's counts move, its key stays (one statement, not two).
SHIFT = (
    f"UPDATE {TABLE} SET items = items + NEW.items - OLD.items, "
    f"on_time = on_time + NEW.on_time - OLD.on_time "
    f"WHERE {' AND '.join(f'{c} = NEW.{c}' for c in KEY)}"
)


def upgrade():
    op.create_table(
        TABLE,
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("family", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.create_index(INDEX, TABLE, INDEX_COLUMNS)
    op.execute(
        f"INSERT INTO {TABLE} ({KEY_LIST}, items, on_time) "
        f"SELECT {KEY_LIST}, sum(items), sum(on_time) FROM item_tally GROUP BY {KEY_LIST}"
    )
    if op.get_bind().dialect.name == "postgresql":
        _create_triggers_postgresql()
    else:
        _create_triggers_sqlite()
    op.execute(f"ANALYZE {TABLE}")


def _create_triggers_postgresql() -> None:
    op.execute(
        f"""
        CREATE FUNCTION unit_family_tally_keep() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND {_same_key("OLD", "NEW")} THEN
                {SHIFT};
                RETURN NULL;
            END IF;
            IF TG_OP <> 'INSERT' THEN {_remove("OLD")}; END IF;
            IF TG_OP <> 'DELETE' THEN {_add("NEW")}; END IF;
            RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "DELETE", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER unit_family_tally_{event.lower()} AFTER {event} ON item_tally "
            "FOR EACH ROW EXECUTE FUNCTION unit_family_tally_keep()"
        )


def _create_triggers_sqlite() -> None:
    op.execute(
        f"CREATE TRIGGER unit_family_tally_insert AFTER INSERT ON item_tally "
        f"BEGIN {_add('NEW')}; END"
    )
    op.execute(
        f"CREATE TRIGGER unit_family_tally_delete AFTER DELETE ON item_tally "
        f"BEGIN {_remove('OLD')}; END"
    )
    op.execute(
        f"CREATE TRIGGER unit_family_tally_update AFTER UPDATE ON item_tally "
        f"WHEN {_same_key('OLD', 'NEW')} BEGIN {SHIFT}; END"
    )
    op.execute(
        f"CREATE TRIGGER unit_family_tally_move AFTER UPDATE ON item_tally "
        f"WHEN NOT ({_same_key('OLD', 'NEW')}) BEGIN {_remove('OLD')}; {_add('NEW')}; END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER unit_family_tally_{event} ON item_tally")
        op.execute("DROP FUNCTION unit_family_tally_keep()")
    else:
        for name in ("insert", "delete", "update", "move"):
            op.execute(f"DROP TRIGGER unit_family_tally_{name}")
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
