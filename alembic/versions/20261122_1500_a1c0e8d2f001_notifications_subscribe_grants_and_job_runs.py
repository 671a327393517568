"""notifications, subscribe grants and job runs

Revision ID: a1c0e8d2f001
Revises: 0ba9c38b120b
Create Date: 2026-11-22 15:00:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'a1c0e8d2f001'
down_revision: Union[str, Sequence[str], None] = '0ba9c38b120b'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
