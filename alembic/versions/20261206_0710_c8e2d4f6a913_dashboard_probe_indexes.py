"""Two indexes for the dashboards' figures (issue 16)

- report_ins (community_id, month, user_id) replaces (community_id, month): the
  pairings' report-ins of a month (members of the paired unit who reported to the
  paired community) are a community's report-ins of the month joined to the unit's
  members, both read from indexes alone. Before, each of the paired units' members
  (1,102 for a district at scale 1) was probed in (user_id, month) and the row read
  for its community: 5 ms of a district's 10. Same number of indexes on report_ins.
- volunteer_hours (org_id, started_at, minutes) WHERE source = 'service_order' AND
  status = 'approved': the teams' minutes of a month without reading the month's other
  hour entries (844 for a district at scale 1).

Both are built inside the migration's transaction, which holds writes to report_ins
and volunteer_hours back while they are built (about a second at scale 1).

Revision ID: c8e2d4f6a913
Revises: b3d8f2a61c47
Create Date: 2026-12-06 07:10:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c8e2d4f6a913'
down_revision: Union[str, Sequence[str], None] = 'b3d8f2a61c47'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SERVICE_ORDERS = "source = 'service_order' AND status = 'approved'"


def upgrade() -> None:
    op.create_index(
        'ix_report_ins_community_month_user',
        'report_ins',
        ['community_id', 'month', 'user_id'],
        unique=False,
    )
    op.drop_index('ix_report_ins_community_month', table_name='report_ins')
    op.create_index(
        'ix_volunteer_hours_service_orders',
        'volunteer_hours',
        ['org_id', 'started_at', 'minutes'],
        unique=False,
        sqlite_where=sa.text(SERVICE_ORDERS),
        postgresql_where=sa.text(SERVICE_ORDERS),
    )


def downgrade() -> None:
    op.drop_index('ix_volunteer_hours_service_orders', table_name='volunteer_hours')
    op.create_index(
        'ix_report_ins_community_month', 'report_ins', ['community_id', 'month'], unique=False
    )
    op.drop_index('ix_report_ins_community_month_user', table_name='report_ins')
