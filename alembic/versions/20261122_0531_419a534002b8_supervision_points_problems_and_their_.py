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
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
