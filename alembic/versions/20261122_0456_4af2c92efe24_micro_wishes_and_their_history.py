"""micro-wishes and their history

Revision ID: 4af2c92efe24
Revises: 33c194b499c0
Create Date: 2026-11-22 04:56:03.618181+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '4af2c92efe24'
down_revision: Union[str, Sequence[str], None] = '33c194b499c0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('wishes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('beneficiary_name', sa.String(length=50), nullable=False),
    sa.Column('beneficiary_phone_cipher', sa.Text(), nullable=True),
    sa.Column('beneficiary_phone_masked', sa.String(length=11), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('claimed_by_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fulfil_note', sa.Text(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('cancelled', 'claimed', 'confirmed', 'fulfilled', 'open', 'pending_review', 'rejected')", name=op.f('ck_wishes_status')),
    sa.CheckConstraint("status NOT IN ('claimed', 'confirmed', 'fulfilled') OR claimed_by_id IS NOT NULL", name=op.f('ck_wishes_claimant_present')),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['users.id'], name=op.f('fk_wishes_claimed_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['community_id'], ['orgs.id'], name=op.f('fk_wishes_community_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_wishes_created_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wishes'))
    )
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.create_index('ix_wishes_claimed_by_status', ['claimed_by_id', 'status'], unique=False)
        batch_op.create_index('ix_wishes_community_status', ['community_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_wishes_created_by_id'), ['created_by_id'], unique=False)

    op.create_table('wish_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wish_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('approve', 'cancel', 'claim', 'confirm', 'create', 'fulfill', 'reject', 'release')", name=op.f('ck_wish_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_wish_events_actor_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['wish_id'], ['wishes.id'], name=op.f('fk_wish_events_wish_id_wishes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wish_events'))
    )
    with op.batch_alter_table('wish_events', schema=None) as batch_op:
        batch_op.create_index('ix_wish_events_actor_action_at', ['actor_id', 'action', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wish_events_wish_id'), ['wish_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('wish_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wish_events_wish_id'))
        batch_op.drop_index('ix_wish_events_actor_action_at')

    op.drop_table('wish_events')
    with op.batch_alter_table('wishes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wishes_created_by_id'))
        batch_op.drop_index('ix_wishes_community_status')
        batch_op.drop_index('ix_wishes_claimed_by_status')

    op.drop_table('wishes')
