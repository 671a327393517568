"""articles and their review history

Revision ID: 0c89dfc8f65b
Revises: 419a534002b8
Create Date: 2026-11-22 05:32:32.689952+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0c89dfc8f65b'
down_revision: Union[str, Sequence[str], None] = '419a534002b8'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('review_org_id', sa.Integer(), nullable=True),
    sa.Column('content_flagged', sa.Boolean(), nullable=False),
    sa.Column('needs_human_review', sa.Boolean(), nullable=False),
    sa.Column('first_submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'in_review') = (review_org_id IS NOT NULL)", name=op.f('ck_articles_review_level_in_review')),
    sa.CheckConstraint("status <> 'published' OR published_at IS NOT NULL", name=op.f('ck_articles_published_at_present')),
    sa.CheckConstraint("status IN ('draft', 'in_review', 'published', 'returned')", name=op.f('ck_articles_status')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_articles_author_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_articles_org_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['review_org_id'], ['orgs.id'], name=op.f('fk_articles_review_org_id_orgs'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_articles'))
    )
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_articles_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_articles_first_submitted_at', ['first_submitted_at'], unique=False)
        batch_op.create_index('ix_articles_org_status', ['org_id', 'status'], unique=False)
        batch_op.create_index('ix_articles_published_at', ['published_at'], unique=False)
        batch_op.create_index('ix_articles_review_org_id', ['review_org_id'], unique=False)

    op.create_table('article_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('level_org_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('approve', 'create', 'edit', 'return', 'submit')", name=op.f('ck_article_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_article_events_actor_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_article_events_article_id_articles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['level_org_id'], ['orgs.id'], name=op.f('fk_article_events_level_org_id_orgs'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article_events'))
    )
    with op.batch_alter_table('article_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_events_article_id'), ['article_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('article_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_events_article_id'))

    op.drop_table('article_events')
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_index('ix_articles_review_org_id')
        batch_op.drop_index('ix_articles_published_at')
        batch_op.drop_index('ix_articles_org_status')
        batch_op.drop_index('ix_articles_first_submitted_at')
        batch_op.drop_index(batch_op.f('ix_articles_author_id'))

    op.drop_table('articles')
