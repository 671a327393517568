"""media and the volunteer-hours ledger

Revision ID: 39c6dc7ba80c
Revises: 22959b47682b
Create Date: 2026-11-22 04:54:59.037109+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '39c6dc7ba80c'
down_revision: Union[str, Sequence[str], None] = '22959b47682b'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uploader_id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=30), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('phash', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['uploader_id'], ['users.id'], name=op.f('fk_media_uploader_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_media_storage_key'))
    )
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_phash'), ['phash'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_media_uploader_id'), ['uploader_id'], unique=False)

    op.create_table('volunteer_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('activity', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('check_in', 'wish', 'manual')", name=op.f('ck_volunteer_hours_source')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_volunteer_hours_status')),
    sa.CheckConstraint('ended_at > started_at', name=op.f('ck_volunteer_hours_positive_span')),
    sa.CheckConstraint('minutes > 0', name=op.f('ck_volunteer_hours_positive_minutes')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_volunteer_hours_org_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_volunteer_hours_reviewed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_volunteer_hours_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_hours'))
    )
    with op.batch_alter_table('volunteer_hours', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_hours_org_started', ['org_id', 'started_at'], unique=False)
        batch_op.create_index('ix_volunteer_hours_user_started', ['user_id', 'started_at'], unique=False)
        batch_op.create_index('uq_volunteer_hours_source_record', ['source', 'source_id'], unique=True, sqlite_where=sa.text('source_id IS NOT NULL'), postgresql_where=sa.text('source_id IS NOT NULL'))

    op.create_table('media_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=30), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['media_id'], ['media.id'], name=op.f('fk_media_attachments_media_id_media'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_media_attachments')),
    sa.UniqueConstraint('media_id', 'record_type', 'record_id', name=op.f('uq_media_attachments_media_id_record_type_record_id'))
    )
    with op.batch_alter_table('media_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_media_attachments_media_id'), ['media_id'], unique=False)
        batch_op.create_index('ix_media_attachments_record', ['record_type', 'record_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('media_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_media_attachments_record')
        batch_op.drop_index(batch_op.f('ix_media_attachments_media_id'))

    op.drop_table('media_attachments')
    with op.batch_alter_table('volunteer_hours', schema=None) as batch_op:
        batch_op.drop_index('uq_volunteer_hours_source_record', sqlite_where=sa.text('source_id IS NOT NULL'), postgresql_where=sa.text('source_id IS NOT NULL'))
        batch_op.drop_index('ix_volunteer_hours_user_started')
        batch_op.drop_index('ix_volunteer_hours_org_started')

    op.drop_table('volunteer_hours')
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_uploader_id'))
        batch_op.drop_index(batch_op.f('ix_media_sha256'))
        batch_op.drop_index(batch_op.f('ix_media_phash'))

    op.drop_table('media')
