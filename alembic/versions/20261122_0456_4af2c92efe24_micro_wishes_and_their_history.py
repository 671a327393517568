"""micro-wishes and their history

Revision ID: 4af2c92efe24
Revises: 33c194b499c0
Create Date: 2026-11-22 04:56:03.618181+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '4af2c92efe24'
down_revision: Union[str, Sequence[str], None] = '33c194b499c0'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
