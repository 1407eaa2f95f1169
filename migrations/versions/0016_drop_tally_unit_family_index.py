"""Drop the item tally's (year, unit, family, ...) index, unread since the unit x family tally.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 20:00:00

It served the dashboard's unit rows, which read `unit_family_tally` since 0014. No query
plans on it any more (checked on both databases at a million items: a chief's counts read
ix_item_tally_unit, a bureau-wide year ix_item_tally_year_family_status or the primary key),
while every change of an item rewrote an entry of it, covering the counts, inside the
writer's transaction.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEX = "ix_item_tally_year_family"
COLUMNS = ["year", "unit_id", "family", "status", "items", "on_time"]


def upgrade():
    op.drop_index(INDEX, table_name="item_tally")
    op.execute(sa.text("ANALYZE item_tally"))  # statistics without it (see 0013)


def downgrade():
    op.create_index(INDEX, "item_tally", COLUMNS)
    op.execute(sa.text("ANALYZE item_tally"))
