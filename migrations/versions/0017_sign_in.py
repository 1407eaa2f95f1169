"""One row per browser signed in, so that signing out refuses copies of its cookies.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 01:00:00

Until now the session and remember cookies carried only the user's token, which changes on a
password change or deactivation: a copy of a cookie taken before signing out stayed valid. The
cookies now also carry the key of a `sign_in` row, deleted at sign-out. Sessions signed in
before this revision carry no key and are asked to sign in again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in",
        sa.Column("key", sa.String(length=43), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_sign_in_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in")),
    )
    with op.batch_alter_table("sign_in", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_started_at"), ["started_at"], unique=False)


def downgrade():
    with op.batch_alter_table("sign_in", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_started_at"))
        batch_op.drop_index(batch_op.f("ix_sign_in_user_id"))
    op.drop_table("sign_in")
