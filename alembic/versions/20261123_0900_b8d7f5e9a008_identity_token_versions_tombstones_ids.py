"""identity: token versions, tombstones, phones per reach, ids never reused

Issue 15. Four changes to who a row is:

- users.token_version: access tokens carry it; raising it ends every token issued
  before ("log out everywhere", a change of phone or binding).
- users.merged_into_id: binding a phone no longer deletes the account made at first
  login; it stays as a tombstone pointing at its roster entry, so its tokens keep
  acting as that entry and its id is never free for another person. A CHECK keeps a
  tombstone empty (no openid, phone or home): on no roster, in no count.
- users.phone_hash is no longer unique: an office refuses a duplicate phone only
  inside its own reach, so that nothing outside it is revealed. At most one entry per
  phone is bound to WeChat (a partial unique index); a plain index keeps the lookups.
- Ids are never reused. On SQLite a table without AUTOINCREMENT numbers a new row
  max(id) + 1, so deleting the newest row hands its id to the next: a login token
  came to act as the next person put on the roster. Every table with an integer id
  gets AUTOINCREMENT, since its ids stand somewhere a reuse would mislead: in tokens
  and view links (users), idempotency records (every created row's id is in a
  stored answer), audit rows (target_id of any kind), notifications (target_id),
  API keys' and integrators' copies, and foreign keys of rows kept for history.
  PostgreSQL's sequences never go back: nothing to do there.

On SQLite, AUTOINCREMENT is part of CREATE TABLE, so each table is rebuilt (batch
mode). A rebuild drops the table's triggers: those of people_counts (d4f3b1a5c004)
and fact_counts (e5a4c2b6d005, f6b5d3c7e006) are read from sqlite_master before and
created again after, unchanged. The rebuild runs with foreign keys off (as Alembic
runs: a DROP TABLE with them on would cascade into role_grants and messages) and
with legacy_alter_table on (otherwise renaming the rebuilt table checks the triggers
of other tables while the table they name is missing); the foreign keys are checked
at the end. The copied rows keep their ids, and AUTOINCREMENT carries on from the
highest one; an id freed before this revision cannot be told apart any more.

Revision ID: b8d7f5e9a008
Revises: a7c6e4d8f007
Create Date: 2026-11-23 09:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b8d7f5e9a008'
down_revision: Union[str, Sequence[str], None] = 'a7c6e4d8f007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Every table with an integer id, as of this revision.
ID_TABLES = (
    'orgs',
    'users',
    'role_grants',
    'idempotency_records',
    'media',
    'media_attachments',
    'volunteer_hours',
    'tasks',
    'check_ins',
    'report_ins',
    'wishes',
    'wish_events',
    'points',
    'problems',
    'problem_events',
    'articles',
    'article_events',
    'api_keys',
    'audit_log',
    'messages',
    'wechat_sends',
    'subscribe_grants',
    'job_runs',
)
TOMBSTONE_IS_EMPTY = (
    'merged_into_id IS NULL OR (openid IS NULL AND phone_hash IS NULL'
    ' AND community_id IS NULL AND unit_id IS NULL)'
)
BOUND = 'openid IS NOT NULL'


def _users_columns(batch_op) -> None:
    batch_op.add_column(
        sa.Column('token_version', sa.Integer(), server_default='0', nullable=False)
    )
    batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
    batch_op.create_foreign_key(
        batch_op.f('fk_users_merged_into_id_users'),
        'users',
        ['merged_into_id'],
        ['id'],
        ondelete='CASCADE',
    )
    batch_op.create_check_constraint(batch_op.f('ck_users_tombstone_is_empty'), TOMBSTONE_IS_EMPTY)
    batch_op.drop_constraint(batch_op.f('uq_users_phone_hash'), type_='unique')


def _users_indexes() -> None:
    op.create_index(op.f('ix_users_merged_into_id'), 'users', ['merged_into_id'], unique=False)
    op.create_index(op.f('ix_users_phone_hash'), 'users', ['phone_hash'], unique=False)
    op.create_index(
        'uq_users_bound_phone_hash',
        'users',
        ['phone_hash'],
        unique=True,
        sqlite_where=sa.text(BOUND),
        postgresql_where=sa.text(BOUND),
    )


def _drop_users_indexes() -> None:
    op.drop_index('uq_users_bound_phone_hash', table_name='users')
    op.drop_index(op.f('ix_users_phone_hash'), table_name='users')
    op.drop_index(op.f('ix_users_merged_into_id'), table_name='users')


def _rebuild_sqlite_tables(autoincrement: bool, users_change) -> None:
    """Rebuild every id table (AUTOINCREMENT on or off), its triggers restored."""
    conn = op.get_bind()
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('run this migration with foreign keys off (alembic does)')
    conn.exec_driver_sql('PRAGMA legacy_alter_table=ON')
    try:
        for table in ID_TABLES:
            triggers = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                (table,),
            ).scalars().all()
            with op.batch_alter_table(
                table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
            ) as batch_op:
                if table == 'users':
                    users_change(batch_op)
            # The counting triggers come back as they were, keeping the same rules
            # (app/models/people_counts.py and app/models/fact_counts.py, "The
            # counting rules").
            for sql in triggers:
                conn.exec_driver_sql(sql)
    finally:
        conn.exec_driver_sql('PRAGMA legacy_alter_table=OFF')
    broken = conn.exec_driver_sql('PRAGMA foreign_key_check').all()
    if broken:
        raise RuntimeError(f'foreign keys broken by the rebuild: {broken[:5]}')


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_tables(True, _users_columns)
    else:
        with op.batch_alter_table('users') as batch_op:
            _users_columns(batch_op)
    _users_indexes()


def _users_columns_back(batch_op) -> None:
    batch_op.create_unique_constraint(batch_op.f('uq_users_phone_hash'), ['phone_hash'])
    batch_op.drop_constraint(batch_op.f('ck_users_tombstone_is_empty'), type_='check')
    batch_op.drop_constraint(batch_op.f('fk_users_merged_into_id_users'), type_='foreignkey')
    batch_op.drop_column('merged_into_id')
    batch_op.drop_column('token_version')


def downgrade() -> None:
    """Downgrade schema. Fails where one phone now stands on several rosters: the
    previous revision holds a phone once."""
    _drop_users_indexes()
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_tables(False, _users_columns_back)
    else:
        with op.batch_alter_table('users') as batch_op:
            _users_columns_back(batch_op)
