"""community tasks, check-ins and report-ins

Revision ID: 33c194b499c0
Revises: 39c6dc7ba80c
Create Date: 2026-11-22 04:55:01.906321+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '33c194b499c0'
down_revision: Union[str, Sequence[str], None] = '39c6dc7ba80c'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('radius_m', sa.Integer(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('checked_in_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("category IN ('sanitation', 'traffic', 'persuasion', 'publicity', 'culture', 'care', 'other')", name=op.f('ck_tasks_category')),
    sa.CheckConstraint('(lat IS NULL AND lng IS NULL AND radius_m IS NULL) OR (lat IS NOT NULL AND lng IS NOT NULL AND radius_m IS NOT NULL)', name=op.f('ck_tasks_location_complete')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 1', name=op.f('ck_tasks_capacity_positive')),
    sa.CheckConstraint('checked_in_count >= 0 AND (capacity IS NULL OR checked_in_count <= capacity)', name=op.f('ck_tasks_within_capacity')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_tasks_time_window')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tasks_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_tasks_org_id_orgs'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_org_starts', ['org_id', 'starts_at'], unique=False)

    op.create_table('check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('check_in_lat', sa.Float(), nullable=False),
    sa.Column('check_in_lng', sa.Float(), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('check_out_lat', sa.Float(), nullable=True),
    sa.Column('check_out_lng', sa.Float(), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('minutes IS NULL OR minutes >= 0', name=op.f('ck_check_ins_minutes_non_negative')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_check_ins_task_id_tasks'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_check_ins_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins')),
    sa.UniqueConstraint('task_id', 'user_id', name=op.f('uq_check_ins_task_id_user_id'))
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index('ix_check_ins_user_checked_in', ['user_id', 'checked_in_at'], unique=False)

    op.create_table('report_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(lat IS NULL AND lng IS NULL) OR (lat IS NOT NULL AND lng IS NOT NULL)', name=op.f('ck_report_ins_location_complete')),
    sa.ForeignKeyConstraint(['community_id'], ['orgs.id'], name=op.f('fk_report_ins_community_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_report_ins_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_ins')),
    sa.UniqueConstraint('user_id', 'month', name=op.f('uq_report_ins_user_id_month'))
    )
    with op.batch_alter_table('report_ins', schema=None) as batch_op:
        batch_op.create_index('ix_report_ins_community_month', ['community_id', 'month'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('report_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_report_ins_community_month')

    op.drop_table('report_ins')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_check_ins_user_checked_in')

    op.drop_table('check_ins')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_org_starts')

    op.drop_table('tasks')
