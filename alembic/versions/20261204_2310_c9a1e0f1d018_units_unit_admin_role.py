"""units: the role unit_admin (a unit's party secretary)

Issue 18. role_grants' CHECK on role gains 'unit_admin'. On SQLite a CHECK changes
only with a rebuild of the table (batch mode), which keeps AUTOINCREMENT (ids are
never reused, b8d7f5e9a008); role_grants has no triggers to restore.

Revision ID: c9a1e0f1d018
Revises: b8d7f5e9a008
Create Date: 2026-12-04 23:10:00.000000+00:00

"""

from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "c9a1e0f1d018"
down_revision: Union[str, Sequence[str], None] = "b8d7f5e9a008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ROLES = "'district_admin', 'street_admin', 'community_admin', 'inspector', 'info_officer'"


def _roles(allowed: str) -> None:
    with op.batch_alter_table(
        "role_grants", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_role_grants_role"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_role_grants_role"), f"role IN ({allowed})")


def upgrade() -> None:
    """Upgrade schema."""
    _roles(ROLES + ", 'unit_admin'")


def downgrade() -> None:
    """Downgrade schema. Fails while anyone holds unit_admin: revoke it first."""
    _roles(ROLES)
