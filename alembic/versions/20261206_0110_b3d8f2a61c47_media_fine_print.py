"""media.fine_print: a photo's 48 x 48 grey picture for the reused-photo check

Issue 21: two hashes within photo_reuse.MAX_DISTANCE are a reused photo only when
their grey pictures agree too (photo_reuse.FINE_LIMIT); a retake from the same spot
a few percent off is within the 64-bit distance but not the fine one. NULL for
documents, videos and photos uploaded before (their files are not read again here):
those keep the 64-bit rule alone.

Revision ID: b3d8f2a61c47
Revises: a7c5e3f1b920
Create Date: 2026-12-06 01:10:00.000000+00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'b3d8f2a61c47'
down_revision: Union[str, Sequence[str], None] = 'a7c5e3f1b920'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite needs no rebuild of media for it.
    op.add_column('media', sa.Column('fine_print', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(
        'media', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_column('fine_print')
