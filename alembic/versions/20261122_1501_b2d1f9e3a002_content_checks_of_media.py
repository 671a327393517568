"""content checks of media

Revision ID: b2d1f9e3a002
Revises: a1c0e8d2f001
Create Date: 2026-11-22 15:01:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b2d1f9e3a002'
down_revision: Union[str, Sequence[str], None] = 'a1c0e8d2f001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Photos stored before checks existed were shown to everyone already: `pass`.
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_status', sa.String(length=10), nullable=False, server_default='pass'))
        batch_op.add_column(sa.Column('check_trace_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('check_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_media_check_status'), ['check_status'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_media_check_trace_id'), ['check_trace_id'])
        batch_op.create_check_constraint(
            op.f('ck_media_check_status'), "check_status IN ('pending', 'pass', 'risky', 'review')"
        )
    # New rows always say where they stand; nothing defaults to shown.
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.alter_column('check_status', existing_type=sa.String(length=10), server_default=None)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_media_check_status'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_media_check_trace_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_media_check_status'))
        batch_op.drop_column('checked_at')
        batch_op.drop_column('check_requested_at')
        batch_op.drop_column('check_trace_id')
        batch_op.drop_column('check_status')
