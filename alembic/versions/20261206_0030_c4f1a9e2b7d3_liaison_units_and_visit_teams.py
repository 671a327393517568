"""liaison units and visit teams

Issues 18 and 21. liaisons: a unit may be the liaison party instead of a leader
(`unit_id`, exactly one of `user_id` and `unit_id`: CHECK one_party); inspections:
the supervision team a visit was made for (`team_id`, nullable).

Revision ID: c4f1a9e2b7d3
Revises: a7c41e9d2b15
Create Date: 2026-12-06 00:30:00+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c4f1a9e2b7d3'
down_revision: Union[str, Sequence[str], None] = 'a7c41e9d2b15'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Both tables keep AUTOINCREMENT when SQLite rebuilds them (ids are never reused).
    with op.batch_alter_table(
        'liaisons', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_liaisons_unit_id'), ['unit_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_liaisons_unit_id_orgs'), 'orgs', ['unit_id'], ['id'], ondelete='RESTRICT'
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_liaisons_one_party'), '(user_id IS NULL) <> (unit_id IS NULL)'
        )
    with op.batch_alter_table(
        'inspections', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_inspections_team_id_inspection_teams'),
            'inspection_teams',
            ['team_id'],
            ['id'],
            ondelete='RESTRICT',
        )


def downgrade() -> None:
    with op.batch_alter_table(
        'inspections', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_inspections_team_id_inspection_teams'), type_='foreignkey'
        )
        batch_op.drop_column('team_id')
    # A unit's liaisons have no leader to keep: they go with the column.
    op.execute("DELETE FROM liaisons WHERE user_id IS NULL")
    with op.batch_alter_table(
        'liaisons', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_liaisons_one_party'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_liaisons_unit_id_orgs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_liaisons_unit_id'))
        batch_op.drop_column('unit_id')
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
