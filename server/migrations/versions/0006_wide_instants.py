"""Instants are stored as 64-bit seconds, so a delivery interval after 2038-01-19 or before
1901-12-13 fits on PostgreSQL, whose INTEGER is 32 bits. SQLite stored 64 bits already; its
tables are rebuilt (alembic's batch mode) so that their declared types match.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = {
    "tenders": ("start_s", "end_s", "expires_s"),
    "quotes": ("start_s", "end_s"),
    "transactions": ("start_s", "end_s"),
    "deliveries": ("start_s", "end_s"),
    "balancing_prices": ("start_s", "end_s"),
}


def _retype(old: type[sa.types.TypeEngine], new: type[sa.types.TypeEngine]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=new(), existing_type=old())


def upgrade() -> None:
    _retype(sa.Integer, sa.BigInteger)


def downgrade() -> None:
    _retype(sa.BigInteger, sa.Integer)
