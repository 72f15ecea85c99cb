"""The ledger keeps each exchange's request and response bytes zlib-compressed; entries written
before stay as they are, marked uncompressed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger", sa.Column("compressed", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("ledger", "compressed")
