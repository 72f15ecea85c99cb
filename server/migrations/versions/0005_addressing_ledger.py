"""The ledger records each exchange's WS-Addressing identifiers: the request's MessageID and
RelatesTo, and the MessageID of the reply; entries written before have none.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("message_id", "relates_to", "reply_message_id")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("ledger", sa.Column(name, sa.String(512), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("ledger", name)
