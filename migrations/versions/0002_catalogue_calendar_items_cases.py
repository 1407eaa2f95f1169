"""Requirement catalogue with versions, holiday calendar, enforcement cases, checklist items.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:46:11.435752

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('holiday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holiday')),
    sa.UniqueConstraint('day', name=op.f('uq_holiday_day'))
    )
    op.create_table('holiday_year',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['loaded_by_id'], ['user_account.id'], name=op.f('fk_holiday_year_loaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_holiday_year'))
    )

    op.create_table('requirement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('family', sa.String(length=16), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=300), nullable=False),
    sa.Column('description_zh', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('cadence', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=True),
    sa.Column('applies_to', sa.String(length=16), nullable=True),
    sa.Column('deadline_rule', sa.JSON(), nullable=False),
    sa.Column('evidence_hint_zh', sa.Text(), nullable=False),
    sa.Column('evidence_hint_en', sa.Text(), nullable=False),
    sa.Column('owners', sa.JSON(), nullable=False),
    sa.Column('target_count', sa.Integer(), nullable=True),
    sa.Column('target_value', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('target_unit', sa.String(length=16), nullable=True),
    sa.Column('target_op', sa.String(length=2), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requirement')),
    sa.UniqueConstraint('code', name=op.f('uq_requirement_code'))
    )
    with op.batch_alter_table('requirement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requirement_family'), ['family'], unique=False)

    op.create_table('requirement_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_requirement_version_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_requirement_version_requirement_id_requirement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_requirement_version')),
    sa.UniqueConstraint('requirement_id', 'version', name=op.f('uq_requirement_version_requirement_id_version'))
    )

    op.create_table('enforcement_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('served_on', sa.Date(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('major', sa.Boolean(), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_enforcement_case_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_enforcement_case_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enforcement_case')),
    sa.UniqueConstraint('case_no', name=op.f('uq_enforcement_case_case_no'))
    )
    with op.batch_alter_table('enforcement_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enforcement_case_decided_on'), ['decided_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_enforcement_case_unit_id'), ['unit_id'], unique=False)

    op.create_table('checklist_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('requirement_id', sa.Integer(), nullable=False),
    sa.Column('requirement_version', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('scope_key', sa.String(length=32), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('due_basis_zh', sa.String(length=500), nullable=False),
    sa.Column('due_basis_en', sa.String(length=500), nullable=False),
    sa.Column('calendar_version', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('value', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('created_overdue', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_checklist_item_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['enforcement_case.id'], name=op.f('fk_checklist_item_case_id_enforcement_case')),
    sa.ForeignKeyConstraint(['requirement_id'], ['requirement.id'], name=op.f('fk_checklist_item_requirement_id_requirement')),
    # Items keep the rule of the catalogue version they were made with.
    sa.ForeignKeyConstraint(['requirement_id', 'requirement_version'], ['requirement_version.requirement_id', 'requirement_version.version'], name='fk_checklist_item_requirement_version'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_checklist_item_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_item')),
    # One item per requirement, unit and scope (period code or "case:<id>").
    sa.UniqueConstraint('requirement_id', 'unit_id', 'scope_key', name=op.f('uq_checklist_item_requirement_id_unit_id_scope_key'))
    )
    with op.batch_alter_table('checklist_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_item_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_checklist_item_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_checklist_item_period'), ['period'], unique=False)
        batch_op.create_index('ix_checklist_item_provisional_status', ['due_provisional', 'status'], unique=False)
        batch_op.create_index('ix_checklist_item_status_due', ['status', 'due_date'], unique=False)
        batch_op.create_index('ix_checklist_item_unit_status_due', ['unit_id', 'status', 'due_date'], unique=False)


def downgrade():
    # Dropping a table drops its indexes; children before parents.
    op.drop_table('checklist_item')
    op.drop_table('enforcement_case')
    op.drop_table('requirement_version')
    op.drop_table('requirement')
    op.drop_table('holiday_year')
    op.drop_table('holiday')
