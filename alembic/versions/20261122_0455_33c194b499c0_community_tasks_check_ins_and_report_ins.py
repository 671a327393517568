"""community tasks, check-ins and report-ins

Revision ID: 33c194b499c0
Revises: 39c6dc7ba80c
Create Date: 2026-11-22 04:55:01.906321+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '33c194b499c0'
down_revision: Union[str, Sequence[str], None] = '39c6dc7ba80c'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
