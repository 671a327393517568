"""revocable volunteer hours and withdrawable wish confirmations

Issue 20 (points reversed when their source is undone). volunteer_hours moves on the
one lifecycle: it gains `updated_at` (added in place, so its counting triggers stay;
filled from created_at) and a history, volunteer_hour_events (approve, reject,
revoke). wish_events' CHECK on action gains 'unconfirm' (a confirmation withdrawn):
on SQLite a rebuild, its triggers read first and created again after (as in
37eb2caac8ed). A downgrade forgets the withdrawals' history rows.

Revision ID: a7c5e3f1b920
Revises: c4f1a9e2b7d3
Create Date: 2026-12-06 00:50:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'a7c5e3f1b920'
down_revision: Union[str, Sequence[str], None] = 'c4f1a9e2b7d3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WISH_ACTIONS = "'approve', 'cancel', 'claim', 'confirm', 'create', 'fulfill', 'reject', 'release'"
WITH_UNCONFIRM = (
    "'approve', 'cancel', 'claim', 'confirm', 'create', 'fulfill', 'reject', 'release', "
    "'unconfirm'"
)


def _wish_actions(allowed: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_wish_events_action'), 'wish_events', type_='check')
        op.create_check_constraint(
            op.f('ck_wish_events_action'), 'wish_events', f'action IN ({allowed})'
        )
        return
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('run this migration with foreign keys off (alembic does)')
    triggers = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'wish_events'"
    ).scalars().all()
    conn.exec_driver_sql('PRAGMA legacy_alter_table=ON')
    try:
        with op.batch_alter_table(
            'wish_events', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch_op:
            batch_op.drop_constraint(batch_op.f('ck_wish_events_action'), type_='check')
            batch_op.create_check_constraint(
                batch_op.f('ck_wish_events_action'), f'action IN ({allowed})'
            )
        for sql in triggers:
            conn.exec_driver_sql(sql)
    finally:
        conn.exec_driver_sql('PRAGMA legacy_alter_table=OFF')


def upgrade() -> None:
    """Upgrade schema."""
    op.execute('ALTER TABLE volunteer_hours ADD COLUMN updated_at '
               + ('TIMESTAMP WITH TIME ZONE' if op.get_bind().dialect.name == 'postgresql'
                  else 'DATETIME'))
    op.execute('UPDATE volunteer_hours SET updated_at = created_at')
    op.create_table('volunteer_hour_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_hour_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('approve', 'log', 'reject', 'revoke')", name=op.f('ck_volunteer_hour_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_volunteer_hour_events_actor_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_hour_id'], ['volunteer_hours.id'], name=op.f('fk_volunteer_hour_events_volunteer_hour_id_volunteer_hours'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_hour_events')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_volunteer_hour_events_volunteer_hour_id'), 'volunteer_hour_events', ['volunteer_hour_id'], unique=False)
    _wish_actions(WITH_UNCONFIRM)


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DELETE FROM wish_events WHERE action = 'unconfirm'")
    _wish_actions(WISH_ACTIONS)
    op.drop_index(op.f('ix_volunteer_hour_events_volunteer_hour_id'), table_name='volunteer_hour_events')
    op.drop_table('volunteer_hour_events')
    # In place (SQLite 3.35+): a batch rebuild would lose the table's counting triggers.
    op.execute('ALTER TABLE volunteer_hours DROP COLUMN updated_at')
