"""Partial indexes for the console's to-do counts

- users (community_id) and (unit_id, community_id) WHERE the person is not bound to
  WeChat: the people an admin reaches who are on the roster without WeChat. Counted
  through the two home indexes, it read every unbound person of the city (33,000 at
  scale 1, ~1,300 buffers, 13-15 ms) whatever the admin's reach. Counted as
  `users.people_in` counts (by community, then by unit alone), each half is read
  from its partial index alone: a district's ~130 buffers.
- volunteer_hours (org_id, user_id) WHERE status = 'pending': the entries awaiting
  an admin's review, which were counted by reading the whole table (200,000 entries
  at scale 1, ~6,400 buffers, 30-40 ms for a district): ~120 buffers. An entry's
  status already names it in an index's condition (the service orders'), so its
  reviews were no HOT updates before either.

They are built inside the migration's transaction, which holds writes to users and
volunteer_hours back while they are built (well under a second each at scale 1).

Revision ID: d1a7c3e5f842
Revises: c8e2d4f6a913
Create Date: 2026-12-06 10:10:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'd1a7c3e5f842'
down_revision: Union[str, Sequence[str], None] = 'c8e2d4f6a913'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# app/models/user.UNBOUND, as of this revision.
UNBOUND = "openid IS NULL AND merged_into_id IS NULL"
PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index(
        'ix_users_unbound_community',
        'users',
        ['community_id'],
        unique=False,
        sqlite_where=sa.text(UNBOUND),
        postgresql_where=sa.text(UNBOUND),
    )
    op.create_index(
        'ix_users_unbound_unit',
        'users',
        ['unit_id', 'community_id'],
        unique=False,
        sqlite_where=sa.text(UNBOUND),
        postgresql_where=sa.text(UNBOUND),
    )
    op.create_index(
        'ix_volunteer_hours_pending',
        'volunteer_hours',
        ['org_id', 'user_id'],
        unique=False,
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index('ix_volunteer_hours_pending', table_name='volunteer_hours')
    op.drop_index('ix_users_unbound_unit', table_name='users')
    op.drop_index('ix_users_unbound_community', table_name='users')
