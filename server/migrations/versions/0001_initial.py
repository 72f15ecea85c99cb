"""The first schema: market contexts, groups, tenders, quotes, transactions, deliveries,
balancing prices, idempotency records and the append-only ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "the ledger is append-only"


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "market_contexts",
        sa.Column("uri", sa.String(2048), primary_key=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", _instant(), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(512), primary_key=True),
        sa.Column("party_id", sa.String(512), primary_key=True),
    )
    op.create_table(
        "tenders",
        sa.Column("tender_id", sa.String(512), primary_key=True),
        sa.Column("author", sa.String(512), nullable=False, index=True),
        sa.Column("offered_to", sa.Text, nullable=True),
        sa.Column("market_context", sa.String(2048), nullable=False, index=True),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start_s", sa.Integer, nullable=False),
        sa.Column("end_s", sa.Integer, nullable=False),
        sa.Column("remaining", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
    )
    op.create_table(
        "quotes",
        sa.Column("quote_id", sa.String(512), primary_key=True),
        sa.Column("publisher", sa.String(512), nullable=False, index=True),
        sa.Column("subscriber", sa.String(512), nullable=False),
        sa.Column("market_contexts", sa.Text, nullable=False),
        sa.Column("start_s", sa.Integer, nullable=False),
        sa.Column("end_s", sa.Integer, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(512), primary_key=True),
        sa.Column("buyer", sa.String(512), nullable=False, index=True),
        sa.Column("seller", sa.String(512), nullable=False, index=True),
        sa.Column("tender_id", sa.String(512), nullable=True, index=True),
        sa.Column("related_to", sa.String(512), nullable=True, index=True),
        sa.Column("market_context", sa.String(2048), nullable=False, index=True),
        sa.Column("start_s", sa.Integer, nullable=False),
        sa.Column("end_s", sa.Integer, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.String(512), primary_key=True),
        sa.Column("party_id", sa.String(512), nullable=False, index=True),
        sa.Column("market_contexts", sa.Text, nullable=False),
        sa.Column("start_s", sa.Integer, nullable=False),
        sa.Column("end_s", sa.Integer, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
    )
    op.create_table(
        "balancing_prices",
        sa.Column("market_context", sa.String(2048), primary_key=True),
        sa.Column("location_id", sa.String(512), primary_key=True),
        sa.Column("start_s", sa.Integer, primary_key=True),
        sa.Column("end_s", sa.Integer, primary_key=True),
        sa.Column("price", sa.String(64), nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("party_id", sa.String(512), primary_key=True),
        sa.Column("request_id", sa.String(512), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("payload_digest", sa.String(64), nullable=False),
        sa.Column("reply", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", _instant(), nullable=False, index=True),
        sa.Column("sent_at", _instant(), nullable=False),
        sa.Column("operation", sa.String(64), nullable=True, index=True),
        sa.Column("party_id", sa.String(512), nullable=True, index=True),
        sa.Column("counterparty_id", sa.String(512), nullable=True),
        sa.Column("request_id", sa.String(512), nullable=True),
        sa.Column("verification", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("remote_address", sa.String(128), nullable=True),
        sa.Column("request", sa.LargeBinary, nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION temix_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger "
            "FOR EACH ROW EXECUTE FUNCTION temix_ledger_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_no_{event.lower()} BEFORE {event} ON ledger "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_append_only ON ledger")
        op.execute("DROP FUNCTION temix_ledger_append_only()")
    for table in (
        "ledger",
        "requests",
        "balancing_prices",
        "deliveries",
        "transactions",
        "quotes",
        "tenders",
        "group_members",
        "market_contexts",
    ):
        op.drop_table(table)
