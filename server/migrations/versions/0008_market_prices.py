"""Balancing prices and index prices in one table, ``market_prices``, told apart by ``kind``:
index prices cash out financial (cash-settled) positions as balancing prices settle metered
imbalances. The balancing prices already loaded move over with kind ``balancing``.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_URI_WIDTH = 2048
_ID_WIDTH = 512


def upgrade() -> None:
    op.create_table(
        "market_prices",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("market_context", sa.String(_URI_WIDTH), primary_key=True),
        sa.Column("location_id", sa.String(_ID_WIDTH), primary_key=True),
        sa.Column("start_s", sa.BigInteger, primary_key=True),
        sa.Column("end_s", sa.BigInteger, primary_key=True),
        sa.Column("price", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_market_prices_period",
        "market_prices",
        ["kind", "market_context", "location_id", "end_s", "start_s"],
    )
    op.execute(
        "INSERT INTO market_prices (kind, market_context, location_id, start_s, end_s, price) "
        "SELECT 'balancing', market_context, location_id, start_s, end_s, price "
        "FROM balancing_prices"
    )
    op.drop_table("balancing_prices")


def downgrade() -> None:
    op.create_table(
        "balancing_prices",
        sa.Column("market_context", sa.String(_URI_WIDTH), primary_key=True),
        sa.Column("location_id", sa.String(_ID_WIDTH), primary_key=True),
        sa.Column("start_s", sa.BigInteger, primary_key=True),
        sa.Column("end_s", sa.BigInteger, primary_key=True),
        sa.Column("price", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_balancing_prices_period",
        "balancing_prices",
        ["market_context", "location_id", "end_s", "start_s"],
    )
    op.execute(
        "INSERT INTO balancing_prices (market_context, location_id, start_s, end_s, price) "
        "SELECT market_context, location_id, start_s, end_s, price "
        "FROM market_prices WHERE kind = 'balancing'"
    )
    op.drop_table("market_prices")
