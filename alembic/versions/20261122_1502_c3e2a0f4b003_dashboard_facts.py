"""dashboard facts

Revision ID: c3e2a0f4b003
Revises: b2d1f9e3a002
Create Date: 2026-11-22 15:02:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'c3e2a0f4b003'
down_revision: Union[str, Sequence[str], None] = 'b2d1f9e3a002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
