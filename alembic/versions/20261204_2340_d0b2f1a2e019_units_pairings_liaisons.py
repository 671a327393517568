"""units: pairings (结对共建) with their history, liaisons (包联), tasks.pairing_id

Issue 18. One active pairing per unit and community is a partial unique index
(status = 'active'): ended pairings stay, as many as there were. tasks.pairing_id
is added in place (no rebuild on SQLite: the counting triggers on tasks stay).

Revision ID: d0b2f1a2e019
Revises: c9a1e0f1d018
Create Date: 2026-12-04 23:40:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = 'd0b2f1a2e019'
down_revision: Union[str, Sequence[str], None] = 'c9a1e0f1d018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ACTIVE = "status = 'active'"


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'pairings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('commitments', sa.JSON(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'ended')", name=op.f('ck_pairings_status')),
        sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_pairings_period')),
        sa.ForeignKeyConstraint(['community_id'], ['orgs.id'], name=op.f('fk_pairings_community_id_orgs'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_pairings_created_by_id_users'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['unit_id'], ['orgs.id'], name=op.f('fk_pairings_unit_id_orgs'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pairings')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_pairings_community_id', 'pairings', ['community_id', 'status'], unique=False)
    op.create_index(
        'uq_pairings_active',
        'pairings',
        ['unit_id', 'community_id'],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_table(
        'pairing_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pairing_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('from_status', sa.String(length=10), nullable=True),
        sa.Column('to_status', sa.String(length=10), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(length=500), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('create', 'end')", name=op.f('ck_pairing_events_action')),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_pairing_events_actor_id_users'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['pairing_id'], ['pairings.id'], name=op.f('fk_pairing_events_pairing_id_pairings'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pairing_events')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_pairing_events_pairing_id'), 'pairing_events', ['pairing_id'], unique=False)
    op.create_table(
        'liaisons',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_liaisons_period')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_liaisons_created_by_id_users'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_liaisons_org_id_orgs'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_liaisons_user_id_users'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_liaisons')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_liaisons_org_id'), 'liaisons', ['org_id'], unique=False)
    op.create_index(op.f('ix_liaisons_user_id'), 'liaisons', ['user_id'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_tasks(_add_pairing_id)
    else:
        with op.batch_alter_table('tasks') as batch_op:
            _add_pairing_id(batch_op)


def _add_pairing_id(batch_op) -> None:
    batch_op.add_column(sa.Column('pairing_id', sa.Integer(), nullable=True))
    batch_op.create_foreign_key(
        batch_op.f('fk_tasks_pairing_id_pairings'),
        'pairings',
        ['pairing_id'],
        ['id'],
        ondelete='RESTRICT',
    )


def _rebuild_sqlite_tasks(change) -> None:
    """SQLite changes a table's foreign keys only by rebuilding it (batch mode), which
    drops its triggers: the counting ones (fact_counts) are read first and created
    again after, unchanged, as in b8d7f5e9a008."""
    conn = op.get_bind()
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('run this migration with foreign keys off (alembic does)')
    triggers = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tasks'"
    ).scalars().all()
    conn.exec_driver_sql('PRAGMA legacy_alter_table=ON')
    try:
        with op.batch_alter_table(
            'tasks', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch_op:
            change(batch_op)
        for sql in triggers:
            conn.exec_driver_sql(sql)
    finally:
        conn.exec_driver_sql('PRAGMA legacy_alter_table=OFF')


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_tasks(lambda batch_op: batch_op.drop_column('pairing_id'))
    else:
        op.drop_constraint(op.f('fk_tasks_pairing_id_pairings'), 'tasks', type_='foreignkey')
        op.drop_column('tasks', 'pairing_id')
    op.drop_index(op.f('ix_liaisons_user_id'), table_name='liaisons')
    op.drop_index(op.f('ix_liaisons_org_id'), table_name='liaisons')
    op.drop_table('liaisons')
    op.drop_index(op.f('ix_pairing_events_pairing_id'), table_name='pairing_events')
    op.drop_table('pairing_events')
    op.drop_index('uq_pairings_active', table_name='pairings')
    op.drop_index('ix_pairings_community_id', table_name='pairings')
    op.drop_table('pairings')
