"""Indexes for a party's queries over a period and for the listing of standing tenders, and a
tender's expiry as a column, filled from the stored documents.

Each composite index ends in ``end_s, start_s``: most stored rows end before the period asked
for, so a scan from its start reads only what could overlap it. The single-column indexes it
replaces are prefixes of a composite one.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from temix.codec import decode_item
from temix.server.store import StoredXml

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 1000
"""Tenders decoded per round trip when filling in their expiry."""

INDEXES = (
    ("ix_tenders_status_expires_s", "tenders", ("status", "expires_s")),
    (
        "ix_transactions_buyer_period",
        "transactions",
        ("buyer", "market_context", "end_s", "start_s"),
    ),
    (
        "ix_transactions_seller_period",
        "transactions",
        ("seller", "market_context", "end_s", "start_s"),
    ),
    ("ix_transactions_market_period", "transactions", ("market_context", "end_s", "start_s")),
    ("ix_deliveries_party_period", "deliveries", ("party_id", "end_s", "start_s")),
    (
        "ix_balancing_prices_period",
        "balancing_prices",
        ("market_context", "location_id", "end_s", "start_s"),
    ),
)

REPLACED = (
    ("ix_tenders_status", "tenders", ("status",)),
    ("ix_transactions_buyer", "transactions", ("buyer",)),
    ("ix_transactions_seller", "transactions", ("seller",)),
    ("ix_transactions_market_context", "transactions", ("market_context",)),
    ("ix_deliveries_party_id", "deliveries", ("party_id",)),
)

_tenders = sa.table(
    "tenders",
    sa.column("tender_id", sa.String),
    sa.column("document", StoredXml),
    sa.column("expires_s", sa.Integer),
)


def _fill_expiry() -> None:
    """Set ``expires_s`` from each stored tender's document, a batch at a time in the order of
    the tender ids, so that memory stays flat however many tenders are stored."""
    connection = op.get_bind()
    fill = (
        sa.update(_tenders)
        .where(_tenders.c.tender_id == sa.bindparam("key"))
        .values(expires_s=sa.bindparam("expiry"))
    )
    batch = sa.select(_tenders.c.tender_id, _tenders.c.document).order_by(_tenders.c.tender_id)
    last = None
    while True:
        after = batch if last is None else batch.where(_tenders.c.tender_id > last)
        rows = connection.execute(after.limit(BATCH)).all()
        if not rows:
            return
        expiries = []
        for row in rows:
            expires = decode_item(row.document).product.expires
            if expires is not None:
                expiries.append({"key": row.tender_id, "expiry": int(expires.timestamp())})
        if expiries:
            connection.execute(fill, expiries)
        last = rows[-1].tender_id


def upgrade() -> None:
    op.add_column("tenders", sa.Column("expires_s", sa.Integer, nullable=True))
    _fill_expiry()
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns))


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    for name, table, columns in REPLACED:
        op.create_index(name, table, list(columns))
    op.drop_column("tenders", "expires_s")
