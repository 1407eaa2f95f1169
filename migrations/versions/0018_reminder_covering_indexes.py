"""The reminder pass's two item reads answered from indexes alone (owed by due date, waiting by
submission time).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:30:00

The daily pass reads every owed item due before its horizon (about 14,000 at a million items)
and every submission waiting for review (about 8,000), each with its unit, assignee,
requirement, case and period. Through (status, due date) and (status, submission time) each
row was then fetched from the table, scattered over a million items: with the database's
pages not in memory, as at the morning's run, those reads were most of the pass (SQLite
city copy after the page cache was dropped: owed items 1.36 → 0.19 s). Both indexes keep
their leading columns and order, with the id next (the order the review queue and the pass
ask for) and the columns the pass reads after it; they replace the narrower ones rather
than adding two indexes that every change of an item would also write.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

READ = ["unit_id", "assignee_id", "requirement_id", "case_id", "period"]
INDEXES = {
    "ix_checklist_item_status_due": (["status", "due_date"], ["id", *READ]),
    "ix_checklist_item_status_submitted": (
        ["status", "last_submitted_at"],
        ["id", "due_date", *READ],
    ),
}


def _replace(wide: bool) -> None:
    for name, (key, covered) in INDEXES.items():
        op.drop_index(name, table_name="checklist_item")
        op.create_index(name, "checklist_item", key + covered if wide else key)
    op.execute(sa.text("ANALYZE checklist_item"))  # statistics for the new indexes (see 0013)


def upgrade():
    _replace(wide=True)


def downgrade():
    _replace(wide=False)
