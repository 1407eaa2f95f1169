"""Covering index for the checklist of a unit's subtree under a year: counts and one page.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 09:30:00

The item list, the API list and the dashboard narrow by unit first (a chief's subtree), then by
year (period code or the case's decision date) and status, and order by due date; with every one
of those columns in one index the counts and the page's ids come from the index alone, without
visiting a million table rows (bench/README.md has the figures).
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "ix_checklist_item_unit_scope"
COLUMNS = ["unit_id", "period", "case_id", "status", "due_date", "requirement_id"]


def upgrade():
    op.create_index(INDEX, "checklist_item", COLUMNS)


def downgrade():
    op.drop_index(INDEX, table_name="checklist_item")
