"""console login: one-use tickets and browser sessions of the PC console

Issue 17. `console_login_tickets` holds the tickets a PC page shows as a
mini-program code (2 minutes, used once), `console_sessions` the sessions they
open. Keys are SHA-256 hashes of the secrets, never the secrets; no integer ids
(nothing else refers to these rows, and a hash is never reused).

Revision ID: c9e8a6f0b009
Revises: 3bdde907d77c
Create Date: 2026-12-04 23:30:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c9e8a6f0b009'
down_revision: Union[str, Sequence[str], None] = '3bdde907d77c'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'console_login_tickets',
        sa.Column('ticket_hash', sa.String(length=64), nullable=False),
        sa.Column('browser_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('token_version', sa.Integer(), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'],
            name=op.f('fk_console_login_tickets_user_id_users'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('ticket_hash', name=op.f('pk_console_login_tickets')),
    )
    op.create_index(
        op.f('ix_console_login_tickets_expires_at'), 'console_login_tickets', ['expires_at']
    )
    op.create_table(
        'console_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'],
            name=op.f('fk_console_sessions_user_id_users'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions')),
    )
    op.create_index(op.f('ix_console_sessions_user_id'), 'console_sessions', ['user_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_console_sessions_user_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_index(
        op.f('ix_console_login_tickets_expires_at'), table_name='console_login_tickets'
    )
    op.drop_table('console_login_tickets')
