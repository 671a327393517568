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
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
