"""dashboard facts: check-ins carry their task's org

Dashboards count a subtree's check-ins of a month. Check-ins only knew their task,
so every count went through tasks and read every check-in of the month in the city.
`check_ins.org_id` copies the task's org (a composite foreign key to
tasks (id, org_id) keeps it equal, and follows the task if its org ever changes),
and (org_id, checked_in_at) finds one org's month in one index range. The existing
rows are backfilled from their tasks; ids are kept. Problems and articles get
(org_id, <date>) indexes for the month counts of an org, and the users' home
indexes widen to cover the dashboards' head counts.

Revision ID: c3e2a0f4b003
Revises: b2d1f9e3a002
Create Date: 2026-11-22 15:02:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c3e2a0f4b003'
down_revision: Union[str, Sequence[str], None] = 'b2d1f9e3a002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_tasks_id_org_id', ['id', 'org_id'])

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))

    if op.get_bind().dialect.name == 'postgresql':
        # A join, not a subquery per row: minutes instead of hours on ten million rows.
        op.execute(
            'UPDATE check_ins SET org_id = tasks.org_id FROM tasks WHERE tasks.id = check_ins.task_id'
        )
    else:
        op.execute(
            'UPDATE check_ins SET org_id = (SELECT tasks.org_id FROM tasks WHERE tasks.id = check_ins.task_id)'
        )

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.alter_column('org_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            'fk_check_ins_task_id_org_id_tasks',
            'tasks',
            ['task_id', 'org_id'],
            ['id', 'org_id'],
            ondelete='RESTRICT',
            onupdate='CASCADE',
        )
        batch_op.create_index('ix_check_ins_org_checked_in', ['org_id', 'checked_in_at'], unique=False)

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.create_index('ix_problems_org_created_at', ['org_id', 'created_at'], unique=False)

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.create_index(
            'ix_articles_org_first_submitted_at', ['org_id', 'first_submitted_at'], unique=False
        )
        batch_op.create_index('ix_articles_org_published_at', ['org_id', 'published_at'], unique=False)

    # The home indexes widened to cover the dashboards' head counts.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_community_id')
        batch_op.drop_index('ix_users_unit_id')
        batch_op.create_index(
            'ix_users_community_id', ['community_id', 'unit_id', 'is_party_member', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_users_unit_id', ['unit_id', 'community_id', 'is_party_member', 'id'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_unit_id')
        batch_op.drop_index('ix_users_community_id')
        batch_op.create_index('ix_users_community_id', ['community_id'], unique=False)
        batch_op.create_index('ix_users_unit_id', ['unit_id'], unique=False)

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index('ix_articles_org_published_at')
        batch_op.drop_index('ix_articles_org_first_submitted_at')

    with op.batch_alter_table('problems', schema=None) as batch_op:
        batch_op.drop_index('ix_problems_org_created_at')

    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_check_ins_org_checked_in')
        batch_op.drop_constraint('fk_check_ins_task_id_org_id_tasks', type_='foreignkey')
        batch_op.drop_column('org_id')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_constraint('uq_tasks_id_org_id', type_='unique')
