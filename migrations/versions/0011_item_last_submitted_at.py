"""When the item's latest round was sent for review, kept on the item.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:30:00

The review queue orders by it and "on time" (dashboard, scores, ledger, annual report) compares
it with the due date. Read through a correlated lookup of the submissions it cost about a second
for a city's year of items; kept on the item it is a column, indexed with the status for the
queue. Existing items are filled from their latest submission.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "ix_checklist_item_status_submitted"


def upgrade():
    with op.batch_alter_table("checklist_item") as batch:
        batch.add_column(sa.Column("last_submitted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        """
        UPDATE checklist_item
        SET last_submitted_at = (
            SELECT max(submission.submitted_at) FROM submission
            WHERE submission.item_id = checklist_item.id
        )
        WHERE EXISTS (SELECT 1 FROM submission WHERE submission.item_id = checklist_item.id)
        """
    )
    op.create_index(INDEX, "checklist_item", ["status", "last_submitted_at"])


def downgrade():
    op.drop_index(INDEX, table_name="checklist_item")
    with op.batch_alter_table("checklist_item") as batch:
        batch.drop_column("last_submitted_at")
