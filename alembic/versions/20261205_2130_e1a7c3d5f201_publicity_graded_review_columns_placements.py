"""publicity: graded review (importance, urgent), columns (专栏), placements (上稿)

Issue 23. Articles gain `importance` (existing rows `major`: they climbed to the
district, and one in review keeps the ladder it is on), `urgent` and
`review_level_at` (backfilled from `submitted_at` for articles in review). Adding
CHECK constraints rebuilds `articles` on SQLite, which drops its counting triggers:
they are read first and created again after, unchanged, as in d0b2f1a2e019.

Revision ID: e1a7c3d5f201
Revises: c9e8a6f0b009
Create Date: 2026-12-05 21:30:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e1a7c3d5f201'
down_revision: Union[str, Sequence[str], None] = 'c9e8a6f0b009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

IMPORTANCE = "importance IN ('important', 'major', 'routine')"
LEVEL_AT = "status <> 'in_review' OR review_level_at IS NOT NULL"


def _article_columns(batch_op) -> None:
    batch_op.add_column(sa.Column('column_id', sa.Integer(), nullable=True))
    batch_op.create_foreign_key(
        batch_op.f('fk_articles_column_id_article_columns'),
        'article_columns',
        ['column_id'],
        ['id'],
        ondelete='RESTRICT',
    )
    batch_op.create_check_constraint(batch_op.f('ck_articles_importance'), IMPORTANCE)
    batch_op.create_check_constraint(batch_op.f('ck_articles_review_level_at_present'), LEVEL_AT)


def _rebuild_sqlite_articles(change) -> None:
    conn = op.get_bind()
    if conn.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('run this migration with foreign keys off (alembic does)')
    triggers = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'"
    ).scalars().all()
    conn.exec_driver_sql('PRAGMA legacy_alter_table=ON')
    try:
        with op.batch_alter_table(
            'articles', recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ) as batch_op:
            change(batch_op)
        # The counting triggers (app/models/fact_counts.py, "The counting rules").
        for sql in triggers:
            conn.exec_driver_sql(sql)
    finally:
        conn.exec_driver_sql('PRAGMA legacy_alter_table=OFF')


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('article_columns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_article_columns_created_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_article_columns_org_id_orgs'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article_columns')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_article_columns_org_id_name')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_article_columns_org_id'), 'article_columns', ['org_id'], unique=False)

    op.add_column(
        'articles',
        sa.Column('importance', sa.String(length=10), server_default='major', nullable=False),
    )
    op.add_column(
        'articles', sa.Column('urgent', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        'articles', sa.Column('review_level_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE articles SET review_level_at = COALESCE(submitted_at, updated_at)"
        " WHERE status = 'in_review'"
    )
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_articles(_article_columns)
    else:
        with op.batch_alter_table('articles') as batch_op:
            _article_columns(batch_op)
    op.create_index('ix_articles_urgent_status', 'articles', ['urgent', 'status'], unique=False)
    op.create_index(op.f('ix_articles_column_id'), 'articles', ['column_id'], unique=False)
    op.create_table('publicity_weights',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level IN ('central', 'city', 'district', 'provincial')", name=op.f('ck_publicity_weights_level')),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_publicity_weights_weight_not_negative')),
    sa.ForeignKeyConstraint(['district_id'], ['orgs.id'], name=op.f('fk_publicity_weights_district_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_publicity_weights_updated_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_weights')),
    sa.UniqueConstraint('district_id', 'level', name=op.f('uq_publicity_weights_district_id_level')),
    sqlite_autoincrement=True
    )
    op.create_table('placements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('outlet', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'pending') = (verified_by_id IS NULL)", name=op.f('ck_placements_verified_by_present')),
    sa.CheckConstraint("level IN ('central', 'city', 'district', 'provincial')", name=op.f('ck_placements_level')),
    sa.CheckConstraint("status IN ('pending', 'rejected', 'verified')", name=op.f('ck_placements_status')),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name=op.f('fk_placements_article_id_articles'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_placements_org_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_placements_recorded_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_placements_verified_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placements')),
    sa.UniqueConstraint('article_id', 'level', 'outlet', 'published_on', name=op.f('uq_placements_article_id_level_outlet_published_on')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_placements_article_id'), 'placements', ['article_id'], unique=False)
    op.create_index(op.f('ix_placements_org_id'), 'placements', ['org_id'], unique=False)
    op.create_index('ix_placements_status_published_on', 'placements', ['status', 'published_on'], unique=False)

    op.create_table('placement_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('placement_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=True),
    sa.Column('to_status', sa.String(length=10), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('create', 'reject', 'verify')", name=op.f('ck_placement_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_placement_events_actor_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['placement_id'], ['placements.id'], name=op.f('fk_placement_events_placement_id_placements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_events')),
    sqlite_autoincrement=True
    )
    op.create_index(op.f('ix_placement_events_placement_id'), 'placement_events', ['placement_id'], unique=False)



def _drop_article_columns(batch_op) -> None:
    batch_op.drop_constraint(batch_op.f('ck_articles_review_level_at_present'), type_='check')
    batch_op.drop_constraint(batch_op.f('ck_articles_importance'), type_='check')
    batch_op.drop_constraint(batch_op.f('fk_articles_column_id_article_columns'), type_='foreignkey')
    batch_op.drop_column('column_id')
    batch_op.drop_column('review_level_at')
    batch_op.drop_column('urgent')
    batch_op.drop_column('importance')


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('placement_events')
    op.drop_table('placements')
    op.drop_table('publicity_weights')
    op.drop_index(op.f('ix_articles_column_id'), table_name='articles')
    op.drop_index('ix_articles_urgent_status', table_name='articles')
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_articles(_drop_article_columns)
    else:
        with op.batch_alter_table('articles') as batch_op:
            _drop_article_columns(batch_op)
    op.drop_table('article_columns')
