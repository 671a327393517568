"""supervision: points, problems and their history

Revision ID: 419a534002b8
Revises: 4af2c92efe24
Create Date: 2026-11-22 05:31:32.159427+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '419a534002b8'
down_revision: Union[str, Sequence[str], None] = '4af2c92efe24'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('responsible_user_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('back_street', 'bus_stop', 'compound', 'construction_site', 'hospital', 'main_road', 'market', 'other', 'public_toilet', 'school_surroundings', 'square', 'station')", name=op.f('ck_points_kind')),
    sa.CheckConstraint('lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180', name=op.f('ck_points_location')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_points_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_points_org_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['responsible_user_id'], ['users.id'], name=op.f('fk_points_responsible_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points'))
    )
    op.create_index('ix_points_org_kind', 'points', ['org_id', 'kind'], unique=False)
    op.create_table('problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('point_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reported_by_id', sa.Integer(), nullable=False),
    sa.Column('rectified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rectify_note', sa.Text(), nullable=True),
    sa.Column('rectified_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("category IN ('facilities', 'food_safety', 'greening', 'illegal_ads', 'illegal_parking', 'other', 'publicity', 'sanitation', 'street_vending', 'traffic_order', 'uncivil_behaviour')", name=op.f('ck_problems_category')),
    sa.CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name=op.f('ck_problems_closed_at_present')),
    sa.CheckConstraint("status IN ('closed', 'open', 'rectified')", name=op.f('ck_problems_status')),
    sa.CheckConstraint('(lat IS NULL AND lng IS NULL) OR (lat IS NOT NULL AND lng IS NOT NULL)', name=op.f('ck_problems_location_complete')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_problems_org_id_orgs'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['point_id'], ['points.id'], name=op.f('fk_problems_point_id_points'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['rectified_by_id'], ['users.id'], name=op.f('fk_problems_rectified_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reported_by_id'], ['users.id'], name=op.f('fk_problems_reported_by_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problems'))
    )
    op.create_index('ix_problems_created_at', 'problems', ['created_at'], unique=False)
    op.create_index('ix_problems_org_status', 'problems', ['org_id', 'status'], unique=False)
    op.create_index(op.f('ix_problems_point_id'), 'problems', ['point_id'], unique=False)
    op.create_index('ix_problems_status_deadline_at', 'problems', ['status', 'deadline_at'], unique=False)
    op.create_table('problem_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('close', 'create', 'rectify', 'reopen')", name=op.f('ck_problem_events_action')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_problem_events_actor_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], name=op.f('fk_problem_events_problem_id_problems'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problem_events'))
    )
    op.create_index('ix_problem_events_action_at', 'problem_events', ['action', 'at'], unique=False)
    op.create_index(op.f('ix_problem_events_problem_id'), 'problem_events', ['problem_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_problem_events_problem_id'), table_name='problem_events')
    op.drop_index('ix_problem_events_action_at', table_name='problem_events')
    op.drop_table('problem_events')
    op.drop_index('ix_problems_status_deadline_at', table_name='problems')
    op.drop_index(op.f('ix_problems_point_id'), table_name='problems')
    op.drop_index('ix_problems_org_status', table_name='problems')
    op.drop_index('ix_problems_created_at', table_name='problems')
    op.drop_table('problems')
    op.drop_index('ix_points_org_kind', table_name='points')
    op.drop_table('points')
