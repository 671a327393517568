"""content checks of media

Revision ID: b2d1f9e3a002
Revises: a1c0e8d2f001
Create Date: 2026-11-22 15:01:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b2d1f9e3a002'
down_revision: Union[str, Sequence[str], None] = 'a1c0e8d2f001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
