"""A revision token per covered year, renewed by triggers whenever its special days change.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 19:00:00

Every page that shows deadlines loaded the whole holiday table (771 days) and built the
working calendar, about 3 ms, for a table that changes a few times a year. Each
process now keeps the calendar it built under the covered years' (year, version, revision)
and reads only those on a request. The version alone could not serve: two edits of a year in
the same second give the same version label. Triggers renew the revision on any insert,
update or delete of a holiday, by the app or by hand; a new year's row gets one by default.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

RANDOM_TOKEN = {
    "postgresql": "md5(random()::text || clock_timestamp()::text)",
    "sqlite": "lower(hex(randomblob(16)))",
}
YEAR_OF = {
    "postgresql": "CAST(extract(year FROM {row}.day) AS integer)",
    "sqlite": "CAST(strftime('%Y', {row}.day) AS integer)",
}


def _renew(dialect: str, row: str) -> str:
    year = YEAR_OF[dialect].format(row=row)
    return f"UPDATE holiday_year SET revision = {RANDOM_TOKEN[dialect]} WHERE year = {year}"


def upgrade():
    dialect = op.get_bind().dialect.name
    # SQLite adds no column with an expression default in place: the small table is rebuilt.
    recreate = "always" if dialect == "sqlite" else "auto"
    with op.batch_alter_table("holiday_year", recreate=recreate) as batch:
        batch.add_column(
            sa.Column(
                "revision",
                sa.String(32),
                nullable=False,
                server_default=sa.text(f"({RANDOM_TOKEN[dialect]})"),
            )
        )
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION holiday_year_renew() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'INSERT' THEN {_renew(dialect, "OLD")}; END IF;
                IF TG_OP <> 'DELETE' THEN {_renew(dialect, "NEW")}; END IF;
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER holiday_year_renew AFTER INSERT OR UPDATE OR DELETE ON holiday "
            "FOR EACH ROW EXECUTE FUNCTION holiday_year_renew()"
        )
    else:
        op.execute(
            "CREATE TRIGGER holiday_year_renew_insert AFTER INSERT ON holiday "
            f"BEGIN {_renew(dialect, 'NEW')}; END"
        )
        op.execute(
            "CREATE TRIGGER holiday_year_renew_delete AFTER DELETE ON holiday "
            f"BEGIN {_renew(dialect, 'OLD')}; END"
        )
        op.execute(
            "CREATE TRIGGER holiday_year_renew_update AFTER UPDATE ON holiday "
            f"BEGIN {_renew(dialect, 'OLD')}; {_renew(dialect, 'NEW')}; END"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER holiday_year_renew ON holiday")
        op.execute("DROP FUNCTION holiday_year_renew()")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER holiday_year_renew_{event}")
    with op.batch_alter_table("holiday_year") as batch:
        batch.drop_column("revision")
