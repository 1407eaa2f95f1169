"""When an approved item's approved round was sent for review, kept on the item.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 10:30:00

"On time" (dashboard, scores, ledger, annual report) compares that instant with the due date.
Read through a correlated lookup of the latest submission it cost about a second for a city's
year of items; kept on the item it is a column read. Existing approved items are filled from
their latest submission, which is the approved round.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("checklist_item") as batch:
        batch.add_column(
            sa.Column("approved_round_submitted_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute(
        """
        UPDATE checklist_item
        SET approved_round_submitted_at = (
            SELECT max(submission.submitted_at) FROM submission
            WHERE submission.item_id = checklist_item.id
        )
        WHERE status = 'approved'
        """
    )


def downgrade():
    with op.batch_alter_table("checklist_item") as batch:
        batch.drop_column("approved_round_submitted_at")
